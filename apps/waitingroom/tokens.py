"""The admission token: a Django-signed value binding event, visitor and expiry, kept in a
cookie per event. Checking it needs the secret key only, never Redis nor the database; the
live lease is checked separately (one Redis round trip in the gate)."""

import secrets
import time

from django.conf import settings
from django.core import signing

SALT = "surge.waitingroom.admission"
VISITOR_SALT = "surge.waitingroom.visitor"
VISITOR_COOKIE = "wr_vid"
MAX_VISITOR_COOKIE = 100  # a genuine one is ~50 characters; anything longer is not even checked


def cookie_name(event_id: int) -> str:
    return f"wr_adm_{event_id}"


def new_visitor_id() -> str:
    return secrets.token_urlsafe(16)


_visitor_signer = None


def _signer() -> signing.Signer:
    global _visitor_signer
    if _visitor_signer is None:
        _visitor_signer = signing.Signer(salt=VISITOR_SALT)
    return _visitor_signer


def visitor_cookie_value(visitor_id: str) -> str:
    return _signer().sign(visitor_id)


def visitor_from(request) -> tuple[str, bool]:
    """(visitor id, minted now). Visitor ids are minted and signed by the server: a made-up,
    tampered or oversized cookie is replaced by a new id, so a client cannot choose its id
    (nor hold many places by inventing ids without also being a new visitor each time)."""
    visitor = visitor_id_of(request.COOKIES.get(VISITOR_COOKIE, ""))
    return (visitor, False) if visitor else (new_visitor_id(), True)


def visitor_id_of(cookie_value: str) -> str | None:
    """The visitor id in a genuine visitor cookie, else None."""
    if not cookie_value or len(cookie_value) > MAX_VISITOR_COOKIE:
        return None
    try:
        return _signer().unsign(cookie_value)
    except signing.BadSignature:
        return None


def issue(*, event_id: int, visitor_id: str, now: float | None = None) -> tuple[str, int]:
    """Returns (token, expires_at epoch seconds)."""
    expires = int((now or time.time()) + settings.WAITING_ROOM_TOKEN_SECONDS)
    return signing.dumps({"e": event_id, "v": visitor_id, "x": expires}, salt=SALT, compress=False), expires


def verify(token: str, *, event_id: int, visitor_id: str, now: float | None = None) -> int | None:
    """The token's expiry if it is genuine, unexpired, and for this event and visitor; else None."""
    if not token or not visitor_id:
        return None
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("e") != event_id or data.get("v") != visitor_id:
        return None
    expires = data.get("x")
    if not isinstance(expires, int) or expires <= (now or time.time()):
        return None
    return expires


def needs_renewal(expires: int, now: float | None = None) -> bool:
    return expires - (now or time.time()) < settings.WAITING_ROOM_TOKEN_SECONDS / 2


def set_cookie(response, *, event_id: int, token: str) -> None:
    response.set_cookie(
        cookie_name(event_id),
        token,
        max_age=settings.WAITING_ROOM_TOKEN_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def set_visitor_cookie(response, visitor_id: str) -> None:
    response.set_cookie(
        VISITOR_COOKIE,
        visitor_cookie_value(visitor_id),
        max_age=30 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
