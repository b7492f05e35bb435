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
