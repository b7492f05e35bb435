"""Beat's liveness: a periodic task stamps the time, a probe reads its age.

Beat is one process whose silence breaks nothing at once (polls admit, expiry is a predicate),
so it fails unnoticed; the stamp makes it a health check (/healthz/beat) that an alert watches.
The stamp is written by a worker running beat's task, so a stale one means beat or every worker
is down: either needs a person."""

import time

from django.core.cache import cache

BEAT_KEY = "beat:heartbeat"


def record_beat(*, now: float | None = None) -> None:
    """Beat ran: stamp the time (kept with no expiry, so a stopped beat shows as an old stamp)."""
    cache.set(BEAT_KEY, now if now is not None else time.time(), timeout=None)


def beat_age(*, now: float | None = None) -> float | None:
    """Seconds since beat's last stamp; None when there is none (never ran, or Redis lost it)."""
    stamp = cache.get(BEAT_KEY)
    if stamp is None:
        return None
    return max(0.0, (now if now is not None else time.time()) - float(stamp))
