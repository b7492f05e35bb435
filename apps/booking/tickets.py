"""Ticket codes: one per booked seat, what the gate scans (the QR code on the ticket page, the
text in the email).

A code carries what the door needs to answer without the database (the event, the seat, the
booking) and an HMAC over it, keyed from SECRET_KEY with a purpose of its own: a code cannot be
forged or moved to another seat or event, and checking one is a hash, not a query. Checking a
code in only once is the door's business (a conditional update on the booked seat), not the
code's: a copied code is still genuine."""

import base64
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
        return f"{self.payload}.{_signature(self.payload)}"


def _signature(payload: str) -> str:
    digest = salted_hmac(SALT, payload, algorithm="sha256").digest()
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
    if code.payload != ".".join(parts[:5]) or not constant_time_compare(_signature(code.payload), parts[5]):
        return None
    return code
