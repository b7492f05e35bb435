"""One fault injected into the running stack mid-drop (--fault), and its record for surge.json.

    worker-kill    SIGKILL the Celery worker (its prefork children with it), start the same
                   command again 5 s later. What it had reserved (acks_late) is redelivered
                   only after the visibility timeout (30 min): the sweeps must recover it.
    redis-restart  crash the run's private redis-server (SIGKILL; append-only file fsynced every
                   second, as production runs it) and start it again on its data 5 s later:
                   the line, the leases and the broker's queue come back, less at most ~1 s.
    emulator-hang  SIGSTOP the emulator (Razorpay's stand-in) and its workers for 15 s, then
                   SIGCONT: calls to it hang, they do not fail.
On the scale-out topology (--topology cluster):
    redis-master-kill  SIGKILL the Redis Cluster master that holds the drop's line; its replica
                   takes over after the node timeout, and the line pauses meanwhile.
    web-node-kill  SIGKILL one of the booking lane's two web nodes (master and workers), for good:
                   nginx sends everything to the other one.
    pgbouncer-restart  stop PgBouncer at once (connections cut) and start it again.

Each step is timed from the drop's opening. Blocking steps run in a thread, so the sampler
keeps sampling through the fault."""

import asyncio
import signal
import time

from devstack.processes import signal_tree
from devstack.redis_server import RedisServer
from devstack.stack import Stack

FAULTS = ("worker-kill", "redis-restart", "emulator-hang", "redis-master-kill", "web-node-kill", "pgbouncer-restart")
CLUSTER_FAULTS = ("redis-master-kill", "web-node-kill", "pgbouncer-restart")
WORKER_DOWN_SECONDS = 5.0
REDIS_DOWN_SECONDS = 5.0
EMULATOR_HANG_SECONDS = 15.0


async def inject(
    kind: str, at: float, started: float, running: Stack, redis_server: RedisServer | None, event_id: int | None = None
) -> dict:
    """Wait until `at` seconds after the opening (`started`, a perf_counter instant), inject the
    fault, undo it; the record: what, when, and each step's time."""
    steps: list[dict] = []

    def step(what: str) -> None:
        steps.append({"t": round(time.perf_counter() - started, 2), "what": what})

    await asyncio.sleep(max(0.0, started + at - time.perf_counter()))
    if kind == "worker-kill":
        pids = await asyncio.to_thread(running.worker.kill)
        step(f"SIGKILL the Celery worker, pids {pids}")
        await asyncio.sleep(WORKER_DOWN_SECONDS)
        await asyncio.to_thread(running.worker.start)
        step(f"worker started again, pid {running.worker.proc.pid}")
    elif kind == "redis-restart":
        keys = await asyncio.to_thread(_dbsize, redis_server)
        pid = await asyncio.to_thread(redis_server.crash)
        step(f"SIGKILL redis-server pid {pid} ({keys} keys)")
        await asyncio.sleep(REDIS_DOWN_SECONDS)
        await asyncio.to_thread(redis_server.start)
        keys = await asyncio.to_thread(_dbsize, redis_server)
        step(f"redis-server started again on its append-only file ({keys} keys)")
    elif kind == "emulator-hang":
        pids = signal_tree(running.emulator_server.proc, signal.SIGSTOP)
        step(f"SIGSTOP the emulator, pids {pids}")
        try:
            await asyncio.sleep(EMULATOR_HANG_SECONDS)
        finally:
            signal_tree(running.emulator_server.proc, signal.SIGCONT)
        step("SIGCONT the emulator")
    elif kind == "redis-master-kill":
        line = f"wr:{{{event_id}}}:line"  # the drop's line: its shard (RoomKeys, spelled here)
        master = await asyncio.to_thread(running.redis_cluster.kill_master_of, line)
        step(f"SIGKILL the Redis Cluster master of the line's slot (:{master.port})")
        await asyncio.to_thread(running.redis_cluster.wait_healthy)
        step("its replica serves the slot: the cluster is ok again")
    elif kind == "web-node-kill":
        node = running.front.nodes["booking"][0]
        pids = signal_tree(node, signal.SIGKILL)
        step(f"SIGKILL a booking web node, pids {pids}; the other one serves the lane")
    elif kind == "pgbouncer-restart":
        await asyncio.to_thread(running.pgbouncer.restart)
        step("PgBouncer stopped at once and started again")
    else:
        raise ValueError(f"unknown fault {kind!r}")
    return {"kind": kind, "at_s": at, "steps": steps}


def _dbsize(server: RedisServer) -> int:
    import redis

    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        return client.dbsize()
    finally:
        client.close()
