"""Sessions live on the server, so logging out ends them; and the gate still reads them for free.

The attack: log in to the admin, keep the session cookie, log out, replay the cookie. With
signed-cookie sessions the replay was let in (a signed cookie cannot be revoked)."""

import re
import secrets
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import make_event, seat_list_url
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db
PASSWORD = secrets.token_urlsafe(16)


def admin_login(client: Client) -> str:
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    response = client.post("/admin/login/?next=/admin/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_a_session_cookie_replayed_after_logout_is_refused(client):
    stolen = admin_login(client)
    assert client.post("/admin/logout/").status_code == 200

    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = stolen
    response = replay.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_session_cookie_carries_only_an_opaque_key(client):
    """Nothing of the session (user id, staff flag) travels in the cookie: it lives in Redis."""
    cookie = admin_login(client)
    assert re.fullmatch(r"[a-z0-9]{32}", cookie), cookie
    stored = import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie).load()
    assert stored["_auth_user_id"] == str(get_user_model().objects.get(username="ops").pk)


def test_the_gate_reads_a_session_cookie_without_the_database(client, django_assert_num_queries):
    """A buyer sending any session cookie (made up, or one that has ended) costs the gate no query:
    the session store is Redis alone, never a database fallback."""
    event = make_event()
    open_room(event)
    seats = seat_list_url(event)
    client.cookies[settings.SESSION_COOKIE_NAME] = secrets.token_hex(16)
    with django_assert_num_queries(0):
        response = client.get(seats)
    assert response.status_code == 302 and response["Location"].startswith(f"/queue/{event.slug}/")
