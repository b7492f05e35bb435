"""Ops admin: live figures, settings applied live, pause, close and flush with confirmation."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.booking.models import Event
from apps.waitingroom import queue, services
from apps.waitingroom.contract import RoomKeys
from apps.waitingroom.models import WaitingRoomConfig
from tests.factories import make_event
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))
    return client


def test_changelist_shows_live_figures(ops):
    event = make_event()
    open_room(event, capacity=1)
    for visitor in ("a", "b", "c"):
        services.poll_status(event_id=event.id, visitor_id=visitor, ip="1.1.1.1")
    page = ops.get("/admin/waitingroom/waitingroomconfig/")
    assert page.status_code == 200
    row = page.content.decode().lower()
    assert "admitted/min" in row and "eta of last" in row
    figures = page.context["cl"].result_list[0]
    assert figures.event_id == event.id
    detail = ops.get(f"/admin/waitingroom/waitingroomconfig/{event.waiting_room.pk}/change/")
    assert "2 waiting (0 before the opening), 1 inside" in detail.content.decode()


def test_change_form_applies_capacity_and_rate_live(ops, django_capture_on_commit_callbacks):
    event = make_event()
    config = open_room(event)
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(
            f"/admin/waitingroom/waitingroomconfig/{config.pk}/change/",
            {"mode": "always", "capacity": 7, "rate_per_minute": 42, "session_minutes": 5, "grace_seconds": 90},
        )
    assert response.status_code == 302
    cfg = queue.client().hgetall(RoomKeys.of(event.id).cfg)
    assert (cfg[b"capacity"], cfg[b"rate"], cfg[b"session_s"], cfg[b"grace_s"]) == (b"7", b"42", b"300", b"90")


def test_pause_close_and_flush(ops, django_capture_on_commit_callbacks):
    event = make_event()
    config = open_room(event, capacity=1)
    for visitor in ("a", "b", "c"):
        services.poll_status(event_id=event.id, visitor_id=visitor, ip="1.1.1.1")
    url = "/admin/waitingroom/waitingroomconfig/"
    with django_capture_on_commit_callbacks(execute=True):
        ops.post(url, {"action": "pause", "_selected_action": [config.pk]})
    assert services.poll_status(event_id=event.id, visitor_id="b", ip="1.1.1.1").state == "paused"

    confirm = ops.post(url, {"action": "close_line", "_selected_action": [config.pk]})
    assert confirm.status_code == 200 and b"Nobody new can join" in confirm.content  # asks first
    assert not WaitingRoomConfig.objects.get(pk=config.pk).closed
    with django_capture_on_commit_callbacks(execute=True):
        ops.post(url, {"action": "close_line", "_selected_action": [config.pk], "confirm": "yes"})
    assert services.poll_status(event_id=event.id, visitor_id="b", ip="1.1.1.1").state == "closed"

    assert b"Everyone waiting loses" in ops.post(url, {"action": "flush_line", "_selected_action": [config.pk]}).content
    ops.post(url, {"action": "flush_line", "_selected_action": [config.pk], "confirm": "yes"})
    assert queue.client().zcard(RoomKeys.of(event.id).line) == 0


def test_new_events_get_the_default_mode(settings, django_capture_on_commit_callbacks):
    settings.WAITING_ROOM_DEFAULT_MODE = "always"
    with django_capture_on_commit_callbacks(execute=True):
        event = make_event()
    assert event.waiting_room.mode == "always"
    assert queue.client().hget(RoomKeys.of(event.id).cfg, "mode") == b"always"
    assert int(queue.client().get(queue.slug_key(event.slug))) == event.id


def test_create_event_command_takes_waiting_room_options(settings):
    settings.WAITING_ROOM_DEFAULT_MODE = "always"
    common = {"rows": 2, "seats_per_row": 5, "price": 50000}
    call_command("create_event", slug="gig-a", capacity=50, rate=300, **common)
    call_command("create_event", slug="gig-b", no_waiting_room=True, **common)
    a = Event.objects.get(slug="gig-a").waiting_room
    b = Event.objects.get(slug="gig-b").waiting_room
    assert (a.mode, a.capacity, a.rate_per_minute) == ("always", 50, 300)
    assert b.mode == "off"
