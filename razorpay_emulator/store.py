"""Redis keys and small helpers: all emulator state lives under one prefix so it survives restarts.

Entities are JSON strings (one key each); listings are Redis lists and sorted sets of ids. Writes that
must not interleave (paying, capturing, refunding one order's payments) hold a Redis lock per order,
so any number of emulator processes or threads can serve the same state.
"""

import json
import secrets
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

_ALPHABET = string.ascii_letters + string.digits

# Take the first due member of a sorted set and push its score to now + lease, atomically: a worker that
# dies mid-job leaves the job to be picked up again once the lease runs out (at-least-once).
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return false end
redis.call('ZADD', KEYS[1], ARGV[2], due[1])
return due[1]
"""


def new_id(prefix: str) -> str:
    """Razorpay-looking ids: a type prefix and 14 random base62 characters."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(14))


def now() -> int:
    """Razorpay timestamps are whole Unix seconds."""
    return int(time.time())


class Store:
    def __init__(self, redis_url: str, prefix: str) -> None:
        self.r: redis.Redis = redis.Redis.from_url(redis_url, decode_responses=True, health_check_interval=30)
        self.prefix = prefix
        self._claim_due = self.r.register_script(_CLAIM_DUE)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # --- entities -----------------------------------------------------------
    def get(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        raw = self.r.get(self.key(kind, entity_id))
        return json.loads(raw) if raw else None

    def get_many(self, kind: str, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        raws = self.r.mget([self.key(kind, i) for i in ids])
        return [json.loads(raw) for raw in raws if raw]

    def put(self, pipe: "redis.client.Pipeline", kind: str, entity: dict[str, Any]) -> None:
        pipe.set(self.key(kind, entity["id"]), json.dumps(entity))

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Serialise writes to one order (and its payments and refunds) across threads and processes."""
        with self.r.lock(self.key("lock", name), timeout=10, blocking_timeout=10):
            yield

    # --- queues -----------------------------------------------------------
    def claim_due(self, queue: str, lease: float) -> str | None:
        t = time.time()
        member = self._claim_due(keys=[self.key(queue)], args=[t, t + lease])
        return member or None

    def next_due_in(self, queue: str) -> float | None:
        first = self.r.zrange(self.key(queue), 0, 0, withscores=True)
        return max(0.0, first[0][1] - time.time()) if first else None

    def reset(self) -> int:
        """Forget everything under the prefix (tests and `POST /_emulator/reset`)."""
        deleted = 0
        batch: list[str] = []
        for k in self.r.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(k)
            if len(batch) >= 500:
                deleted += self.r.unlink(*batch)
                batch = []
        if batch:
            deleted += self.r.unlink(*batch)
        return deleted
