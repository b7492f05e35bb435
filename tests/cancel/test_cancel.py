"""Cancelling bookings: in full or in part, seats back on sale or blocked, refunded exactly once at
the emulator (through the SDK, with one idempotency key per cancellation), the door and the audit
following. The race of two operators lives in test_race.py."""

import pytest
from django.core import mail

from apps.booking import links
from apps.booking import services as booking_services
from apps.booking.errors import AlreadyCancelled, InvalidRequest
from apps.booking.models import BookedSeat, Booking, Cancellation, Seat
from apps.booking.services import CheckInOutcome
from apps.core.models import OutboxMessage
from apps.payments import services as payment_services
from apps.payments import tasks
from apps.payments.models import Refund
from tests.cancel.helpers import emulator_refunds, faults, quiet_webhooks, real_paid_booking
from tests.factories import make_event
from tests.payments.test_audit import audit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def emulator_quiet(gateway_url):
    quiet_webhooks()
    return gateway_url


def seat_of(booking: Booking, label: str) -> BookedSeat:
    return booking.booked_seats.get(seat__label=label)


def test_full_cancellation_puts_the_seats_back_and_refunds_the_whole_amount_once(emulator_quiet):
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    cancellation = booking_services.cancel_booking(booking_id=booking.pk, reason="Buyer asked")
    assert cancellation.amount_paise == booking.amount_paise == 300000
    assert set(Seat.objects.filter(label__in=["A-1", "A-2"], event=event).values_list("status", flat=True)) == {
        Seat.Status.AVAILABLE
    }
    assert not BookedSeat.objects.filter(booking=booking, active=True).exists()
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CANCELLED  # refund on its way
    # The announcement was delivered after the commit: the refund row is open (the task asks Razorpay).
    assert OutboxMessage.objects.get(topic="booking.booking_cancelled").delivered_at is not None
    refund = Refund.objects.get(cancellation=cancellation)
    assert refund.idempotency_key == f"cancellation-{cancellation.pk}" and refund.refund_id is None

    assert tasks.refund_cancellation(cancellation.pk) == Refund.Status.PROCESSED
    assert tasks.refund_cancellation(cancellation.pk) == Refund.Status.PROCESSED  # a repeat asks nothing new
    made = emulator_refunds(booking)
    assert [r["amount"] for r in made] == [300000]
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.REFUNDED
    with pytest.raises(AlreadyCancelled):
        booking_services.cancel_booking(booking_id=booking.pk, reason="again")
    code, output = audit()
    assert code == 0, output


def test_partial_cancellation_blocks_one_seat_and_the_other_still_opens_the_door(emulator_quiet):
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    codes = dict(links.gate_codes(booking))
    one = seat_of(booking, "A-1")
    cancellation = booking_services.cancel_booking(
        booking_id=booking.pk, booked_seat_ids=[one.pk], release_seats=False, reason="Seat broken"
    )
    assert cancellation.amount_paise == 150000
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.BLOCKED
    payment_services.refund_cancellation(cancellation_id=cancellation.pk)
    assert [r["amount"] for r in emulator_refunds(booking)] == [150000]
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.PARTLY_REFUNDED

    cancelled = booking_services.check_in(event=event, code=codes["Seat A-1"], gate="G1")
    assert cancelled.outcome == CheckInOutcome.CANCELLED and cancelled.seat_label == "A-1"
    assert booking_services.check_in(event=event, code=codes["Seat A-2"], gate="G1").admitted
    assert [admits for admits, _ in links.gate_codes(Booking.objects.get(pk=booking.pk))] == ["Seat A-2"]
    with pytest.raises(AlreadyCancelled):  # the same seat again
        booking_services.cancel_booking(booking_id=booking.pk, booked_seat_ids=[one.pk], reason="again")
    with pytest.raises(InvalidRequest):  # a seat of another booking
        booking_services.cancel_booking(booking_id=booking.pk, booked_seat_ids=[one.pk + 10_000], reason="x")

    # The rest later: the booking ends refunded, the payment refunded in two parts, never more.
    rest = booking_services.cancel_booking(booking_id=booking.pk, reason="Buyer cannot come")
    payment_services.refund_cancellation(cancellation_id=rest.pk)
    assert sorted(r["amount"] for r in emulator_refunds(booking)) == [150000, 150000]
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.REFUNDED
    code, output = audit()
    assert code == 0, output


def test_a_seat_back_on_sale_is_booked_by_someone_else_and_only_the_new_ticket_opens_the_door(emulator_quiet):
    event = make_event()
    first = real_paid_booking(event, ["A-1"], 1)
    old_code = links.gate_codes(first)[0][1]
    cancellation = booking_services.cancel_booking(booking_id=first.pk, reason="Buyer asked")
    payment_services.refund_cancellation(cancellation_id=cancellation.pk)
    second = real_paid_booking(event, ["A-1"], 2)
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.SOLD
    assert BookedSeat.objects.filter(seat__label="A-1", seat__event=event).count() == 2
    assert BookedSeat.objects.get(seat__label="A-1", seat__event=event, active=True).booking_id == second.pk
    assert booking_services.check_in(event=event, code=old_code, gate="G").outcome == CheckInOutcome.CANCELLED
    assert booking_services.check_in(event=event, code=links.gate_codes(second)[0][1], gate="G").admitted
    code, output = audit()
    assert code == 0, output


def test_the_database_refuses_two_active_booked_seats_for_one_seat(emulator_quiet):
    from django.db import IntegrityError, transaction

    event = make_event()
    booking = real_paid_booking(event, ["A-1"], 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        BookedSeat.objects.create(booking=booking, seat=Seat.objects.get(event=event, label="A-1"), price_paise=1)


def test_a_retry_after_a_lost_answer_or_a_dropped_call_gives_one_refund(emulator_quiet):
    event = make_event()
    lost = real_paid_booking(event, ["A-1"], 1)
    dropped = real_paid_booking(event, ["B-1"], 2)
    faults(refund_lose_every=1)
    first = booking_services.cancel_booking(booking_id=lost.pk, reason="Buyer asked")
    refund = payment_services.refund_cancellation(cancellation_id=first.pk)
    assert refund.refund_id is None and "answer lost" in refund.last_error and refund.attempts == 1
    assert refund.next_attempt_at is not None  # asked again after a backoff
    assert "answer lost" in Cancellation.objects.get(pk=first.pk).refund_error  # ops see why
    assert len(emulator_refunds(lost)) == 1  # Razorpay made it: only its answer was lost

    faults(refund_lose_every=0, refund_drop_every=1)
    second = booking_services.cancel_booking(booking_id=dropped.pk, reason="Buyer asked")
    refund = payment_services.refund_cancellation(cancellation_id=second.pk)
    assert refund.refund_id is None and emulator_refunds(dropped) == []

    faults(refund_drop_every=0)
    later = max(Refund.objects.values_list("next_attempt_at", flat=True))  # both due by then (jittered backoff)
    assert set(payment_services.refunds_to_retry(now=later)) == {first.pk, second.pk}  # what the beat asks again
    for cancellation_id in payment_services.refunds_to_retry(now=later):
        tasks.refund_cancellation(cancellation_id)
    assert len(emulator_refunds(lost)) == 1 and len(emulator_refunds(dropped)) == 1
    assert Refund.objects.get(cancellation=first).refund_id == emulator_refunds(lost)[0]["id"]
    assert set(Booking.objects.values_list("status", flat=True)) == {Booking.Status.REFUNDED}
    assert Cancellation.objects.filter(refund_error="").count() == 2
    code, output = audit()
    assert code == 0, output


def test_the_buyer_gets_a_cancellation_email(emulator_quiet):
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    cancellation = booking_services.cancel_booking(
        booking_id=booking.pk, booked_seat_ids=[seat_of(booking, "A-2").pk], reason="Row closed"
    )
    mail.outbox.clear()
    assert tasks.send_cancellation_notice(cancellation.pk) is True
    (sent,) = mail.outbox
    assert sent.to == [booking.buyer_email] and booking.reference in sent.subject
    assert "A-2" in sent.body and "₹1,500" in sent.body and "Row closed" in sent.body
    assert "Your other 1 seat still stands" in sent.body
