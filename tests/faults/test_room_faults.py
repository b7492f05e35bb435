"""The waiting room under faults (issue 17, parts 2, 3 and 6): Redis restarted empty, Redis down,
beat stopped. Real PostgreSQL and Redis (the test's Redis database, or a private redis-server
that the test stops); no sweep runs unless a test calls one."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.booking import links
from apps.booking import services as booking_services
from apps.core import heartbeat
from apps.payments.models import Payment
from apps.waitingroom import queue, services
from apps.waitingroom.contract import RoomKeys, RoomMode
from devstack.redis_server import RedisServer
from tests.factories import browser, buyer, make_event, seat_list_url
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db


def audit_is_clean() -> None:
    out = StringIO()
    try:
        call_command("audit_bookings", "--json", stdout=out, stderr=StringIO())
    except SystemExit:
        pass  # any violation exits 1: the counts say which
    counts = json.loads(out.getvalue())
    assert not any(counts.values()), counts


def seats_pass(client: Client, event) -> bool:
    """Whether the gate lets this browser reach the seat list (else: the waiting page)."""
    response = client.get(seat_list_url(event))
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def poll(client: Client, event) -> dict:
    response = client.get(f"/queue/{event.slug}/status")
    assert response.status_code == 200, response.content
    return response.json()


# --- (a) Redis restarted empty: the room fails closed and its settings come back at once ----------


def test_redis_restarted_empty_fails_closed_and_the_first_poll_restores_the_room(settings):
    settings.WAITING_ROOM_RATE_LIMITS = {**settings.WAITING_ROOM_RATE_LIMITS, "join_per_ip": (6000, 1000)}
    event = make_event()
    open_room(event, capacity=5, rate_per_minute=6000)
    browsers = [browser(f"v{i}") for i in range(20)]
    for client in browsers:
        poll(client, event)  # joins
    services.admit_visitors(event_id=event.id, single_flight=False)
    for client in browsers:
        poll(client, event)  # the first five learn they are in (and get their admission token)
    inside = [client for client in browsers if seats_pass(client, event)]
    assert len(inside) == 5

    queue.client().flushdb()  # Redis came back with no data: line, leases and the room's settings lost

    # Nobody passes on a missing room: not the line, not those who were inside, not newcomers.
    newcomers = [browser(f"new{i}") for i in range(5)]
    assert not any(seats_pass(client, event) for client in browsers + newcomers)
    # The first poll restores the settings from the database, in that request.
    first = poll(browsers[0], event)
    assert queue.client().hget(RoomKeys.of(event.id).cfg, "mode").decode() == RoomMode.ALWAYS
    assert first["state"] in ("waiting", "admitted")
    # Everyone polls again, admissions run (beat or a poll) and everyone tries the seat map.
    for client in browsers + newcomers:
        assert poll(client, event)["state"] in ("waiting", "admitted")
    services.admit_visitors(event_id=event.id, single_flight=False)
    for client in browsers + newcomers:
        assert poll(client, event)["state"] in ("waiting", "admitted")
    passing = [client for client in browsers + newcomers if seats_pass(client, event)]
    assert len(passing) == 5  # the room works again, and its capacity holds across the loss
    assert queue.client().zcard(RoomKeys.of(event.id).inside) <= 5
    audit_is_clean()


def test_a_burst_of_polls_on_a_lost_room_restores_it_once(django_assert_max_num_queries):
    event = make_event()
    open_room(event, capacity=5)
    queue.client().flushdb()
    assert services.restore_room(event_id=event.id) is True
    queue.client().delete(RoomKeys.of(event.id).cfg)  # lost again within the single flight's window
    with django_assert_max_num_queries(0):
        assert services.restore_room(event_id=event.id) is False  # the burst does not reach the database
        status = services.poll_status(event_id=event.id, visitor_id="v", ip="198.51.100.1")
    assert status.state == "waiting"  # not "open": the page polls again soon


# --- (b) Redis down: a paid buyer's verify and ticket do not depend on it -----------------------


@pytest.fixture
def private_redis(settings, tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": server.url,
            "OPTIONS": {**settings.CACHES["default"]["OPTIONS"], "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    try:
        yield server
    finally:
        server.stop()


def test_verify_and_ticket_answer_with_redis_down_and_the_rest_is_503_not_500(private_redis, settings):
    settings.WAITING_ROOM_DEFAULT_MODE = "always"  # production's: without Redis, a room counts as on
    event = make_event()
    open_room(event, capacity=5)
    holder = browser("holder")
    poll(holder, event)
    assert seats_pass(holder, event)
    paid = booking_services.hold_seats(event=event, seat_labels=["A-1"], owner="holder", **buyer(1))
    paid.intent.refresh_from_db()
    Payment.objects.create(  # the money as the payments app records a capture (its flow is tested there)
        intent=paid.intent,
        order_id="order_faults_1",
        payment_id="pay_faults_1",
        amount_paise=paid.intent.amount_paise,
        status=Payment.Status.CAPTURED,
        captured_at=timezone.now(),
    )
    booking, _ = booking_services.confirm_intent(intent_id=paid.intent.id)
    unpaid = booking_services.hold_seats(event=event, seat_labels=["A-2"], owner="holder", **buyer(2))
    services.record_hold(event_id=event.id, visitor_id="holder", intent_id=str(unpaid.intent.id))

    private_redis.stop()
    assert not private_redis.answers()

    # The verify call reaches its view (which answers from the database: no payment for this hold,
    # so the signature cannot verify); only the owner, as before.
    verify = f"/checkout/{unpaid.intent.id}/pay/verify/"
    answer = holder.post(verify, {"razorpay_order_id": "order_x", "razorpay_payment_id": "pay_x"})
    assert answer.status_code == 400 and answer.json()["error"] == "signature_invalid", answer.content
    assert browser("stranger").post(verify, {"razorpay_order_id": "order_x"}).status_code == 404
    # So does the paid order's status, which a page waiting for a late bank polls to reach its ticket.
    status = holder.get(f"/checkout/{paid.intent.id}/pay/status/")
    assert status.status_code == 200 and status.json()["state"] == "confirmed", status.content
    assert booking.reference in status.json()["redirect"]
    assert browser("stranger").get(f"/checkout/{paid.intent.id}/pay/status/").status_code == 404
    # The ticket behind the signed link.
    ticket = Client().get(links.ticket_path(booking.reference))
    assert ticket.status_code == 200 and booking.reference in ticket.content.decode()
    # The rest of the room's URLs: a 503 with Retry-After, never a 500.
    for response in (
        holder.get(seat_list_url(event)),
        holder.get(f"/checkout/{unpaid.intent.id}/"),
        holder.get(f"/queue/{event.slug}/status"),
        holder.post(f"/events/{event.slug}/hold/", {"seat": "A-3"}),
    ):
        assert response.status_code == 503 and response["Retry-After"], (response.status_code, response.content[:200])
    audit_is_clean()


# --- (c) Beat stopped: a lapsed hold's lease is free at admission, without a sweep ---------------


def test_a_lapsed_holds_lease_frees_the_slot_at_admission_without_a_sweep(settings, django_capture_on_commit_callbacks):
    event = make_event(hold_minutes=1)
    open_room(event, capacity=1, rate_per_minute=6000, session_minutes=1)
    conn = queue.client()
    t0 = services.now_ms()
    queue.join(conn, event.id, "holder", t0)
    assert queue.admit(conn, event.id, t0).admitted == ["holder"]
    with django_capture_on_commit_callbacks(execute=True):  # the hold is announced after commit
        held = booking_services.hold_seats(event=event, seat_labels=["A-1"], owner="holder", **buyer(1))
    hold_end_ms = int(held.intent.expires_at.timestamp() * 1000)
    grace_ms = settings.WAITING_ROOM_HOLD_GRACE_SECONDS * 1000
    lease = conn.zscore(RoomKeys.of(event.id).inside, "holder")
    assert hold_end_ms + grace_ms <= lease < hold_end_ms + grace_ms + 5_000  # the event's hold, not HOLD_MINUTES + 10

    # While the hold (and its grace) lasts, the next in line waits: capacity 1.
    queue.join(conn, event.id, "next", t0 + 1_000)
    assert queue.admit(conn, event.id, t0 + 2_000).admitted == []
    # Beat stopped: no expiry sweep, no admit task. Past the hold's end plus grace, the lapsed lease
    # counts as free at the next admission (a poll's), and the holder's lapsed hold is still HELD.
    later = int(lease) + 1
    queue.join(conn, event.id, "next", later - 1_000)  # "next" kept polling
    result = queue.admit(conn, event.id, later)
    assert result.admitted == ["next"] and result.inside == 1
    held.intent.refresh_from_db()
    assert held.intent.status == held.intent.Status.HELD and held.intent.expires_at <= timezone.now() + timedelta(
        minutes=1
    )
    audit_is_clean()


def test_beat_liveness_is_a_health_check(client, settings):
    assert client.get("/healthz/beat").status_code == 503  # never ran
    heartbeat.record_beat()
    assert client.get("/healthz/beat").json()["status"] == "ok"
    heartbeat.record_beat(now=timezone.now().timestamp() - settings.BEAT_STALE_SECONDS - 5)
    stale = client.get("/healthz/beat")
    assert stale.status_code == 503 and stale.json()["status"] == "stale"
