"""Start the real processes of the product (Celery worker, beat) against the test database."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.common import process

ROOT = Path(__file__).resolve().parent.parent


def product_env(**extra: str) -> dict[str, str]:
    """The environment a product process needs to share this test run's PostgreSQL database and Redis."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "booking_site.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DB_POOL_MAX": "4",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


@contextmanager
def celery_worker(*, beat: bool = False, queues: str | None = None, tmp_path: Path, **env: str):
    """A real `celery worker` subprocess (with embedded beat if asked); stopped on exit."""
    log = open(tmp_path / "celery.log", "w")  # noqa: SIM115 - closed below
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "booking_site",
        "worker",
        "-P",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    cmd += ["-Q", queues or settings.CELERY_QUEUES_ALL]
    if beat:
        cmd += ["-B", "--schedule", str(tmp_path / "beat-schedule")]
    process = subprocess.Popen(cmd, cwd=ROOT, env=product_env(**env), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


GUNICORN = [sys.executable, "-m", "gunicorn", "booking_site.wsgi", "--config", "booking_site/gunicorn.conf.py"]


@contextmanager
def web_server(*, tmp_path: Path, workers: int = 2, threads: int = 8, **env: str):
    """gunicorn the production way (one plain pool, no lanes), on a free port, against the test database."""
    import httpx

    port = free_port()
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=product_env(), check=True
    )
    pool_env = product_env(BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads), **env)
    with _process(GUNICORN, env=pool_env, log_path=tmp_path / "gunicorn.log"):
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(httpx, url), timeout=30, what="gunicorn")
        yield url


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process(cmd: list[str], *, env: dict[str, str], log_path: Path):
    """A product process with its output in log_path (the benchmarks' own helper: one way to run one)."""
    return process(log_path.stem, cmd, env, log_path.parent)


@dataclass
class Front:
    url: str
    lobby: subprocess.Popen | None
    nginx_dir: Path


@contextmanager
def front_stack(*, tmp_path: Path, shared_pool: bool = False, lobby=(1, 8), booking=(1, 4), nginx=None, **env: str):
    """The production front: nginx (scripts/nginx.sh, the repo's config) in front of two gunicorn
    pools (lobby and booking lanes) on free ports, against the test database. With shared_pool,
    the control: one pool of the same total size serves both lanes."""
    from contextlib import ExitStack

    import httpx

    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=product_env(), check=True
    )
    front_port, lobby_port, booking_port = free_port(), free_port(), free_port()
    nginx_dir = tmp_path / "nginx"
    lane_env = {"LOBBY_PORT": str(lobby_port), "BOOKING_PORT": str(booking_port), **env}
    with ExitStack() as stack:
        lobby_process = None
        if shared_pool:
            both = (lobby[0] + booking[0], max(lobby[1], booking[1]))
            stack.enter_context(
                _process(
                    GUNICORN,
                    env=product_env(SURGE_LANE="booking", BOOKING_CONCURRENCY=str(both[0]),
                                    BOOKING_THREADS=str(both[1]), GUNICORN_ACCESS_LOG=str(tmp_path / "shared-access.log"),
                                    **lane_env),
                    log_path=tmp_path / "shared.log",
                )
            )
            lobby_port = booking_port
        else:
            lobby_process = stack.enter_context(
                _process(
                    GUNICORN,
                    env=product_env(SURGE_LANE="lobby", LOBBY_CONCURRENCY=str(lobby[0]),
                                    LOBBY_THREADS=str(lobby[1]), GUNICORN_ACCESS_LOG=str(tmp_path / "lobby-access.log"),
                                    **lane_env),
                    log_path=tmp_path / "lobby.log",
                )
            )
            stack.enter_context(
                _process(
                    GUNICORN,
                    env=product_env(SURGE_LANE="booking", BOOKING_CONCURRENCY=str(booking[0]),
                                    BOOKING_THREADS=str(booking[1]), GUNICORN_ACCESS_LOG=str(tmp_path / "booking-access.log"),
                                    **lane_env),
                    log_path=tmp_path / "booking.log",
                )
            )
        nginx_env = {
            **os.environ,
            "SURGE_NGINX_DIR": str(nginx_dir),
            "SURGE_FRONT_LISTEN": f"127.0.0.1:{front_port}",
            "SURGE_LOBBY_UPSTREAM": f"127.0.0.1:{lobby_port}",
            "SURGE_BOOKING_UPSTREAM": f"127.0.0.1:{booking_port}",
            "SURGE_NGINX_WORKERS": "1",
            **(nginx or {}),
        }
        stack.enter_context(_process(["bash", "scripts/nginx.sh", "run"], env=nginx_env, log_path=tmp_path / "nginx.log"))
        url = f"http://127.0.0.1:{front_port}"
        wait_for(lambda: _answers(httpx, url) and _answers(httpx, url, "/readyz"), timeout=40, what="the front")
        yield Front(url, lobby_process, nginx_dir)


def _answers(httpx, url: str, path: str = "/healthz") -> bool:
    try:
        return httpx.get(url + path, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
