"""Holds racing on a real PostgreSQL, from real threads with their own connections: every hold here
is the one statement, booking_hold_seats() (the SQLite port is refused)."""

import random
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from apps.booking import services
from apps.booking.errors import HoldCapReached, LimitExceeded, SeatsUnavailable
from apps.booking.models import BookingIntent, IntentSeat, Seat
from tests.concurrency.harness import race
from tests.concurrency.hold_variants import NO_GUARD, pause_before
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def one_statement_holds(monkeypatch):
    """The races must run the one-statement hold: fail if the SQLite port ever stands in for it."""
    assert connection.vendor == "postgresql"

    def refused(**kwargs):
        raise AssertionError("the ORM port ran on PostgreSQL")

    monkeypatch.setattr(services, "_take_seats_with_orm", refused)


def one_seat_race(count: int):
    """`count` buyers after seat A-3 of a new event at the same instant: (the event, what each got)."""
    event = make_event(rows=1, seats_per_row=5)

    def attempt(i):
        return services.hold_seats(event=event, seat_labels=["A-3"], **buyer(i)).intent.id

    return event, race(attempt, count)


def test_fifty_holds_on_one_seat_one_winner():
    event, results = one_seat_race(50)
    winners = [r for r in results if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, SeatsUnavailable)]
    assert len(winners) == 1, results
    assert len(conflicts) == 49, [
        r for r in results if isinstance(r, Exception) and not isinstance(r, SeatsUnavailable)
    ]
    assert all(c.labels == ["A-3"] for c in conflicts)
    seat = Seat.objects.get(event=event, label="A-3")
    assert seat.status == Seat.Status.HELD and seat.intent_id == winners[0]
    assert seat.version == 1
    assert BookingIntent.objects.count() == 1


def test_overlapping_multi_seat_holds_never_share_a_seat():
    event = make_event(rows=1, seats_per_row=8, max_seats_per_buyer=4)
    rng = random.Random(7)
    wanted = [sorted(rng.sample([f"A-{n}" for n in range(1, 9)], rng.randint(2, 4))) for _ in range(20)]

    def attempt(i):
        return services.hold_seats(event=event, seat_labels=wanted[i], **buyer(i)).intent.id

    results = race(attempt, 20)
    assert all(isinstance(r, SeatsUnavailable) or not isinstance(r, Exception) for r in results), results
    winners = {i: r for i, r in enumerate(results) if not isinstance(r, Exception)}
    assert winners, "someone must win"
    held_by = {s.label: s.intent_id for s in Seat.objects.filter(event=event, status=Seat.Status.HELD)}
    for i, intent_id in winners.items():
        # Every winner holds all its seats ...
        assert all(held_by[label] == intent_id for label in wanted[i])
    # ... every loser none, and no seat appears under two live intents.
    assert set(held_by.values()) == set(winners.values())
    assert sum(len(wanted[i]) for i in winners) == len(held_by)
    assert not IntentSeat.objects.values("seat").annotate(n=Count("intent")).filter(n__gt=1).exists()


def test_per_buyer_limit_holds_across_ten_tabs():
    event = make_event(rows=2, seats_per_row=10, max_seats_per_buyer=4)

    def attempt(i):
        # The same buyer from ten tabs, each after a different pair of seats.
        return services.hold_seats(event=event, seat_labels=[f"A-{i + 1}", f"B-{i + 1}"], **buyer(1)).intent.id

    results = race(attempt, 10)
    won = [r for r in results if not isinstance(r, Exception)]
    assert all(isinstance(r, LimitExceeded) for r in results if isinstance(r, Exception)), results
    assert len(won) == 2
    assert Seat.objects.filter(event=event, intent__buyer_email="buyer1@example.com").count() == 4


def test_double_submit_race_returns_one_intent():
    event = make_event(rows=1, seats_per_row=4)

    def attempt(i):
        return services.hold_seats(event=event, seat_labels=["A-1", "A-2"], owner="tab-1", **buyer(1)).intent.id

    results = race(attempt, 8)
    assert len(set(results)) == 1 and not isinstance(results[0], Exception), results
    assert BookingIntent.objects.count() == 1


def test_per_visitor_cap_holds_across_made_up_emails():
    event = make_event(rows=2, seats_per_row=10, max_seats_per_buyer=4)

    def attempt(i):
        # One browser posting ten holds at once, each under another email.
        labels = [f"A-{i + 1}", f"B-{i + 1}"]
        return services.hold_seats(event=event, seat_labels=labels, owner="hoarder", **buyer(i)).intent.id

    results = race(attempt, 10)
    assert all(isinstance(r, HoldCapReached) for r in results if isinstance(r, Exception)), results
    assert len([r for r in results if not isinstance(r, Exception)]) == 2
    assert Seat.objects.filter(event=event, intent__session_ref="hoarder", status=Seat.Status.HELD).count() == 4


def test_confirm_races_with_itself_exactly_one_booking():
    event = make_event(rows=1, seats_per_row=4)
    intent = services.hold_seats(event=event, seat_labels=["A-1", "A-2"], **buyer()).intent

    results = race(lambda i: services.confirm_intent(intent_id=intent.id), 20)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(created for _, created in results) == 1
    assert len({booking.pk for booking, _ in results}) == 1
    assert set(Seat.objects.filter(event=event, label__in=["A-1", "A-2"]).values_list("version", flat=True)) == {2}


def test_two_sweepers_at_once_expire_each_intent_once():
    from datetime import timedelta

    from django.utils import timezone

    event = make_event(rows=5, seats_per_row=20)
    past = timezone.now() - timedelta(hours=1)
    for i in range(30):
        services.hold_seats(event=event, seat_labels=[f"{'ABCDE'[i % 5]}-{i // 5 + 1}"], now=past, **buyer(i))
    results = race(lambda i: services.expire_intents(), 4)
    assert sum(results) == 30, results
    assert BookingIntent.objects.filter(status=BookingIntent.Status.EXPIRED).count() == 30
    assert not Seat.objects.filter(event=event).exclude(status=Seat.Status.AVAILABLE).exists()


def test_holds_racing_for_a_lapsed_hold_one_wins():
    """Expired is free at once: nobody swept the lapsed hold, and exactly one of the racers takes it."""
    event = make_event(rows=1, seats_per_row=4)
    past = timezone.now() - timedelta(minutes=event.hold_minutes + 1)
    lapsed = services.hold_seats(event=event, seat_labels=["A-1", "A-2"], now=past, **buyer(99)).intent

    def attempt(i):
        return services.hold_seats(event=event, seat_labels=["A-2"], **buyer(i)).intent.id

    results = race(attempt, 20)
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and all(isinstance(r, SeatsUnavailable) for r in losers), results
    seat = Seat.objects.get(event=event, label="A-2")
    assert seat.intent_id == winners[0] and seat.version == 2 and seat.hold_expires_at > timezone.now()
    assert Seat.objects.get(event=event, label="A-1").intent_id == lapsed.id  # still its, lapsed, until swept


def test_control_the_race_sells_a_seat_twice_without_the_version_and_free_guard(hold_variant):
    """Proof the one-seat race bites: against a copy of booking_hold_seats() whose lock and UPDATE
    take the seat whatever its version and state (a pause after the read lets the racers all read
    it free), the same race has more than one winner, and the seat is in several live holds."""
    hold_variant("unguarded", [NO_GUARD, pause_before(5, 0.5)])
    event, results = one_seat_race(20)
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) > 1, results
    seat = Seat.objects.get(event=event, label="A-3")
    assert IntentSeat.objects.filter(seat=seat, intent__status=BookingIntent.Status.HELD).count() == len(winners)


def test_control_the_harness_does_reproduce_a_race_without_the_guard():
    """Proof the harness races: an unguarded read-then-write sells one seat many times."""
    event = make_event(rows=1, seats_per_row=2)
    seat_id = Seat.objects.get(event=event, label="A-1").id

    def naive(i):
        seat = Seat.objects.get(pk=seat_id)
        if seat.status != Seat.Status.AVAILABLE:
            return False
        time.sleep(0.05)  # widen the window, as real request handling would
        Seat.objects.filter(pk=seat_id).update(version=seat.version + 1)
        return True

    results = race(naive, 10)
    assert sum(r is True for r in results) > 1
