"""The seat and intent predicates (models.SeatQuerySet, models.BookingIntentQuerySet) at the
boundary instant, and their Python twins on rows already read: a hold that runs out exactly at
`now` is over (its seats free, the intent lapsed), one that runs out a microsecond later is not."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.booking import services
from apps.booking.models import BookingIntent, Seat
from tests.factories import buyer

pytestmark = pytest.mark.django_db

TICK = timedelta(microseconds=1)


def _intent(event, *, status=BookingIntent.Status.HELD, expires_at) -> BookingIntent:
    return BookingIntent.objects.create(
        event=event,
        buyer_name="x",
        buyer_email=f"{status.lower()}-{expires_at.timestamp()}@example.com",
        buyer_phone="1234567",
        amount_paise=150000,
        status=status,
        expires_at=expires_at,
    )


def _hold(event, label: str, until) -> None:
    """Put `label` on a hold running out at `until` (set-up only: states as the services leave them)."""
    Seat.objects.filter(event=event, label=label).update(
        status=Seat.Status.HELD, intent=_intent(event, expires_at=until), hold_expires_at=until
    )


@pytest.fixture
def seats_at(event):
    """A-1 available, A-2 held until exactly `now`, A-3 until a microsecond after, A-4 lapsed an
    hour ago, A-5 sold, A-6 blocked. Returns (`now`, those seats)."""
    now = timezone.now()
    _hold(event, "A-2", now)
    _hold(event, "A-3", now + TICK)
    _hold(event, "A-4", now - timedelta(hours=1))
    sold = _intent(event, status=BookingIntent.Status.CONFIRMED, expires_at=now)
    Seat.objects.filter(event=event, label="A-5").update(status=Seat.Status.SOLD, intent=sold)
    Seat.objects.filter(event=event, label="A-6").update(status=Seat.Status.BLOCKED)
    return now, Seat.objects.filter(event=event, label__in=[f"A-{n}" for n in range(1, 7)])


def _labels(queryset) -> set[str]:
    return set(queryset.values_list("label", flat=True))


def test_seat_predicates_at_the_boundary(seats_at):
    now, seats = seats_at
    assert _labels(seats.free(now)) == {"A-1", "A-2", "A-4"}
    assert _labels(seats.lapsed(now)) == {"A-2", "A-4"}
    assert _labels(seats.on_hold(now)) == {"A-3"}
    assert _labels(seats.taken(now)) == {"A-3", "A-5", "A-6"}
    # A microsecond later the last hold has run out too.
    assert _labels(seats.free(now + TICK)) == {"A-1", "A-2", "A-3", "A-4"}
    assert not seats.on_hold(now + TICK).exists()


def test_free_and_taken_split_every_seat(seats_at):
    now, seats = seats_at
    free, taken = _labels(seats.free(now)), _labels(seats.taken(now))
    assert free.isdisjoint(taken) and free | taken == _labels(seats)


def test_python_twins_agree_with_the_queries(seats_at):
    now, seats = seats_at
    for at in (now - TICK, now, now + TICK):
        free = _labels(seats.free(at))
        assert {s.label for s in seats if s.is_free(at)} == free
        shown = {s.label: Seat.status_at(s.status, s.hold_expires_at, at) for s in seats}
        assert {label for label, status in shown.items() if status == Seat.Status.AVAILABLE} == free
        assert {label for label, status in shown.items() if status == Seat.Status.HELD} == _labels(seats.on_hold(at))


def test_intent_predicates_at_the_boundary(event):
    now = timezone.now()
    ends_now = _intent(event, expires_at=now)
    ends_later = _intent(event, expires_at=now + TICK)
    long_gone = _intent(event, expires_at=now - timedelta(hours=1))
    expired = _intent(event, status=BookingIntent.Status.EXPIRED, expires_at=now + timedelta(hours=1))
    intents = BookingIntent.objects.filter(event=event)
    assert set(intents.live(now)) == {ends_later}
    assert set(intents.lapsed(now)) == {ends_now, long_gone}
    assert expired not in set(intents.live(now)) | set(intents.lapsed(now))
    for at in (now - TICK, now, now + TICK):
        assert {i for i in intents if i.is_active(at)} == set(intents.live(at))


def test_payable_statuses(event):
    now = timezone.now()
    by_status = {status: _intent(event, status=status, expires_at=now) for status in BookingIntent.Status}
    payable = set(BookingIntent.objects.filter(event=event).payable())
    assert payable == {by_status[s] for s in ("HELD", "EXPIRED", "RELEASED")}


def test_the_sweeper_takes_a_hold_that_runs_out_exactly_now(event):
    now = timezone.now()
    services.hold_seats(event=event, seat_labels=["B-1"], now=now - timedelta(minutes=event.hold_minutes), **buyer(1))
    later = services.hold_seats(event=event, seat_labels=["B-2"], **buyer(2)).intent
    assert services.expire_intents(now=now) == 1
    assert Seat.objects.get(event=event, label="B-1").status == Seat.Status.AVAILABLE
    assert Seat.objects.get(event=event, label="B-2").status == Seat.Status.HELD
    assert BookingIntent.objects.get(pk=later.pk).status == BookingIntent.Status.HELD


@pytest.mark.parametrize("model", [Seat, BookingIntent])
def test_the_database_refuses_a_status_outside_the_enum(event, model):
    """The check constraints are built from `Status.values`: a status the enum lacks is refused."""
    if model is BookingIntent:
        _intent(event, expires_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(event=event).update(status="GONE")
    assert "GONE" not in model.Status.values
