"""After-commit Redis writes of one change, sent together: one round trip per Redis, not per write.

A hold is followed by two soft writes from two apps: the booking core bumps the event's inventory
generation, and the waiting room, listening, pins the holder's place. Each was a round trip of its
own on the hold's hot path, and in a busy process a round trip costs more CPU than the hold's own
Python. Inside `batched()`, `pipeline(client)` hands every writer the batch's pipeline for that
client, and the batch sends each pipeline once at its end: without a Redis Cluster the room and
the cache share one Redis, so the hold's writes are one round trip.

Only for writes that may be lost (they heal by themselves: a TTL, the next change, a sweep): a
batch's failure is logged once, never raised, because the change they follow has committed.
Outside a batch, `pipeline(client)` is a pipeline of the caller's own, sent when its block ends,
and its errors are the caller's.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis.client import Pipeline
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_open = threading.local()  # the batch this thread is in: {id(client): pipeline}, or None


@contextmanager
def batched(what: str) -> Iterator[None]:
    """Collect the `pipeline()` writes made inside the block; send them at its end, one round
    trip per client. `what` names the change in the log line of a failure."""
    if getattr(_open, "pipelines", None) is not None:  # already in a batch: join it
        yield
        return
    pipelines: dict[int, Pipeline] = {}
    _open.pipelines = pipelines
    try:
        yield
    finally:
        _open.pipelines = None
        for pipe in pipelines.values():
            try:
                pipe.execute()
            except RedisError as error:
                logger.warning("Redis writes after %s were lost: %s", what, error)


@contextmanager
def pipeline(client) -> Iterator[Pipeline]:
    """A pipeline (no MULTI) for writes to `client`: the open batch's, sent at the batch's end,
    or else one of its own, sent when the block ends."""
    pipelines = getattr(_open, "pipelines", None)
    if pipelines is None:
        pipe = client.pipeline(transaction=False)
        yield pipe
        pipe.execute()
        return
    pipe = pipelines.get(id(client))
    if pipe is None:
        pipe = pipelines[id(client)] = client.pipeline(transaction=False)
    yield pipe
