"""Each event's codes are signed with that event's door key (tickets.door_key), which door phones
keep to check codes offline: the key of one event signs no other event's tickets, and it is not
SECRET_KEY. No database: reading a code needs none."""

import base64
import hashlib
import hmac

from apps.booking import tickets

CODE = tickets.TicketCode(event_id=12, booked_seat_id=345, seat_label="C-12", reference="9MPFYGLV")


def sign(key: bytes, payload: str) -> str:
    """What a phone computes (door.js: WebCrypto HMAC-SHA256, base32, the first 20 characters)."""
    return base64.b32encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()).decode()[:20]


def test_a_code_is_signed_with_its_events_door_key():
    key = tickets.door_key(12)
    assert len(key) == 32 and key != tickets.door_key(13)
    assert CODE.text == f"{CODE.payload}.{sign(key, CODE.payload)}"
    assert len(CODE.text) <= 60  # a small QR code (version 3 or 4 at level M)


def test_one_events_key_forges_no_other_events_ticket():
    """Whoever takes a door phone of event 12 holds its key: with it they can sign codes, but a
    code for event 13 signed with it is not a ticket."""
    stolen = tickets.door_key(12)
    payload = "T1.13.345.C-12.9MPFYGLV"
    assert tickets.read(f"{payload}.{sign(stolen, payload)}") is None
    genuine = tickets.TicketCode(event_id=13, booked_seat_id=345, seat_label="C-12", reference="9MPFYGLV")
    assert tickets.read(genuine.text) == genuine


def test_the_door_key_depends_on_the_secret(settings):
    before = tickets.door_key(12)
    settings.SECRET_KEY = "another-deployment-" + "y" * 40
    assert tickets.door_key(12) != before
    assert settings.SECRET_KEY.encode() not in tickets.door_key(12)


def test_the_short_name_is_a_first_name_and_an_initial():
    assert tickets.short_name("Asha Rao") == "Asha R."
    assert tickets.short_name("  Vikram  Singh Sen ") == "Vikram S."
    assert tickets.short_name("Madonna") == "Madonna"
    assert tickets.short_name("") == ""
