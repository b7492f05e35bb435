"""Guessing admin passwords is throttled (django-axes): the pair (username, client IP) is locked
out after AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_MINUTES, and the lockout is logged.

The attack: 40 wrong passwords for one admin from one client met no throttle.

Decision (see docs/security.md): the lock is on the *pair*. The same user from another
address, or another user from the locked address, can still log in, so an attacker cannot lock
the real staff out of the admin by guessing from elsewhere. The client IP is the project's one
reading of it (WAITING_ROOM_CLIENT_IP_HEADER), so a client-made X-Forwarded-For changes nothing
when the trusted proxy's X-Real-IP is the header."""

import logging
import secrets

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = secrets.token_urlsafe(16)
LIMIT = 5
ATTACKER = "203.0.113.7"


@pytest.fixture(autouse=True)
def staff(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    get_user_model().objects.create_superuser("ops2", "ops2@example.com", PASSWORD)


def login(client: Client, password: str, username: str = "ops", **meta):
    meta.setdefault("REMOTE_ADDR", ATTACKER)
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **meta)


def guess_until_locked(client: Client, tries: int = 40, **meta) -> int:
    """Wrong passwords until the answer is not the login form again; returns how many it took."""
    for attempt in range(1, tries + 1):
        response = login(client, f"wrong-{attempt}", **meta)
        if response.status_code != 200:
            assert response.status_code == 429, response.status_code
            return attempt
    raise AssertionError(f"{tries} wrong passwords and no lockout")


def test_repeated_wrong_passwords_lock_the_login_with_a_clear_429_page(client, caplog):
    with caplog.at_level(logging.WARNING, logger="axes"):
        assert guess_until_locked(client) == LIMIT
    assert any("Locking out" in r.getMessage() and ATTACKER in r.getMessage() for r in caplog.records)

    # Now even the right password is refused, with a page that says why (not a 500, not the form).
    response = login(client, PASSWORD)
    assert response.status_code == 429
    assert "text/html" in response["Content-Type"]
    page = response.content.decode()
    assert "Too many failed logins" in page and "15 minutes" in page
    assert client.get("/admin/").status_code == 302  # not logged in


def test_the_lock_is_on_the_username_and_ip_pair(client):
    guess_until_locked(client)
    # The same admin from another address, and another admin from the locked one, still get in.
    assert login(Client(), PASSWORD, REMOTE_ADDR="198.51.100.20").status_code == 302
    assert login(Client(), PASSWORD, username="ops2").status_code == 302


def test_a_made_up_forwarded_for_does_not_rotate_the_address(client, settings):
    """Behind nginx the client IP is X-Real-IP (set by the proxy); the X-Forwarded-For a client
    sends is not the address, so varying it per guess does not escape the lock."""
    settings.WAITING_ROOM_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    for attempt in range(LIMIT):
        response = login(
            client,
            f"wrong-{attempt}",
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_REAL_IP=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"10.9.8.{attempt}",
        )
    assert response.status_code == 429
    fresh = login(Client(), PASSWORD, REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP=ATTACKER, HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert fresh.status_code == 429
    # Another buyer behind the same proxy (another X-Real-IP) is a different address.
    other = login(Client(), PASSWORD, REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="198.51.100.30")
    assert other.status_code == 302


def test_a_made_up_address_header_gets_the_login_form_not_a_500(client, settings):
    settings.WAITING_ROOM_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    assert login(client, "wrong", HTTP_X_REAL_IP="not-an-address").status_code == 200
    assert login(client, PASSWORD, HTTP_X_REAL_IP="999.1.1.1, <script>").status_code == 302
