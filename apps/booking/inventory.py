"""The cached inventory read: a per-event generation counter in Redis, bumped after every
committed seat change. Cached reads are keyed by generation, so a reader that raced a
change can only ever fill a key nobody reads any more.

Keys share the event's hash tag (`inv:{<event_id>}:...`) so they live in one Redis Cluster slot.
"""

import logging
import math
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from apps.core import ratelimit, redis_batch
from apps.core.clock import now_ms

logger = logging.getLogger(__name__)


# A document's rebuilds: this many at once after a quiet spell, then INVENTORY_REBUILDS_PER_SECOND.
REBUILD_BURST = 5
_READ = ratelimit.script_with_buckets(Path(__file__).with_name("lua") / "inventory_read.lua")


def generation_key(event_id: int) -> str:
    return f"inv:{{{event_id}}}:gen"


def redis():
    return get_redis_connection("default")


def bump(event_id: int) -> None:
    """Inside a `redis_batch.batched()` block, the increment goes with the batch."""
    try:
        with redis_batch.pipeline(redis()) as pipe:
            pipe.incr(generation_key(event_id))
    except RedisError:
        # Cached fragments carry a short TTL, so a missed bump heals by itself.
        logger.warning("could not invalidate inventory cache of event %s", event_id)


def invalidate_on_commit(event_id: int) -> None:
    transaction.on_commit(lambda: bump(event_id))


def cached(event_id: int, name: str, build, ttl_of, *, per_generation: bool = True, stale_for: float = 0) -> bytes:
    """Return the cached bytes for (event, generation, name), or build and store them.

    `build()` returns (payload bytes, context); `ttl_of(context)` says for how many seconds
    (fractions count: a hold lapses to the millisecond) the payload stays true; it must end when
    the earliest hold lapses. After a change only one request rebuilds (single flight), and a
    document is rebuilt at most INVENTORY_REBUILDS_PER_SECOND times a second after a short burst:
    during a drop every hold is a change, and rebuilding a seat grid per buyer would cost the
    database a full read of the event per seat sold. Meanwhile the others get the newest payload
    built, a fraction of a second behind, which is fine because the hold itself is the real check.
    Redis being down means building every time, never an error. One round trip to read
    (lua/inventory_read.lua), one more to store.

    `per_generation=False` is for what seat changes do not touch (the layout): kept for its TTL
    whatever the generation, so a drop's stream of holds does not rebuild it. `stale_for` keeps the
    newest payload that much longer than the TTL, for the others while one request rebuilds (a
    seat grid must not outlive its hold lapse; a layout may, by the seconds a rebuild takes)."""
    prefix = f"inv:{{{event_id}}}:{name}" + (":" if per_generation else "")
    newest_key = f"inv:{{{event_id}}}:{name}:latest"
    try:
        conn = redis()
        found, value = _READ(
            keys=[generation_key(event_id), newest_key, f"inv:{{{event_id}}}:{name}:rebuilds"],
            args=[prefix, int(per_generation), now_ms(), settings.INVENTORY_REBUILDS_PER_SECOND * 60, REBUILD_BURST],
            client=conn,
        )
    except RedisError:
        payload, _ = build()
        return payload
    if int(found):
        return value
    payload, context = build()
    ttl_ms = math.ceil(ttl_of(context) * 1000)
    if ttl_ms > 0:
        key = prefix + (value.decode() if per_generation else "")
        keep_ms = ttl_ms + math.ceil(stale_for * 1000)
        try:
            conn.pipeline(transaction=False).set(key, payload, px=ttl_ms).set(newest_key, payload, px=keep_ms).execute()
        except RedisError:
            pass
    return payload
