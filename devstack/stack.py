"""The stack the production way (Procfile): gunicorn (one pool, or the lobby and booking lanes
behind nginx), Celery worker and beat, the emulator; each on loopback, stopped on exit."""

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devstack.emulator import Emulator
from devstack.pgbouncer import PgBouncer
from devstack.ports import free_port
from devstack.processes import GUNICORN, PY, Service, process
from devstack.redis_cluster import RedisClusterProcesses
from devstack.waits import answers, wait_for, wait_http

ALL_QUEUES = "default,confirmations,emails,reconciliation"


@contextmanager
def web_server(env: dict[str, str], logs: Path, *, port: int | None = None, workers: int = 2, threads: int = 8):
    """gunicorn as Procfile's web runs it (one plain pool, no lanes); yields its URL once it answers."""
    port = port or free_port()
    pool_env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads)}
    with process("gunicorn", GUNICORN, pool_env, logs) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", timeout=30, process=proc)
        yield url


@dataclass
class Front:
    url: str
    lobby: subprocess.Popen | None  # None when one shared pool serves both lanes
    nginx_dir: Path
    # Each lane's web nodes (gunicorn masters), in order: "lobby" and "booking" (or "shared").
    nodes: dict[str, list[subprocess.Popen]] = field(default_factory=dict)


@contextmanager
def front(
    env: dict[str, str],
    logs: Path,
    *,
    port: int | None = None,
    lobby_port: int | None = None,
    booking_port: int | None = None,
    shared_pool: bool = False,
    lobby: tuple[int, int] | None = None,
    booking: tuple[int, int] | None = None,
    access_logs: bool = False,
    nginx: dict[str, str] | None = None,
    nodes: int = 1,
) -> Iterator[Front]:
    """The production front on loopback: nginx (scripts/nginx.sh, the repo's config) before the
    two gunicorn lanes, lobby and booking. Each lane is sized by `lobby`/`booking` (processes,
    threads) or else by env's LOBBY_*/BOOKING_* settings (gunicorn.conf.py). With shared_pool,
    the control: one pool of both lanes' size serves both. With `nodes`, each lane runs that many
    web nodes (gunicorn masters on ports of their own) behind nginx. Yields once every node answers."""
    port, lobby_port, booking_port = port or free_port(), lobby_port or free_port(), booking_port or free_port()
    # Node n of a lane listens on its own port: the first on the given one, the others on free ones.
    lobby_ports = [lobby_port] + [free_port() for _ in range(nodes - 1)]
    booking_ports = [booking_port] + [free_port() for _ in range(nodes - 1)]

    def lane(name: str, size: tuple[int, int] | None, node: int = 0) -> dict[str, str]:
        upper = name.upper()
        sized = {f"{upper}_CONCURRENCY": str(size[0]), f"{upper}_THREADS": str(size[1])} if size else {}
        tag = "shared" if shared_pool else name + (f"-{node + 1}" if node else "")
        logged = {"GUNICORN_ACCESS_LOG": str(logs / f"{tag}-access.log")}
        ports = {"LOBBY_PORT": str(lobby_ports[node]), "BOOKING_PORT": str(booking_ports[node])}
        return {**env, **ports, "SURGE_LANE": name, **sized, **(logged if access_logs else {})}

    def node_name(name: str, node: int) -> str:
        return name + (f"-{node + 1}" if node else "")

    with ExitStack() as stack:
        lobby_process = None
        started: dict[str, list[subprocess.Popen]] = {}
        if shared_pool:
            both = (lobby or (1, 8), booking or (1, 4))
            size = (both[0][0] + both[1][0], max(both[0][1], both[1][1]))
            started["shared"] = [stack.enter_context(process("shared", GUNICORN, lane("booking", size), logs))]
            lobby_ports = booking_ports = booking_ports[:1]
        else:
            for name, size in (("lobby", lobby), ("booking", booking)):
                started[name] = [
                    stack.enter_context(process(node_name(name, n), GUNICORN, lane(name, size, n), logs))
                    for n in range(nodes)
                ]
            lobby_process = started["lobby"][0]
        nginx_dir = logs / "nginx"
        nginx_env = {
            **env,
            "SURGE_NGINX_DIR": str(nginx_dir),
            "SURGE_FRONT_LISTEN": f"127.0.0.1:{port}",
            "SURGE_LOBBY_UPSTREAM": " ".join(f"127.0.0.1:{p}" for p in lobby_ports),
            "SURGE_BOOKING_UPSTREAM": " ".join(f"127.0.0.1:{p}" for p in booking_ports),
            **(nginx or {}),
        }
        nginx_process = stack.enter_context(process("nginx", ["bash", "scripts/nginx.sh", "run"], nginx_env, logs))
        url = f"http://127.0.0.1:{port}"
        # /readyz is served by the booking lane: both lanes are up (every node: each is asked directly).
        wait_for(
            lambda: (
                answers(f"{url}/healthz", timeout=1)
                and answers(f"{url}/readyz", timeout=1)
                and all(answers(f"http://127.0.0.1:{p}/healthz", timeout=1) for p in lobby_ports + booking_ports)
            ),
            timeout=40,
            interval=0.3,
            what="the front",
            process=nginx_process,
        )
        yield Front(url, lobby_process, nginx_dir, started)


def celery_command(*, concurrency: int | None, queues: str, loglevel: str, beat_schedule: Path | None) -> list[str]:
    """A worker's command line: prefork with concurrency children, or solo (None); with beat
    embedded when given its schedule file."""
    cmd = [PY, "-m", "celery", "-A", "booking_site", "worker", "--loglevel", loglevel, "-Q", queues]
    cmd += ["--concurrency", str(concurrency)] if concurrency else ["-P", "solo"]
    cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat_schedule is not None:
        cmd += ["-B", "--schedule", str(beat_schedule)]
    return cmd


@contextmanager
def celery_worker(
    env: dict[str, str],
    logs: Path,
    *,
    concurrency: int | None = None,
    queues: str = ALL_QUEUES,
    loglevel: str = "INFO",
    beat_schedule: Path | None = None,
    name: str = "celery",
) -> Iterator[subprocess.Popen]:
    """A real `celery worker` (Procfile's worker), stopped on exit."""
    cmd = celery_command(concurrency=concurrency, queues=queues, loglevel=loglevel, beat_schedule=beat_schedule)
    with process(name, cmd, env, logs) as proc:
        yield proc


@contextmanager
def celery_beat(env: dict[str, str], logs: Path, *, loglevel: str = "WARNING") -> Iterator[subprocess.Popen]:
    """Procfile's beat: the periodic tasks (expiry sweep, reconciliation, admissions)."""
    cmd = [PY, "-m", "celery", "-A", "booking_site", "beat", "--loglevel", loglevel]
    cmd += ["--schedule", str(logs / "beat-schedule")]
    with process("beat", cmd, env, logs) as proc:
        yield proc


@dataclass
class Stack:
    url: str  # the front (nginx)
    emulator: str
    front: Front
    worker: Service  # the Celery worker, which a fault may kill and start again
    emulator_server: Emulator  # the emulator's process, which a fault may pause
    # The scale-out topology's shared parts (devstack.topology), which a fault may kill or restart.
    redis_cluster: RedisClusterProcesses | None = None
    pgbouncer: PgBouncer | None = None


@contextmanager
def full_stack(
    env: dict[str, str],
    logs: Path,
    *,
    port: int,
    emulator_port: int,
    lobby_port: int,
    booking_port: int,
    emulator_env: dict[str, str] | None = None,
    celery_concurrency: int = 2,
    nodes: int = 1,
    celery_workers: int = 1,
) -> Iterator[Stack]:
    """Everything Procfile runs, on local ports: the emulator, Celery workers and one beat, and the
    front (nginx before both lanes, `nodes` web nodes each). env must already point the product at
    the emulator (RAZORPAY_API_URL) and the emulator's webhooks at the front; emulator_env (its own
    Redis db) defaults to env."""
    with ExitStack() as stack:
        emulator = Emulator(emulator_env or env, logs / "emulator.log", port=emulator_port, args=["--workers", "1"])
        stack.enter_context(emulator)
        worker_cmd = celery_command(
            concurrency=celery_concurrency, queues=ALL_QUEUES, loglevel="WARNING", beat_schedule=None
        )
        workers = [
            stack.enter_context(Service("worker" + (f"-{n + 1}" if n else ""), worker_cmd, env, logs))
            for n in range(celery_workers)
        ]
        stack.enter_context(celery_beat(env, logs))
        the_front = stack.enter_context(
            front(env, logs, port=port, lobby_port=lobby_port, booking_port=booking_port, nodes=nodes)
        )
        yield Stack(the_front.url, emulator.url, the_front, workers[0], emulator)
