"""The scale-out topology on loopback, processes only (docs/scale-out.md), for `make cluster`, the
drop benchmark's --topology cluster and the CI drop on it:

  the waiting room on a Redis Cluster (3 masters, a replica each), the cache on the standalone Redis;
  PostgreSQL behind PgBouncer (transaction mode); Celery on RabbitMQ (a vhost of this stack);
  two web nodes per lane behind nginx; two Celery workers; one beat, behind RedBeat's lock.

    python -m devstack.topology          # make cluster: starts it all, prints the URLs, Ctrl-C stops

On separate machines the same settings (`shared_parts(…).settings`) point every node at the shared parts.
"""

import os
import signal
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from devstack import rabbitmq
from devstack.env import bench_env
from devstack.pgbouncer import PgBouncer
from devstack.processes import ensure_database
from devstack.redis_cluster import RedisClusterProcesses
from devstack.stack import full_stack

NODES_PER_LANE = 2
CELERY_WORKERS = 2


@dataclass
class SharedParts:
    settings: dict[str, str]  # what points the product's processes at the parts below
    redis_cluster: RedisClusterProcesses
    pgbouncer: PgBouncer


def shared_parts(resources: ExitStack, data: Path, database: str) -> SharedParts:
    """Start the shared parts (the Redis Cluster, PgBouncer, a RabbitMQ vhost); they stop with
    `resources`. The database must exist already."""
    cluster = resources.enter_context(RedisClusterProcesses(data / "redis-cluster"))
    bouncer = resources.enter_context(PgBouncer(data / "pgbouncer", pool_size=16))
    broker = resources.enter_context(rabbitmq.vhost("surge"))
    settings = {
        "REDIS_CLUSTER_NODES": cluster.startup_nodes,
        "DATABASE_URL": bouncer.url(database),
        "DB_BEHIND_PGBOUNCER": "true",
        "CELERY_BROKER_URL": broker,
        "CELERY_BEAT_SCHEDULER": "redbeat.RedBeatScheduler",
    }
    return SharedParts(settings, cluster, bouncer)


def main() -> int:
    port = int(os.environ.get("PORT", "8100"))
    env = bench_env(
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/surge_cluster"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8"),
        SITE_URL=f"http://127.0.0.1:{port}",
        RAZORPAY_API_URL=f"http://127.0.0.1:{port + 1}",
        RAZORPAY_CHECKOUT_JS=f"http://127.0.0.1:{port + 1}/v1/checkout.js",
        RAZORPAY_EMULATOR_WEBHOOK_URL=f"http://127.0.0.1:{port}/payments/razorpay/webhook/",
    )
    ensure_database(env)
    database = env["DATABASE_URL"].rsplit("/", 1)[-1]
    with ExitStack() as resources, tempfile.TemporaryDirectory(prefix="surge-cluster-") as data:
        logs = Path(data)
        env = {**env, **shared_parts(resources, logs, database).settings}
        running = resources.enter_context(
            full_stack(
                env,
                logs,
                port=port,
                emulator_port=port + 1,
                lobby_port=port + 2,
                booking_port=port + 3,
                emulator_env={**env, "REDIS_URL": os.environ.get("EMULATOR_REDIS_URL", "redis://127.0.0.1:6379/7")},
                nodes=NODES_PER_LANE,
                celery_workers=CELERY_WORKERS,
            )
        )
        print(f"Surge on the scale-out topology: {running.url} (the emulator at {running.emulator})")
        print(f"  waiting room  Redis Cluster {env['REDIS_CLUSTER_NODES']}")
        print(f"  PostgreSQL    {env['DATABASE_URL']} (PgBouncer, transaction mode)")
        print(f"  Celery        {env['CELERY_BROKER_URL']} ({CELERY_WORKERS} workers, one beat behind RedBeat's lock)")
        print(f"  web           {NODES_PER_LANE} nodes per lane behind nginx; logs in {logs}")
        print("Ctrl-C stops everything.")
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("stopping…", flush=True)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or a supervisor's stop: unwind
        signal.signal(stop_signal, _interrupt)
    sys.exit(main())
