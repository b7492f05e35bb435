"""Product processes: started from the repository, their output in a log file, stopped on exit."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GUNICORN = [PY, "-m", "gunicorn", "booking_site.wsgi", "--config", "booking_site/gunicorn.conf.py"]


@contextmanager
def process(name: str, cmd: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen]:
    """A process of the stack, its output in logs/<name>.log; terminated (then killed) on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate, and kill what does not exit within timeout."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def descendants(pid: int) -> list[int]:
    """Every process below pid (children first, then theirs), from /proc: a prefork worker or a
    gunicorn master is a tree, and a fault hits the whole tree as a machine's failure would."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [int(child) for child in children.read().split()]
        except OSError:
            continue
    return found + [grandchild for child in list(found) for grandchild in descendants(child)]


def signal_tree(proc: subprocess.Popen | int, sig: signal.Signals) -> list[int]:
    """Send sig to proc (a Popen or a pid) and every process below it (collected first, so that a
    kill cannot let the tree re-parent and escape); the pids signalled."""
    root = proc if isinstance(proc, int) else proc.pid
    pids = [root, *descendants(root)]
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


class Service:
    """A process of the stack that a fault may kill and that is started again with the same
    command: its output appended to logs/<name>.log across restarts, stopped on exit."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logs: Path):
        self.name, self.cmd, self.env, self.logs = name, cmd, env, logs
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Service":
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{self.name}.log", "ab" if self.proc else "wb") as log:  # a restart appends
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> list[int]:
        """SIGKILL the process and its children at once (a crash: nothing is acknowledged or
        cleaned up); the pids killed."""
        pids = signal_tree(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return pids

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def __enter__(self) -> "Service":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ManageFailed(RuntimeError):
    """A set-up command failed: its output says why."""


def manage(*args: str, env: dict[str, str]) -> str:
    """`manage.py <args>` as an operator runs it for set-up; its output. A failure raises, with
    both streams."""
    done = run_manage(*args, env=env)
    if done.returncode:
        raise ManageFailed(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`manage.py <args>`, whatever its exit status (an audit's is its verdict)."""
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def ensure_database(env: dict[str, str], *, fresh: bool = False) -> None:
    """The env's PostgreSQL database, created (dropped first if fresh), migrated, with the static
    files collected."""
    url = env["DATABASE_URL"]
    if url.startswith("postgres"):
        name = url.rsplit("/", 1)[-1]
        pg = ["-h", "127.0.0.1", "-U", "postgres"]
        if fresh:
            subprocess.run(["dropdb", *pg, "--if-exists", name], capture_output=True, check=False)
        subprocess.run(["createdb", *pg, name], capture_output=True, check=False)
    manage("migrate", "--noinput", "-v0", env=env)
    collectstatic(env)


def collectstatic(env: dict[str, str]) -> None:
    manage("collectstatic", "--noinput", "-v0", env=env)
