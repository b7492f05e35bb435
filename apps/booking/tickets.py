"""Ticket codes: one per booked seat, what the gate scans (the QR code on the ticket page, the
text in the email).

A code carries what the door needs to answer without the database (the event, the seat, the
booking) and an HMAC over it: a code cannot be forged or moved to another seat or event, and
checking one is a hash, not a query. Checking a code in only once is the door's business (a
conditional update on the booked seat), not the code's: a copied code is still genuine.

Each event's codes are signed with a key of their own, the event's door key (`door_key`), derived
from SECRET_KEY. The door page hands that key to signed-in door staff of that event so a phone
that loses the network keeps checking codes itself (static/js/door.js, WebCrypto's HMAC, the same
computation as `_signature`). Whoever takes such a phone can forge tickets for that one event,
never for another event, and learns nothing of SECRET_KEY."""

import base64
import hashlib
import hmac
from dataclasses import dataclass

from django.utils.crypto import constant_time_compare, salted_hmac

VERSION = "T1"
SALT = "surge.booking.ticket-code"
SIGNATURE_CHARS = 20  # base32 of the HMAC-SHA256: 100 bits, short enough for a small QR code


@dataclass(frozen=True)
class TicketCode:
    event_id: int
    booked_seat_id: int
    seat_label: str
    reference: str

    @property
    def payload(self) -> str:
        return f"{VERSION}.{self.event_id}.{self.booked_seat_id}.{self.seat_label}.{self.reference}"

    @property
    def text(self) -> str:
        """What the QR code and the email carry."""
        return f"{self.payload}.{_signature(self.event_id, self.payload)}"


def door_key(event_id: int) -> bytes:
    """The key that signs one event's codes: HMAC-SHA256(purpose-salted SECRET_KEY, "door:<event
    id>"). Handed to the door staff of that event only (the door page's manifest), so a stolen
    door phone forges tickets for that one event and no other; SECRET_KEY never leaves the server."""
    return salted_hmac(SALT, f"door:{event_id}", algorithm="sha256").digest()


def _signature(event_id: int, payload: str) -> str:
    """HMAC-SHA256 of the payload under the event's door key, base32, the first SIGNATURE_CHARS
    characters. door.js computes the very same with WebCrypto: change both or neither."""
    digest = hmac.new(door_key(event_id), payload.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:SIGNATURE_CHARS]


def code_of(booked_seat, *, reference: str) -> TicketCode:
    """The code of a booked seat (its seat loaded) of booking `reference`."""
    return TicketCode(
        event_id=booked_seat.seat.event_id,
        booked_seat_id=booked_seat.pk,
        seat_label=booked_seat.seat.label,
        reference=reference,
    )


def read(text: str) -> TicketCode | None:
    """The ticket a scanned code stands for, or None when it is not one of ours (malformed,
    tampered with, or signed with another key). No database."""
    parts = text.strip().split(".")
    if len(parts) != 6 or parts[0] != VERSION or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    code = TicketCode(event_id=int(parts[1]), booked_seat_id=int(parts[2]), seat_label=parts[3], reference=parts[4])
    if code.payload != ".".join(parts[:5]) or not constant_time_compare(
        _signature(code.event_id, code.payload), parts[5]
    ):
        return None
    return code


def short_name(name: str) -> str:
    """What the door shows of a buyer: "Asha R." for "Asha Rao", enough to match a face, no more."""
    parts = name.split()
    return " ".join(parts[:1] + [f"{p[0]}." for p in parts[1:2]]) if parts else ""
