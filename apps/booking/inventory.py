"""The cached inventory read: a per-event generation counter in Redis, bumped after every
committed seat change. Cached reads are keyed by generation, so a reader that raced a
change can only ever fill a key nobody reads any more.

Keys share the event's hash tag (`inv:{<event_id>}:...`) so they live in one Redis Cluster slot.
"""

import logging
import math

from django.db import transaction
from django_redis import get_redis_connection
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def generation_key(event_id: int) -> str:
    return f"inv:{{{event_id}}}:gen"


def fragment_key(event_id: int, generation: int, name: str) -> str:
    return f"inv:{{{event_id}}}:{name}:{generation}"


def redis():
    return get_redis_connection("default")


def bump(event_id: int) -> None:
    try:
        redis().incr(generation_key(event_id))
    except RedisError:
        # Cached fragments carry a short TTL, so a missed bump heals by itself.
        logger.warning("could not invalidate inventory cache of event %s", event_id)


def invalidate_on_commit(event_id: int) -> None:
    transaction.on_commit(lambda: bump(event_id))


def cached(event_id: int, name: str, build, ttl_of, *, per_generation: bool = True, stale_for: float = 0) -> bytes:
    """Return the cached bytes for (event, generation, name), or build and store them.

    `build()` returns (payload bytes, context); `ttl_of(context)` says for how many seconds
    (fractions count: a hold lapses to the millisecond) the payload stays true; it must end when
    the earliest hold lapses. After a change only one request rebuilds (single flight); the others
    meanwhile get the previous payload, at most one rebuild behind, which is fine because the hold
    itself is the real check. Redis being down means building every time, never an error.

    `per_generation=False` is for what seat changes do not touch (the layout): kept for its TTL
    whatever the generation, so a drop's stream of holds does not rebuild it. `stale_for` keeps the
    previous payload that much longer than the TTL, for the others while one request rebuilds (a
    seat grid must not outlive its hold lapse; a layout may, by the seconds a rebuild takes)."""
    try:
        conn = redis()
        if per_generation:
            generation = int(conn.get(generation_key(event_id)) or 0)
            key = fragment_key(event_id, generation, name)
        else:
            key = f"inv:{{{event_id}}}:{name}"
        hit = conn.get(key)
        if hit is not None:
            return hit
        latest_key = f"inv:{{{event_id}}}:{name}:latest"
        if not conn.set(f"{key}:lock", 1, nx=True, px=2000):
            previous = conn.get(latest_key)
            if previous is not None:
                return previous
    except RedisError:
        payload, _ = build()
        return payload
    payload, context = build()
    ttl_ms = math.ceil(ttl_of(context) * 1000)
    if ttl_ms > 0:
        keep_ms = ttl_ms + math.ceil(stale_for * 1000)
        try:
            conn.pipeline(transaction=False).set(key, payload, px=ttl_ms).set(latest_key, payload, px=keep_ms).execute()
        except RedisError:
            pass
    return payload
