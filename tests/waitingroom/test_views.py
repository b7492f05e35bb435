"""The waiting page and its status endpoint, the sliding session, and the modes."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.waitingroom import presentation, queue, services, tokens
from apps.waitingroom.contract import RoomKeys
from tests.factories import make_event, seat_list_url
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db


def visitor_client(visitor: str) -> Client:
    client = Client()
    client.cookies[tokens.VISITOR_COOKIE] = tokens.visitor_cookie_value(visitor)
    return client


def test_status_json_shape_eta_and_jittered_polls():
    event = make_event()
    open_room(event, capacity=1, rate_per_minute=60)
    assert services.poll_status(event_id=event.id, visitor_id="inside", ip="1.1.1.1").state == "admitted"
    for i in range(5):
        visitor_client(f"w{i}").get(f"/queue/{event.slug}/place")
    bodies = [visitor_client("w4").get(f"/queue/{event.slug}/status").json() for _ in range(20)]
    body = bodies[0]
    assert {"state", "position", "ahead", "eta_seconds", "poll_after_ms"} <= set(body)
    assert (body["state"], body["position"], body["ahead"]) == ("waiting", 5, 4)
    assert body["eta_seconds"] == 4 * 60 // body["admitted_per_minute"]  # from the measured rate (1 in the last minute)
    assert len({b["poll_after_ms"] for b in bodies}) > 5  # jitter spreads the polls
    assert all(1500 <= b["poll_after_ms"] <= presentation.MAX_POLL_MS * 1.25 for b in bodies)


def test_waiting_page_works_without_javascript():
    event = make_event()
    open_room(event, capacity=1)
    services.poll_status(event_id=event.id, visitor_id="inside", ip="1.1.1.1")
    client = visitor_client("w1")
    page = client.get(f"/queue/{event.slug}/place?next=/events/{event.slug}/seats/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<meta http-equiv="refresh"' in html and 'id="wr-position">1<' in html
    prebuilt = client.get(f"/queue/{event.slug}/").content.decode()  # the JS page sends scriptless browsers here
    assert f'<noscript><meta http-equiv="refresh" content="0; url=/queue/{event.slug}/place">' in prebuilt
    services.leave(event_id=event.id, visitor_ids=["inside"])
    queue.client().delete(RoomKeys.of(event.id).lock)
    again = client.get(f"/queue/{event.slug}/place?next=/events/{event.slug}/seats/")  # the meta refresh
    assert again.status_code == 302 and again["Location"] == f"/events/{event.slug}/seats/"
    assert client.get(seat_list_url(event)).status_code == 200  # the shell's scriptless seat list: let in


def test_next_must_be_a_local_path():
    event = make_event()
    open_room(event)
    response = visitor_client("v").get(f"/queue/{event.slug}/place?next=https://evil.example/")
    assert response["Location"] == f"/events/{event.slug}/seats/"


def test_paused_and_closed_messages():
    event = make_event()
    config = open_room(event, capacity=1)
    services.poll_status(event_id=event.id, visitor_id="inside", ip="1.1.1.1")
    client = visitor_client("w")
    client.get(f"/queue/{event.slug}/place")
    services.mirror_config(config=services.update_config(event=event, paused=True))
    assert "paused" in client.get(f"/queue/{event.slug}/place").content.decode()
    config.refresh_from_db()
    services.mirror_config(config=services.update_config(event=event, paused=False, closed=True))
    body = client.get(f"/queue/{event.slug}/status").json()
    assert body["state"] == "closed" and "closed" in body["message"]


def test_gated_requests_renew_the_sliding_session():
    event = make_event()
    open_room(event, session_minutes=2)
    client = visitor_client("v")
    client.get(f"/queue/{event.slug}/place")  # admitted at once
    inside = RoomKeys.of(event.id).inside
    queue.client().zadd(inside, {"v": services.now_ms() + 5_000})  # about to lapse
    assert client.get(f"/events/{event.slug}/seats/availability.json").status_code == 200
    assert queue.client().zscore(inside, "v") > services.now_ms() + 100_000  # renewed to ~2 min


def test_at_sale_open_mode_gates_from_the_opening():
    event = make_event(sale_opens_at=timezone.now() + timedelta(hours=1))
    open_room(event, mode="at_sale_open")
    seats = seat_list_url(event)
    assert visitor_client("a").get(seats).status_code == 200  # before the opening: browse freely
    event.sale_opens_at = timezone.now() - timedelta(seconds=1)
    event.save()
    services.mirror_config(config=event.waiting_room)
    assert visitor_client("a").get(seats).status_code == 302


def test_admit_task_runs_every_second_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["waiting-room-admit"]
    assert entry["task"] == "apps.waitingroom.tasks.admit_task"
    assert entry["schedule"].total_seconds() == 1
    from apps.waitingroom.tasks import admit_task

    event = make_event()
    open_room(event, capacity=3)
    for i in range(5):
        queue.join(queue.client(), event.id, f"v{i}", services.now_ms())
    assert admit_task() == 3


def test_a_limited_poll_and_place_page_answer_through_the_one_mapper(settings):
    """The status poll (ahead of the middleware stack) and the page without JavaScript answer a
    rate limit with the mapper's own response: one JSON shape, the page for people, Retry-After."""
    settings.WAITING_ROOM_RATE_LIMITS = {**settings.WAITING_ROOM_RATE_LIMITS, "join_per_ip": (1, 1)}
    event = make_event()
    open_room(event, capacity=1)
    assert Client().get(f"/queue/{event.slug}/status").status_code == 200
    poll = Client().get(f"/queue/{event.slug}/status")  # no Accept header: the poll is data all the same
    assert poll.status_code == 429 and int(poll["Retry-After"]) >= 1
    assert poll.json() == {
        "error": "rate_limited",
        "detail": f"Too many attempts. Please try again in {poll['Retry-After']} seconds.",
    }
    assert poll["Cache-Control"] == "no-store" and tokens.VISITOR_COOKIE in poll.cookies
    page = Client().get(f"/queue/{event.slug}/place")
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1
    assert "Too many attempts" in page.content.decode() and "no-store" in page["Cache-Control"]
