"""Signed ticket links: the buyer opens their ticket from the email, no login needed."""

from django.core import signing
from django.urls import reverse

from apps.booking import tickets

_signer = signing.Signer(salt="booking.ticket-link")


def ticket_key(reference: str) -> str:
    return _signer.sign(reference).rsplit(":", 1)[1]


def ticket_path(reference: str) -> str:
    return f"{reverse('booking:ticket', args=[reference])}?key={ticket_key(reference)}"


def ticket_key_valid(reference: str, key: str) -> bool:
    try:
        return _signer.unsign(f"{reference}:{key}") == reference
    except signing.BadSignature:
        return False


def gate_codes(booking) -> list[tuple[str, str]]:
    """What the gate scans, as (what it admits, the text of its QR code): one signed code per
    seat still valid (tickets.py; a cancelled seat's code answers "Cancelled" at the door), in the
    ticket page's order of seats."""
    return [
        (f"Seat {b.seat.label}", tickets.code_of(b, reference=booking.reference).text)
        for b in active_booked_seats(booking)
    ]


def active_booked_seats(booking) -> list:
    """The booked seats still valid (not cancelled), as the ticket lists them (booked_seats
    prefetched, or one query)."""
    return sorted((b for b in booking.booked_seats.all() if b.active), key=lambda b: seat_order(b.seat))


def seat_order(seat) -> tuple:
    """Seats as a ticket lists them: by section, then row (A before AA), then number."""
    return (seat.section.position, len(seat.row_label), seat.row_label, seat.number)
