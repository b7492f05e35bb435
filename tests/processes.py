"""Start the real processes of the product (Celery worker, beat) against the test database."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

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


@contextmanager
def web_server(*, tmp_path: Path, workers: int = 2, threads: int = 8, **env: str):
    """gunicorn the production way (the Procfile's web), on a free port, against the test database."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=product_env(), check=True
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "booking_site.wsgi", "--config", "booking_site/gunicorn.conf.py"],
        cwd=ROOT,
        env=product_env(BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads), **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(httpx, url), timeout=30, what="gunicorn")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _answers(httpx, url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
