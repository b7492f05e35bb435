"""The circuit breaker in front of Razorpay, one circuit for every web and worker process (its
state lives in Redis, so a gunicorn worker that never saw the failures still stops calling).

Closed: calls go through; each call that ends in GatewayUnavailable counts, a call Razorpay
answered clears the count. After RAZORPAY_BREAKER_FAILURES failures within
RAZORPAY_BREAKER_WINDOW seconds the circuit opens for RAZORPAY_BREAKER_OPEN_SECONDS: every call
fails at once with PaymentsPaused, without reaching Razorpay. Then it is half-open: one call at a
time probes; its success closes the circuit, its failure opens it again.

Redis is never a hard dependency here: when it cannot be reached the breaker steps aside and
calls go through (each still bounded by the gateway's deadline).

Not pybreaker: its `CircuitBreaker.call` holds a per-process lock around the wrapped call, so one
hung Razorpay call would queue every other thread of a gunicorn worker behind it (the outage this
guards against), and its Redis storage talks to Redis when built, outside its error handling."""

import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from apps.payments.errors import PaymentsPaused

logger = logging.getLogger(__name__)

# One hash tag, so the keys live together on a cluster too.
FAILURES = "pay:{razorpay}:cb:failures"  # failures counted in the current window
OPEN = "pay:{razorpay}:cb:open"  # present while the circuit is open (its TTL: time left)
TRIPPED = "pay:{razorpay}:cb:tripped"  # the circuit opened and has not closed since: half-open after OPEN lapses
PROBE = "pay:{razorpay}:cb:probe"  # the one call probing a half-open circuit


@dataclass(frozen=True)
class Pass:
    """A call let through: whether it probes a half-open circuit, and whether there is anything to
    clear when it succeeds (so a healthy gateway costs one Redis round trip per call, not two)."""

    probing: bool = False
    dirty: bool = False


def _redis():
    return get_redis_connection("default")


def enter() -> Pass:
    """Let a call through, or raise PaymentsPaused at once while the circuit is open."""
    try:
        open_ms, tripped, failures = (
            _redis().pipeline(transaction=False).pttl(OPEN).exists(TRIPPED).get(FAILURES).execute()
        )
        if open_ms > 0 or open_ms == -1:
            raise PaymentsPaused(retry_after=max(1, math.ceil(open_ms / 1000)))
        if tripped:
            if not _redis().set(PROBE, 1, nx=True, ex=_probe_seconds()):
                raise PaymentsPaused(retry_after=1)  # another call is probing
            return Pass(probing=True, dirty=True)
        return Pass(dirty=bool(failures))
    except RedisError as error:
        logger.warning("circuit breaker: Redis unavailable (%s); calling Razorpay unguarded", error)
        return Pass()


def succeeded(passed: Pass) -> None:
    """Razorpay answered: the failures so far were passing, and a probe closes the circuit."""
    if not passed.dirty:
        return
    try:
        _redis().delete(FAILURES, TRIPPED, PROBE)
    except RedisError as error:
        logger.warning("circuit breaker: Redis unavailable (%s)", error)


def failed(passed: Pass) -> None:
    """Razorpay was not reachable in time: count it, and open the circuit at the threshold (or
    at once when this call was the probe)."""
    try:
        redis = _redis()
        # One round trip, so a process dying between the two cannot leave a count that never expires.
        count, _ = redis.pipeline().incr(FAILURES).expire(FAILURES, settings.RAZORPAY_BREAKER_WINDOW, nx=True).execute()
        if passed.probing or count >= settings.RAZORPAY_BREAKER_FAILURES:
            seconds = settings.RAZORPAY_BREAKER_OPEN_SECONDS
            redis.pipeline().set(OPEN, 1, ex=seconds).set(TRIPPED, 1, ex=seconds * 20).delete(FAILURES, PROBE).execute()
            logger.error("circuit breaker: Razorpay failing (%d in a row); payments paused for %d s", count, seconds)
    except RedisError as error:
        logger.warning("circuit breaker: Redis unavailable (%s)", error)


def is_open() -> bool:
    """For ops and tests: whether calls are being refused right now."""
    try:
        return bool(_redis().exists(OPEN))
    except RedisError:
        return False


def _probe_seconds() -> int:
    """A probe that never reports back (its process died) must not hold the circuit half-shut."""
    return math.ceil(settings.RAZORPAY_WORKER_TIMEOUT[0] + settings.RAZORPAY_WORKER_TIMEOUT[1]) * 2
