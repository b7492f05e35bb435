"""Operators pressing cancel on the same seats at the same moment: real threads, each with its own
PostgreSQL connection, all past their read before any decides (services.RACE_WINDOW holds them at a
barrier), then each asks Razorpay (the emulator, through the SDK) as the refund task would. One
cancellation and one refund. The control takes the deciding predicates out and shows this harness
then produces the double cancellation and the double refund at the emulator (and the audit flags it)."""

import threading

import pytest
from django.db.models import Q

from apps.booking import services as booking_services
from apps.booking.errors import AlreadyCancelled
from apps.booking.models import Booking, Cancellation
from apps.payments import services as payment_services
from apps.payments.models import Refund
from tests.cancel.helpers import emulator_refunds, quiet_webhooks, real_paid_booking
from tests.concurrency.harness import race
from tests.factories import make_event
from tests.payments.test_audit import audit

pytestmark = pytest.mark.django_db(transaction=True)

OPERATORS = 4


def press_cancel(*, booking: Booking, booked_seat_ids: list[int] | None, operator: int):
    """What the admin action and the refund task do for one operator."""
    cancellation = booking_services.cancel_booking(
        booking_id=booking.pk, booked_seat_ids=booked_seat_ids, reason=f"operator {operator}"
    )
    payment_services.refund_cancellation(cancellation_id=cancellation.pk)
    return cancellation


def racing(monkeypatch, count: int) -> None:
    """Every racer reads the booked seats, then waits for the others before the deciding UPDATE."""
    barrier = threading.Barrier(count)
    monkeypatch.setattr(booking_services, "RACE_WINDOW", lambda: barrier.wait(timeout=20))


@pytest.mark.parametrize("partial", [False, True], ids=["whole booking", "one seat of two"])
def test_operators_cancelling_at_once_make_one_cancellation_and_one_refund(gateway_url, monkeypatch, partial):
    quiet_webhooks()
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    seats = [booking.booked_seats.get(seat__label="A-1").pk] if partial else None
    racing(monkeypatch, OPERATORS)
    results = race(lambda i: press_cancel(booking=booking, booked_seat_ids=seats, operator=i), OPERATORS)

    won = [r for r in results if isinstance(r, Cancellation)]
    lost = [r for r in results if isinstance(r, AlreadyCancelled)]
    assert len(won) == 1 and len(lost) == OPERATORS - 1, results
    assert Cancellation.objects.count() == 1 and Refund.objects.count() == 1
    refunds = emulator_refunds(booking)
    assert [r["amount"] for r in refunds] == [150000 if partial else 300000]
    expected = Booking.Status.PARTLY_REFUNDED if partial else Booking.Status.REFUNDED
    assert Booking.objects.get(pk=booking.pk).status == expected
    code, output = audit()
    assert code == 0, output


def test_control_without_the_deciding_predicates_the_harness_shows_a_double_refund(gateway_url, monkeypatch):
    quiet_webhooks()
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    seats = [booking.booked_seats.get(seat__label="A-1").pk]
    monkeypatch.setattr(booking_services, "_STILL_ACTIVE", Q())
    monkeypatch.setattr(booking_services, "_still_sold_to", lambda intent_id: Q())
    racing(monkeypatch, 2)
    results = race(lambda i: press_cancel(booking=booking, booked_seat_ids=seats, operator=i), 2)

    assert all(isinstance(r, Cancellation) for r in results), results  # both operators "won"
    assert Cancellation.objects.count() == 2
    assert [r["amount"] for r in emulator_refunds(booking)] == [150000, 150000]  # the seat refunded twice
    code, output = audit()
    assert code == 1 and "1  events whose money kept is not the value of their valid tickets" in output, output
