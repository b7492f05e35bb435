"""The gate: no database queries, tokens checked, Redis down handled, staff bypass, and the
whole buyer journey through the waiting room."""

import json
import time

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.core import signing
from django.http import HttpResponse
from django.test import Client, RequestFactory

from apps.booking import services as booking_services
from apps.booking.models import BookingIntent
from apps.waitingroom import queue, services, tokens
from apps.waitingroom.contract import RoomKeys
from apps.waitingroom.middleware import WaitingRoomGate
from tests.factories import buyer, make_event, seat_list_url
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db
DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "SOCKET_CONNECT_TIMEOUT": 0.2},
    }
}


def admit(event, visitor: str) -> str:
    """Put the visitor inside and return a genuine admission token."""
    conn = queue.client()
    queue.join(conn, event.id, visitor, services.now_ms())
    assert visitor in queue.admit(conn, event.id, services.now_ms()).admitted
    return tokens.issue(event_id=event.id, visitor_id=visitor)[0]


def gate_request(path, *, visitor="", token_for=None, token="", as_json=False, method="get"):
    factory = RequestFactory()
    headers = {"HTTP_ACCEPT": "application/json"} if as_json else {}
    request = getattr(factory, method)(path, **headers)
    request.session = SessionStore()
    if visitor:
        request.COOKIES[tokens.VISITOR_COOKIE] = tokens.visitor_cookie_value(visitor)
    if token_for is not None:
        request.COOKIES[tokens.cookie_name(token_for)] = token
    return request


@pytest.fixture
def gate():
    return WaitingRoomGate(lambda request: HttpResponse("the view"))


@pytest.fixture
def room():
    event = make_event()
    open_room(event, capacity=10, rate_per_minute=600)
    return event


def test_gate_makes_no_database_query(gate, room, django_assert_num_queries):
    off = make_event()
    services.mirror_config(config=services.ensure_config(event=off))  # mode off (the tests' default)
    token = admit(room, "inside-1")
    seats = seat_list_url(room)
    availability = f"/events/{room.slug}/seats/availability.json"
    with django_assert_num_queries(0):
        waiting = gate(gate_request(seats, visitor="newcomer"))
        waiting_json = gate(gate_request(availability, visitor="newcomer", as_json=True))
        admitted = gate(gate_request(seats, visitor="inside-1", token_for=room.id, token=token))
        hold = gate(gate_request(f"/events/{room.slug}/hold/", visitor="inside-1", token_for=room.id, token=token))
        room_off = gate(gate_request(seat_list_url(off), visitor="anyone"))
        event_page = gate(gate_request(f"/events/{room.slug}/", visitor="anyone"))
        no_cookie = gate(gate_request(seats))
    assert waiting.status_code == 302 and waiting["Location"].startswith(f"/queue/{room.slug}/?next=")
    assert waiting_json.status_code == 429 and waiting_json["Retry-After"] == "5"
    assert json.loads(waiting_json.content)["queue_url"] == f"/queue/{room.slug}/"
    assert admitted.content == b"the view" and hold.content == b"the view"
    assert room_off.content == b"the view" and event_page.content == b"the view"
    assert no_cookie.status_code == 302 and tokens.VISITOR_COOKIE in no_cookie.cookies


def test_the_seat_pages_shell_passes_the_gate_with_no_cookie_and_its_form_does_not(gate, room):
    """The shell is the same bytes for everyone and names no free seat: it passes with nothing set
    on it (so nginx may keep it for every visitor). Its query-string variants are not the shell: the
    page without JavaScript lists which seats are free."""
    shell = f"/events/{room.slug}/seats/"
    passed = gate(gate_request(shell))
    assert passed.content == b"the view" and not passed.cookies
    assert gate(gate_request(shell, method="head")).content == b"the view"
    released = gate(gate_request(shell + "?released=1"))
    assert released.content == b"the view" and not released.cookies
    for gated in (shell + "?section=all", shell + "?section=1&released=1", shell + "availability.json"):
        refused = gate(gate_request(gated))
        assert refused.status_code == 302 and refused["Location"].startswith(f"/queue/{room.slug}/"), gated
    assert gate(gate_request(f"/events/{room.slug}/hold/", method="post")).status_code == 302


def test_forged_tampered_expired_and_misbound_tokens_are_refused(gate, room):
    other = make_event()
    open_room(other)
    genuine = admit(room, "v1")
    admit(other, "v1")
    for_other_event = tokens.issue(event_id=other.id, visitor_id="v1")[0]
    expired = tokens.issue(event_id=room.id, visitor_id="v1", now=time.time() - 10_000)[0]
    forged = signing.dumps({"e": room.id, "v": "v1", "x": int(time.time()) + 600}, key="not-our-key", salt=tokens.SALT)
    head, _, sig = genuine.rpartition(":")
    tampered = f"{head[:-2]}xx:{sig}"
    other_visitor = tokens.issue(event_id=room.id, visitor_id="someone-else")[0]
    seats = seat_list_url(room)

    assert gate(gate_request(seats, visitor="v1", token_for=room.id, token=genuine)).status_code == 200
    for bad in (for_other_event, expired, forged, tampered, other_visitor, "garbage"):
        response = gate(gate_request(seats, visitor="v1", token_for=room.id, token=bad))
        assert response.status_code == 302, bad
    # A genuine token whose lease ended (the booking finished) is refused too.
    services.leave(event_id=room.id, visitor_ids=["v1"])
    assert gate(gate_request(seats, visitor="v1", token_for=room.id, token=genuine)).status_code == 302


def test_redis_down_gives_503_on_gated_urls_and_the_event_page_still_works(client, room, settings):
    seats = seat_list_url(room)
    assert client.get(seats).status_code == 302  # the room is known to be on
    settings.CACHES = DEAD_REDIS
    response = client.get(seats)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert client.post(f"/events/{room.slug}/hold/", {"seat": "A-1"}).status_code == 503
    assert client.get(seats, HTTP_ACCEPT="application/json").json()["error"] == "unavailable"
    assert client.get(f"/events/{room.slug}/").status_code == 200
    assert client.get(f"/events/{room.slug}/seats/").status_code == 200  # the shell: anyone's, built anew
    assert client.get("/healthz").status_code == 200
    # A process that never saw the event assumes the default mode of new events.
    settings.WAITING_ROOM_DEFAULT_MODE = "always"
    assert Client().get(seats).status_code == 503


def test_staff_bypass_the_gate(client, room):
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(seat_list_url(room)).status_code == 200


def test_buyer_journey_through_the_waiting_room(client, room, django_capture_on_commit_callbacks):
    seats = f"/events/{room.slug}/seats/"
    availability = f"{seats}availability.json"
    # The seat page's shell is anyone's; the availability it reads next (seatmap.js) sends the
    # visitor in line, to the waiting page.
    shell = client.get(seats)
    assert shell.status_code == 200 and not shell.cookies
    first = client.get(availability, HTTP_ACCEPT="application/json")
    assert first.status_code == 429
    queue_url = first.json()["queue_url"]
    visitor = tokens.visitor_id_of(client.cookies[tokens.VISITOR_COOKIE].value)  # minted and signed by the gate
    # The waiting page is the same for everyone; its first status call joins, and this one
    # admits at once (capacity is free) and says where to go on.
    page = client.get(queue_url)
    assert page.status_code == 200 and not page.cookies
    poll = client.get(f"/queue/{room.slug}/status?next={seats}")
    assert poll.json()["state"] == "admitted" and poll.json()["next"] == seats
    assert tokens.cookie_name(room.id) in poll.cookies
    assert client.get(availability, HTTP_ACCEPT="application/json").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):  # the hold is announced after commit
        response = client.post(f"/events/{room.slug}/hold/", {"seat": ["A-1", "A-2"], **_form(buyer(1))})
    assert response.status_code == 303
    checkout = response["Location"]
    intent_id = checkout.strip("/").split("/")[-1]
    lease = queue.client().zscore(RoomKeys.of(room.id).inside, visitor)
    # Holding seats keeps the session alive for as long as the hold lasts, plus the grace.
    expires_ms = int(BookingIntent.objects.get(pk=intent_id).expires_at.timestamp() * 1000)
    assert lease >= expires_ms + django_settings.WAITING_ROOM_HOLD_GRACE_SECONDS * 1000
    assert passed_the_gate(client.get(checkout))  # the holder (what the page then does is not ours)
    stranger = Client()
    turned_away = stranger.get(checkout)  # anyone else needs an admission
    assert turned_away.status_code == 302 and turned_away["Location"].startswith(f"/queue/{room.slug}/")

    with django_capture_on_commit_callbacks(execute=True):
        booking_services.release_intent(intent_id=intent_id)
    assert queue.client().zscore(RoomKeys.of(room.id).inside, visitor) is None  # slot freed at once
    assert client.get(availability, HTTP_ACCEPT="application/json").status_code == 429


def test_hold_is_rate_limited_per_visitor(client, room, settings):
    settings.WAITING_ROOM_RATE_LIMITS = {**settings.WAITING_ROOM_RATE_LIMITS, "hold_per_visitor": (1, 2)}
    client.get(f"/queue/{room.slug}/place")
    codes = [
        client.post(
            f"/events/{room.slug}/hold/", {"seat": ["Z-99"], **_form(buyer(2))}, HTTP_ACCEPT="application/json"
        ).status_code
        for _ in range(3)
    ]
    assert codes[:2] == [400, 400] and codes[2] == 429  # unknown seat is fine: the third try is limited
    limited = client.post(f"/events/{room.slug}/hold/", {"seat": ["A-1"]}, HTTP_ACCEPT="application/json")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1


def test_join_is_rate_limited_per_ip_but_refreshing_is_free(room, settings):
    settings.WAITING_ROOM_RATE_LIMITS = {**settings.WAITING_ROOM_RATE_LIMITS, "join_per_ip": (1, 3)}
    services.update_config(event=room, capacity=1)
    services.mirror_config(config=room.waiting_room)
    codes = [Client().get(f"/queue/{room.slug}/status").status_code for _ in range(5)]  # 5 new visitors, one IP
    assert codes == [200, 200, 200, 429, 429]
    same = Client()
    first = queue.client().zrange(RoomKeys.of(room.id).line, 0, 0)[0].decode()
    same.cookies[tokens.VISITOR_COOKIE] = tokens.visitor_cookie_value(first)
    assert same.get(f"/queue/{room.slug}/status").status_code == 200  # an existing place is never limited


def passed_the_gate(response) -> bool:
    """Not one of the gate's answers (the view behind may still say what it likes)."""
    turned_away = response.status_code == 429 or "/queue/" in response.get("Location", "")
    return not turned_away and b"(waiting room)" not in response.content


def _form(details):
    return {"name": details["buyer_name"], "email": details["buyer_email"], "phone": details["buyer_phone"]}
