"""Token buckets in Redis: the project's one limiter against abuse (the waiting room's join and
hold limits, the "find my tickets" page). One call takes a token from every bucket it names, or
from none, in one round trip; a bucket refills at its rate per minute up to its burst.

The bucket function (lua/take_tokens.lua) is also composed into other scripts, so they take their
tokens in the same round trip: the waiting room's status script (apps/waitingroom/queue.py, its
join tokens) and the inventory read (`script_with_buckets`: how often a seat map document may be
rebuilt). A script touches only the keys it is given: in one call they must share a Redis Cluster
hash tag."""

from collections.abc import Sequence
from pathlib import Path

import redis as redis_lib

LUA_DIR = Path(__file__).with_name("lua")
TAKE_TOKENS_LUA = LUA_DIR / "take_tokens.lua"  # the shared function: take_tokens(keys, now, limits)


def script_with_buckets(path: Path):
    """The Lua script at `path` with the bucket function (take_tokens) in front of it, registered once
    per process (it never connects: it only computes the SHA); each call names its client."""
    return redis_lib.Redis().register_script(TAKE_TOKENS_LUA.read_text() + "\n" + path.read_text())


_BUCKET = script_with_buckets(LUA_DIR / "bucket.lua")


def take_tokens(conn, buckets: Sequence[tuple[str, float, float]], now_ms: int) -> int:
    """Take one token from each (key, tokens per minute, burst) bucket, all or none.

    Returns 0 when allowed, else the milliseconds to wait."""
    args: list = [now_ms]
    for _, per_minute, burst in buckets:
        args += [per_minute, burst]
    allowed, wait = _BUCKET(keys=[b[0] for b in buckets], args=args, client=conn)
    return 0 if int(allowed) else int(wait)
