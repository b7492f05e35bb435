"""The stack of the drop: everything Procfile runs, on a fresh database, sized by the options."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from devstack.env import bench_env
from devstack.processes import ensure_database
from devstack.redis_server import RedisServer
from devstack.stack import Stack, full_stack
from devstack.topology import CELERY_WORKERS, NODES_PER_LANE, shared_parts

# The confirmation email's deadline in the drop's stack (production: 120 s): short, so that the
# run can wait for the sweep to re-send what a fault lost, and the audit holds it to that.
EMAIL_DEADLINE_SECONDS = 20


def pool_total(args) -> int:
    """The configured ceiling of PostgreSQL connections: every process's pool at its maximum."""
    celery_processes = args.celery_concurrency + 1  # prefork children + the main process (beat is separate)
    lobby = args.lobby_workers * 2  # the lobby's pool (LANES in gunicorn.conf.py): pre-built pages need little
    return (args.workers + celery_processes + 1) * args.pool_max + lobby


@contextmanager
def stack(args, logs: Path) -> Iterator[tuple[dict[str, str], Stack, RedisServer | None]]:
    """nginx before the lobby and booking lanes, Celery worker and beat, and the emulator: the
    Procfile's way, on local ports, on a fresh database and empty Redis dbs. Yields (env, the
    running stack, the private Redis or None).

    With --fault redis-restart the product's Redis is a private redis-server of this run (its
    own port and data directory, persistence on as in production), never the machine's shared
    one; the emulator (Razorpay's stand-in, not our Redis) stays on --emulator-redis-url."""
    with ExitStack() as resources:
        private = None
        if getattr(args, "fault", None) == "redis-restart":
            private = resources.enter_context(RedisServer(logs / "redis"))
        redis_url = private.url if private else args.redis_url
        env, running = resources.enter_context(_stack(args, logs, redis_url, resources))
        yield env, running, private


@contextmanager
def _stack(args, logs: Path, redis_url: str, resources: ExitStack) -> Iterator[tuple[dict[str, str], Stack]]:
    front_port, emulator_port, lobby_port, booking_port = args.port, args.port + 1, args.port + 2, args.port + 3
    base, emulator = f"http://127.0.0.1:{front_port}", f"http://127.0.0.1:{emulator_port}"
    env = bench_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.database}",
        REDIS_URL=redis_url,
        DB_POOL_MAX=str(args.pool_max),
        DB_POOL_TIMEOUT="5",
        SITE_URL=base,
        RAZORPAY_API_URL=emulator,
        RAZORPAY_CHECKOUT_JS=f"{emulator}/v1/checkout.js",
        RAZORPAY_EMULATOR_ENABLED="true",
        RAZORPAY_EMULATOR_WEBHOOK_URL=f"{base}/payments/razorpay/webhook/",
        EXPIRE_INTENTS_EVERY_SECONDS="2",
        RECONCILE_AFTER_SECONDS="15",
        RECONCILE_EVERY_SECONDS="5",
        CONFIRMATION_EMAIL_DEADLINE_SECONDS=str(EMAIL_DEADLINE_SECONDS),
        CONFIRMATION_EMAIL_CLAIM_SECONDS=str(EMAIL_DEADLINE_SECONDS * 2 // 5),  # below half the deadline
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(logs / "mail"),
        # Behind the front: the client address is nginx's X-Real-IP. Every limit stays on; the
        # buyers come from many loopback addresses instead.
        LOBBY_CONCURRENCY=str(args.lobby_workers),
        BOOKING_CONCURRENCY=str(args.workers),
        BOOKING_THREADS=str(args.threads),
        BOOKING_DB_POOL_MAX=str(args.pool_max),
    )
    ensure_database(env, fresh=True)  # directly: PgBouncer (cluster) starts after the database is new
    redis.Redis.from_url(redis_url).flushdb()
    redis.Redis.from_url(args.emulator_redis_url).flushdb()
    cluster = args.topology == "cluster"
    parts = shared_parts(resources, logs, args.database) if cluster else None
    if parts is not None:
        env = {**env, **parts.settings}
    with full_stack(
        env,
        logs,
        port=front_port,
        emulator_port=emulator_port,
        lobby_port=lobby_port,
        booking_port=booking_port,
        emulator_env={**env, "REDIS_URL": args.emulator_redis_url},
        celery_concurrency=args.celery_concurrency,
        nodes=NODES_PER_LANE if cluster else 1,
        celery_workers=CELERY_WORKERS if cluster else 1,
    ) as running:
        if parts is not None:  # what a cluster fault kills or restarts
            running.redis_cluster, running.pgbouncer = parts.redis_cluster, parts.pgbouncer
        yield env, running
