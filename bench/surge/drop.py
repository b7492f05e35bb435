"""The drop: the buyers spread over several load-generator processes, while this process samples the stack."""

import asyncio
import os
import random
import time
from collections.abc import Callable, Coroutine

from bench.common import Crowd, Http, run_load
from bench.surge.buyers import Buyer, Run, one_buyer


async def sample(run: Run, env: dict[str, str], event_id: int, stop: asyncio.Event, samples: list[dict]) -> None:
    """Every 0.5 s: people waiting and inside (Redis), seats held and sold, PostgreSQL connections.

    An observer's reads, not the product's: the waiting room's key names (apps/waitingroom/contract.py,
    RoomKeys) are spelled here because a benchmark imports no app."""
    import psycopg
    import redis

    db_name = env["DATABASE_URL"].rsplit("/", 1)[-1]
    if env.get("REDIS_CLUSTER_NODES"):  # --topology cluster: the line is on the cluster
        from redis.cluster import RedisCluster

        first = env["REDIS_CLUSTER_NODES"].split(",")[0]
        r = RedisCluster.from_url(f"redis://{first}/0", socket_timeout=1, socket_connect_timeout=1)
    else:
        r = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=1, socket_connect_timeout=1)
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db_name}", autocommit=True) as db:
        while not stop.is_set():
            t = time.perf_counter() - run.started
            connections = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db_name]
            ).fetchone()[0]
            held, sold = db.execute(
                "SELECT count(*) FILTER (WHERE status = 'HELD' AND hold_expires_at > now()), "
                "count(*) FILTER (WHERE status = 'SOLD') FROM booking_seat WHERE event_id = %s",
                [event_id],
            ).fetchone()
            try:
                waiting, inside = r.zcard(f"wr:{{{event_id}}}:line"), r.zcard(f"wr:{{{event_id}}}:inside")
            except redis.RedisError:  # --fault redis-restart: Redis is down for a few seconds
                waiting = inside = None
            samples.append(
                {
                    "t": round(t, 2),
                    "waiting": waiting,
                    "inside": inside,
                    "held": held,
                    "sold": sold,
                    "pg_connections": connections,
                }
            )
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass


def _play_slice(args, base: str, emulator: str, slug: str, indices: list[int], offsets: list[float], started: float):
    """One load-generator process: its share of the buyers, each arriving at its offset after
    `started` (a perf_counter instant, the same clock in every process).

    It runs at the lobby's CPU priority (LOBBY_NICE): the load generator stands for the internet,
    so it must not take the processor from the server it measures, and arrivals (the lobby) may
    not outrank buyers inside (the booking lane) here any more than they do in production."""
    os.nice(args.client_nice)
    return run_load(_play(args, base, emulator, slug, indices, offsets, started))


async def _play(args, base, emulator, slug, indices, offsets, started) -> dict:
    run = Run(base=base, emulator=emulator, slug=slug, args=args)
    run.started = started
    crowd = Crowd(base, per_address=args.buyers_per_address, timeout=args.timeout)
    async with Http(emulator, connections=32) as emulator_http:
        run.emulator_http = emulator_http

        async def arrive(i: int) -> Buyer:
            await asyncio.sleep(max(0.0, started + offsets[i] - time.perf_counter()))
            return await one_buyer(run, await crowd.http(i), i)

        try:
            buyers = await asyncio.gather(*(arrive(i) for i in indices))
        finally:
            await crowd.close()
    return {
        "buyers": buyers,
        "steps": run.steps,
        "timeline": run.timeline,
        "errors": run.errors,
        "counters": {
            name: getattr(run, name)
            for name in ("inside_5xx", "timeouts", "timeouts_inside", "arrival_timeouts", "arrival_5xx")
        },
        "holds_ok": run.holds_ok,
        "sold_out_at": run.sold_out_at,
    }


def _merge(run: Run, part: dict) -> None:
    for name, stats in part["steps"].items():
        mine = run.stats(name)
        mine.latencies += stats.latencies
        for code, n in stats.statuses.items():
            mine.statuses[code] = mine.statuses.get(code, 0) + n
    run.timeline += part["timeline"]
    for kind, n in part["errors"].items():
        run.errors[kind] = run.errors.get(kind, 0) + n
    for name, n in part["counters"].items():
        setattr(run, name, getattr(run, name) + n)
    run.holds_ok += part["holds_ok"]
    if part["sold_out_at"] is not None:
        run.sold_out_at = min(run.sold_out_at or part["sold_out_at"], part["sold_out_at"])


Fault = Callable[[float], Coroutine[None, None, dict]]


async def drop(
    run: Run, env: dict[str, str], event_id: int, fault: Fault | None = None
) -> tuple[list[Buyer], list[dict], float, dict | None]:
    """The buyers, spread over several load-generator processes (so that one client process is
    not what is measured), while this process samples the stack, and injects `fault` (given the
    opening's perf_counter instant) if any; returns its record last."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    args = run.args
    samples: list[dict] = []
    stop = asyncio.Event()
    arrival = random.Random(args.seed)
    offsets = sorted(arrival.uniform(0, args.arrival_seconds) for _ in range(args.buyers))
    processes = max(1, min(args.client_processes, args.buyers))
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        run.started = time.perf_counter() + 4  # the opening: every process is up and waiting by then
        slices = [list(range(n, args.buyers, processes)) for n in range(processes)]
        loop = asyncio.get_running_loop()
        futures = [
            loop.run_in_executor(pool, _play_slice, args, run.base, run.emulator, run.slug, part, offsets, run.started)
            for part in slices
        ]
        await asyncio.sleep(max(0.0, run.started - time.perf_counter()))
        sampler = asyncio.create_task(sample(run, env, event_id, stop, samples))
        injected = asyncio.create_task(fault(run.started)) if fault else None
        parts = await asyncio.gather(*futures)
        record = await injected if injected else None  # undone before the settling and the audit
    flow_seconds = time.perf_counter() - run.started
    buyers: list[Buyer] = []
    for part in parts:
        buyers += part["buyers"]
        _merge(run, part)
    # Let late payments land and their webhooks (or reconciliation) finish before the audit.
    if any(b.outcome == "paid late" for b in buyers):
        await asyncio.sleep(args.late_delay + 8)
    await asyncio.sleep(3)
    stop.set()
    await sampler
    return buyers, samples, flow_seconds, record
