from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.booking import services as booking_services
from apps.booking.models import Seat
from apps.payments.models import Payment, Refund, RemotePayment
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db


def audit() -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("audit_bookings", stdout=out, stderr=StringIO())
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue()
    return 0, out.getvalue()


def paid_booking(event, labels, n):
    intent = booking_services.hold_seats(event=event, seat_labels=labels, **buyer(n)).intent
    Payment.objects.create(
        intent=intent,
        order_id=f"order_{n}",
        payment_id=f"pay_{n}",
        amount_paise=intent.amount_paise,
        status=Payment.Status.CAPTURED,
    )
    return booking_services.confirm_intent(intent_id=intent.id)[0]


def test_audit_is_clean_for_paid_bookings_and_live_holds():
    event = make_event()
    paid_booking(event, ["A-1", "A-2"], 1)
    booking_services.hold_seats(event=event, seat_labels=["B-1"], **buyer(2))
    code, output = audit()
    assert code == 0, output
    assert "audit clean" in output


def test_audit_flags_a_booking_without_captured_payment():
    event = make_event()
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer(1)).intent
    booking_services.confirm_intent(intent_id=intent.id)
    code, output = audit()
    assert code == 1 and "1  bookings without a captured payment" in output


def test_audit_flags_captured_money_without_ticket_or_refund():
    event = make_event()
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer(1)).intent
    Payment.objects.create(
        intent=intent,
        order_id="order_x",
        payment_id="pay_x",
        amount_paise=intent.amount_paise,
        status=Payment.Status.CAPTURED,
    )
    code, output = audit()
    assert code == 1 and "1  captured payments with neither booking nor refund" in output


def test_audit_flags_a_hold_that_outlived_its_expiry():
    event = make_event()
    booking_services.hold_seats(event=event, seat_labels=["A-1"], now=timezone.now() - timedelta(hours=1), **buyer(1))
    code, output = audit()
    assert code == 1 and "holds past expiry" in output
    booking_services.expire_intents()
    assert audit()[0] == 0


def test_audit_flags_a_sold_seat_without_booking():
    event = make_event()
    paid_booking(event, ["A-1"], 1)
    Seat.objects.filter(event=event, label="A-2").update(
        status=Seat.Status.SOLD, intent=Seat.objects.get(event=event, label="A-1").intent
    )
    code, output = audit()
    assert code == 1 and "seats sold twice" in output


def test_audit_flags_a_second_capture_razorpay_reported_that_was_neither_booked_nor_refunded():
    """Razorpay's side as recorded (RemotePayment): every captured payment is the booked one or refunded."""
    event = make_event()
    booking = paid_booking(event, ["A-1"], 1)
    payment = Payment.objects.get(intent_id=booking.intent_id)
    RemotePayment.objects.create(payment=payment, razorpay_payment_id="pay_1", status="captured")
    RemotePayment.objects.create(payment=payment, razorpay_payment_id="pay_1b", status="authorized")
    assert audit()[0] == 0  # the booked one, and one never captured
    RemotePayment.objects.filter(razorpay_payment_id="pay_1b").update(status="captured")
    code, output = audit()
    assert code == 1 and "1  captured payments at Razorpay that are neither the booked one nor refunded" in output
    Refund.objects.create(
        payment=payment,
        razorpay_payment_id="pay_1b",
        idempotency_key="full-pay_1b",
        amount_paise=payment.amount_paise,
        reason="second capture",
    )
    assert audit()[0] == 0
    Refund.objects.create(
        payment=payment,
        razorpay_payment_id="pay_1",
        idempotency_key="full-pay_1",
        amount_paise=payment.amount_paise,
        reason="wrong",
    )
    code, output = audit()
    assert code == 1 and "1  captured payments at Razorpay both booked and refunded" in output
