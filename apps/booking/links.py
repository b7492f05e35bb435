"""Signed ticket links: the buyer opens their ticket from the email, no login needed."""

from django.core import signing
from django.urls import reverse

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
    """What the gate scans, as (what it admits, the text of its QR code).

    The seam for the operations issue: today one code, the booking reference, admits the whole
    booking. When signed per-seat codes land, this returns one (seat label, signed code) per seat
    and the ticket page shows one QR code each; nothing else changes."""
    return [("All seats of this booking", booking.reference)]
