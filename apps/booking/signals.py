"""What the booking core announces. Other apps (waiting room, payments) listen; the core
imports none of them."""

from dataclasses import dataclass
from uuid import UUID

from django.dispatch import Signal


@dataclass(frozen=True)
class IntentEnding:
    intent_id: UUID
    event_id: int
    session_ref: str
    status: str  # CONFIRMED, RELEASED, EXPIRED or REFUNDED


# Sent after commit with `endings=[IntentEnding, ...]` (a list, so a sweep of 10,000
# expired intents is one announcement, not 10,000).
intent_ended = Signal()


@dataclass(frozen=True)
class IntentHeld:
    intent_id: UUID
    event_id: int
    session_ref: str


# Sent after commit with `held=IntentHeld(...)` when a new hold is made.
intent_held = Signal()
