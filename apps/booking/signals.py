"""What the booking core announces. Other apps (waiting room, payments) listen; the core
imports none of them.

An ended intent (a booking confirmed: its email, the buyer's slot in the line; a hold released,
expired or refunded: the slot) must be heard even if a receiver's broker or Redis is down at the
commit, so `INTENT_ENDED` goes through the transactional outbox (apps/core/outbox.py): written
with the change, delivered to each receiver until it takes it. Receivers must tolerate a repeat.
A new hold only pins a Redis slot that lapses by itself, and holds are the hot path, so
`intent_held` is sent after commit without an outbox row."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.dispatch import Signal

from apps.core.outbox import Topic


@dataclass(frozen=True)
class IntentEnding:
    intent_id: UUID
    event_id: int
    session_ref: str
    status: str  # CONFIRMED, RELEASED, EXPIRED or REFUNDED


# Delivered with `endings=[IntentEnding, ...]` (a list, so a sweep of 10,000 expired intents is
# one announcement, not 10,000), through the outbox: see `INTENT_ENDED`.
intent_ended = Signal()


def _encode_endings(*, endings: list[IntentEnding]) -> dict:
    return {"endings": [[str(e.intent_id), e.event_id, e.session_ref, e.status] for e in endings]}


def _decode_endings(payload: dict) -> dict:
    return {
        "endings": [IntentEnding(UUID(i), event_id, ref, status) for i, event_id, ref, status in payload["endings"]]
    }


INTENT_ENDED = Topic(
    "booking.intent_ended",
    signal=intent_ended,
    sender="booking.BookingIntent",
    encode=_encode_endings,
    decode=_decode_endings,
)


@dataclass(frozen=True)
class IntentHeld:
    intent_id: UUID
    event_id: int
    session_ref: str
    expires_at: datetime | None = None  # when the hold lapses (a listener's lease ends with it)


# Sent after commit (send_robust) with `held=IntentHeld(...)` when a new hold is made.
intent_held = Signal()


# Someone asked for a booking's ticket email again (the buyer on "find my tickets", or ops in the
# admin), with `reference=` and `email=` as given. Through the outbox, so a broker down at the
# request delays the email, never loses it. The sender (payments) sends it only when `email` is
# the buyer's of booking `reference`: the check is done there, off the buyer's request,
# so the page costs and says the same whether or not they match.
ticket_email_requested = Signal()

TICKET_EMAIL_REQUESTED = Topic(
    "booking.ticket_email_requested",
    signal=ticket_email_requested,
    sender="booking.Booking",
    encode=lambda *, reference, email: {"reference": reference, "email": email},
    decode=dict,
)


# Some seats of a booking were cancelled (services.cancel_booking), with `cancellation_id=`,
# `booking_id=`, `event_id=` and `call_off=` (whether the event's call-off job paces its refund).
# Through the outbox, written with the cancellation: payments opens its refund and emails the
# buyer, exactly once per cancellation whatever the broker does.
booking_cancelled = Signal()

BOOKING_CANCELLED = Topic(
    "booking.booking_cancelled",
    signal=booking_cancelled,
    sender="booking.Booking",
    encode=lambda *, cancellation_id, booking_id, event_id, call_off: {
        "cancellation_id": cancellation_id,
        "booking_id": booking_id,
        "event_id": event_id,
        "call_off": call_off,
    },
    decode=dict,
)


# The event was called off (services.call_off_event), with `event_id=`: sales stopped and its holds
# ended in the same transaction; the waiting room closes, and payments starts the job that cancels
# and refunds every booking.
event_called_off = Signal()

EVENT_CALLED_OFF = Topic(
    "booking.event_called_off",
    signal=event_called_off,
    sender="booking.Event",
    encode=lambda *, event_id: {"event_id": event_id},
    decode=dict,
)
