"""The checkout's Razorpay order: made inside the request when Razorpay answers within the
request's deadline, else by the worker, while the page says "try again in a moment" and reloads.

Idempotent end to end: a Payment is unique per intent (`services.ensure_order` keeps the first
one; an order Razorpay made for a call that lost the race is never paid), so a reload racing the
task, or the task run twice, still leaves one order in use."""

import logging
from uuid import UUID

from django_redis import get_redis_connection
from kombu.exceptions import OperationalError as BrokerDown
from redis.exceptions import RedisError

from apps.booking.models import BookingIntent
from apps.payments import services, tasks
from apps.payments.errors import GatewaySlow
from apps.payments.models import Payment

logger = logging.getLogger(__name__)

QUEUED_SECONDS = 60  # while the worker makes the order, reloads do not call Razorpay again


def _queued_key(intent_id: UUID) -> str:
    return f"pay:order-queued:{intent_id}"


def order_for_checkout(*, intent: BookingIntent) -> Payment:
    """The intent's order for the checkout page. Raises GatewaySlow while the worker is making it
    (or has just been asked to), GatewayUnavailable/GatewayRejected as `ensure_order` does."""
    if _is_queued(intent.id):
        raise GatewaySlow("the worker is creating the order")
    try:
        return services.ensure_order(intent=intent)
    except GatewaySlow:
        _queue(intent.id)
        raise


def _is_queued(intent_id: UUID) -> bool:
    try:
        return bool(get_redis_connection("default").exists(_queued_key(intent_id)))
    except RedisError:
        return False  # no memo: the request tries Razorpay itself (the deadline and breaker still bound it)


def _queue(intent_id: UUID) -> None:
    try:
        if get_redis_connection("default").set(_queued_key(intent_id), 1, nx=True, ex=QUEUED_SECONDS):
            tasks.create_order.delay(str(intent_id))
    except (BrokerDown, RedisError) as error:
        # The next reload of the page tries again, in the request.
        logger.warning("order for intent %s not queued (%s)", intent_id, error)
