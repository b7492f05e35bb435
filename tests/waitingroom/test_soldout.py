"""Inventory-aware line: sold out is told to everyone waiting, and seats coming back reopen it."""

import pytest

from apps.booking import services as booking_services
from apps.waitingroom import services
from apps.waitingroom.contract import RoomKeys
from tests.factories import buyer, make_event
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db


def poll(event, visitor):
    return services.poll_status(event_id=event.id, visitor_id=visitor, ip="10.0.0.1")


def beat(conn, event):
    """One beat tick (the admit task), without the one-second single-flight getting in the way."""
    conn.delete(RoomKeys.of(event.id).lock)
    services.admit_all()


def test_sold_out_is_told_to_everyone_waiting_and_a_released_hold_reopens_admission(conn):
    event = make_event(rows=1, seats_per_row=2)
    open_room(event, capacity=1, rate_per_minute=6000)
    assert poll(event, "insider").state == "admitted"  # the one slot is taken
    for visitor in ("w1", "w2", "w3"):
        assert poll(event, visitor).state == "waiting"

    sold = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer(1)).intent
    booking_services.confirm_intent(intent_id=sold.id)
    held = booking_services.hold_seats(event=event, seat_labels=["A-2"], **buyer(2)).intent
    services.leave(event_id=event.id, visitor_ids=["insider"])  # a slot is free, but no seat is
    beat(conn, event)
    for visitor in ("w1", "w2", "w3"):
        status = poll(event, visitor)
        assert status.state == "sold_out" and status.may_reopen  # a hold could still come back
    assert conn.zcard(RoomKeys.of(event.id).inside) == 0  # nobody let in to an empty seat map

    booking_services.release_intent(intent_id=held.id)
    beat(conn, event)
    assert poll(event, "w1").state == "admitted"  # admission resumed, in order
    assert poll(event, "w2").state == "waiting"


def test_all_seats_sold_closes_the_line(conn):
    event = make_event(rows=1, seats_per_row=2)
    open_room(event, capacity=5, rate_per_minute=6000)
    assert poll(event, "early-bird").state == "admitted"
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1", "A-2"], **buyer(1)).intent
    booking_services.confirm_intent(intent_id=intent.id)
    beat(conn, event)
    status = poll(event, "latecomer")
    assert status.state == "sold_out" and not status.may_reopen
    assert conn.zscore(RoomKeys.of(event.id).line, "latecomer") is None  # the line is closed to newcomers
