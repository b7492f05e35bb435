"""The product's real processes (gunicorn, the front, Celery) against this test run's database
and Redis: devstack's stack, given the test settings' environment."""

from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from devstack import env as devenv
from devstack import stack
from devstack.processes import ROOT, collectstatic
from devstack.waits import wait_for

__all__ = ["ROOT", "celery_worker", "front_stack", "product_env", "wait_for", "web_server"]


def product_env(**extra: str) -> dict[str, str]:
    """The environment a product process needs to share this test run's PostgreSQL database and Redis."""
    db = connection.settings_dict
    return devenv.product_env(
        database_url=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        redis_url=settings.REDIS_URL,
        secret_key=settings.SECRET_KEY,
        **{"DB_POOL_MAX": "4", **extra},
    )


@contextmanager
def celery_worker(*, beat: bool = False, queues: str | None = None, tmp_path: Path, **env: str):
    """A real `celery worker` (solo), with embedded beat if asked; stopped on exit."""
    with stack.celery_worker(
        product_env(**env),
        tmp_path,
        queues=queues or settings.CELERY_QUEUES_ALL,
        beat_schedule=tmp_path / "beat-schedule" if beat else None,
    ) as process:
        yield process


@contextmanager
def web_server(*, tmp_path: Path, workers: int = 2, threads: int = 8, port: int | None = None, **env: str):
    """gunicorn the production way (one plain pool, no lanes), on a free port (or `port`, to
    restart it where it was), against the test database."""
    collectstatic(product_env())
    with stack.web_server(product_env(**env), tmp_path, port=port, workers=workers, threads=threads) as url:
        yield url


@contextmanager
def front_stack(
    *, tmp_path: Path, shared_pool: bool = False, lobby=(1, 8), booking=(1, 4), nginx=None, nodes: int = 1, **env: str
):
    """The production front: nginx (the repo's config) in front of two gunicorn pools (lobby and
    booking lanes) on free ports, against the test database; one nginx worker. With shared_pool,
    the control: one pool of the same total size serves both lanes. `nodes`: web nodes per lane."""
    collectstatic(product_env())
    with stack.front(
        product_env(**env),
        tmp_path,
        shared_pool=shared_pool,
        lobby=lobby,
        booking=booking,
        access_logs=True,
        nginx={"SURGE_NGINX_WORKERS": "1", **(nginx or {})},
        nodes=nodes,
    ) as front:
        yield front
