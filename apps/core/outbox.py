"""A transactional outbox for announcements (Django signals) that must not be lost.

Why: a signal sent after commit is lost when the process dies, or a receiver fails (the broker is
down for `.delay()`), between the commit and the send; and a retried call that finds the change
already made announces nothing. Here the announcement is a row written in the same transaction as
the change, so it exists exactly when the change does. After commit it is delivered at once, best
effort, in the same process; whatever that misses the beat's `relay()` delivers, retrying with
exponential backoff until every receiver has taken it.

Delivery is at least once, per receiver: a receiver that took a message is not called for it
again, one that raised is called again later, so receivers must tolerate a repeat (they do:
an email claim, a set removal). A delivery first claims the row with one UPDATE that moves
`due_at` on by a lease, so two relays never deliver one message at once and a relay that dies
mid-delivery only delays it by the lease. No transaction is held across the receivers' network calls.

Kept as one small module rather than a library: django-outbox-pattern publishes to a STOMP broker
and django-celery-outbox wraps Celery task calls; what is needed here is delivering signals to
in-process receivers, per receiver, with retries."""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from apps.core.models import OutboxMessage

logger = logging.getLogger(__name__)

_TOPICS: dict[str, "Topic"] = {}


@dataclass(frozen=True)
class Topic:
    """An announcement the outbox can carry: its signal, the sender it is sent with ("app.Model"),
    and how its keyword arguments become JSON and back. Made once, at import, by the announcing app."""

    name: str
    signal: Signal
    sender: str
    encode: Callable[..., dict]  # the signal's keyword arguments -> a JSON object
    decode: Callable[[dict], dict]  # and back

    def __post_init__(self) -> None:
        _TOPICS[self.name] = self


def receiver_name(receiver: Callable) -> str:
    """How a receiver is known in `OutboxMessage.done`: stable across processes and restarts."""
    return f"{receiver.__module__}.{receiver.__qualname__}"


def _backoff(attempts: int) -> timedelta:
    """Exponential, capped, with full jitter, so a broker outage is not met by every message at once."""
    base, cap = settings.OUTBOX_RETRY_BACKOFF, settings.OUTBOX_RETRY_BACKOFF_MAX
    ceiling = max(base, min(cap, base * 2 ** max(attempts - 1, 0)))
    return timedelta(seconds=random.uniform(base / 2, ceiling))  # noqa: S311 - jitter, not a secret


def announce(topic: Topic, **kwargs: Any) -> OutboxMessage:
    """Write the announcement; call it inside the transaction that makes the change. After that
    transaction commits, it is delivered at once (best effort; the relay does the rest)."""
    message = OutboxMessage.objects.create(topic=topic.name, payload=topic.encode(**kwargs), due_at=timezone.now())
    transaction.on_commit(partial(_deliver_after_commit, message.pk), robust=True)
    return message


def _deliver_after_commit(message_id: int) -> None:
    try:
        deliver(message_id=message_id)
    except Exception:  # the database itself: the row is there, the relay delivers it
        logger.exception("outbox message %s not delivered after commit; the relay will", message_id)


def deliver(*, message_id: int, now: datetime | None = None) -> bool:
    """Claim one due message and hand it to each receiver that has not taken it yet.

    Returns True when every receiver has now taken it; False when it was not due, already
    delivered, claimed by another relay, or a receiver failed (it is then due again after a backoff)."""
    now = now or timezone.now()
    claimed = OutboxMessage.objects.filter(pk=message_id, delivered_at__isnull=True, due_at__lte=now).update(
        due_at=now + timedelta(seconds=settings.OUTBOX_CLAIM_SECONDS), attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    message = OutboxMessage.objects.get(pk=message_id)
    topic = _TOPICS.get(message.topic)
    if topic is None:  # the announcing app's module is not loaded in this process: try later
        _record(message, done=set(message.done), errors=[f"unknown topic {message.topic!r}"], now=now)
        return False
    kwargs = topic.decode(message.payload)
    sender = apps.get_model(topic.sender)
    done, errors = set(message.done), []
    receivers, _ = topic.signal._live_receivers(sender)  # noqa: SLF001 - Signal offers no public per-receiver call
    for receiver in receivers:
        name = receiver_name(receiver)
        if name in done:
            continue
        try:
            receiver(signal=topic.signal, sender=sender, **kwargs)
        except Exception as error:
            logger.warning("outbox message %s: %s failed (%s); will retry", message.pk, name, error)
            errors.append(f"{name}: {type(error).__name__}: {error}")
        else:
            done.add(name)
    _record(message, done=done, errors=errors, now=now)
    return not errors


def _record(message: OutboxMessage, *, done: set[str], errors: list[str], now: datetime) -> None:
    fields: dict[str, Any] = {"done": sorted(done), "last_error": "; ".join(errors)[:300]}
    if errors:
        fields["due_at"] = now + _backoff(message.attempts)
    else:
        fields["delivered_at"] = now
    OutboxMessage.objects.filter(pk=message.pk).update(**fields)


def relay(*, now: datetime | None = None, limit: int = 200) -> int:
    """Beat: deliver what is due, oldest first, and forget what was delivered long ago.
    Returns how many messages were fully delivered."""
    now = now or timezone.now()
    due = (
        OutboxMessage.objects.filter(delivered_at__isnull=True, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    delivered = sum(deliver(message_id=pk, now=now) for pk in list(due))
    old = now - timedelta(days=settings.OUTBOX_KEEP_DAYS)
    stale = OutboxMessage.objects.filter(delivered_at__lt=old).values_list("pk", flat=True)[:1000]
    OutboxMessage.objects.filter(pk__in=list(stale)).delete()
    return delivered


def undelivered(*, older_than_seconds: float = 0, now: datetime | None = None) -> int:
    """Messages not yet taken by every receiver (the audit counts those overdue)."""
    now = now or timezone.now()
    return OutboxMessage.objects.filter(
        delivered_at__isnull=True, created_at__lte=now - timedelta(seconds=older_than_seconds)
    ).count()
