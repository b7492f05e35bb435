"""One row of every project model the admin shows, made the way the product makes them."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from apps.booking import services as booking_services
from apps.core import audit
from apps.payments.models import CaptureMismatch, EmailFailure, Payment, Refund, RemotePayment, WebhookEvent
from tests.factories import buyer, make_event
from tests.payments.test_audit import paid_booking

ONE_LAKH_PAISE = 10_000_000  # ₹1,00,000


@pytest.fixture
def ops_user(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", "x")


@pytest.fixture
def ops(client: Client, ops_user) -> Client:
    client.force_login(ops_user)
    return client


@pytest.fixture
def every_row(db, ops_user):
    """A booked seat of ₹1,00,000 with its payment, a refund, a second remote payment, a mismatch,
    a webhook, a failed email, a released hold (its outbox message) and an audit entry."""
    event = make_event(rows=2, seats_per_row=4, price=ONE_LAKH_PAISE)
    booking = paid_booking(event, ["A-1"], 1)
    payment = Payment.objects.get(intent_id=booking.intent_id)
    Refund.objects.create(
        payment=payment,
        refund_id="rfnd_admin1",
        razorpay_payment_id="pay_admin1b",
        idempotency_key="full-pay_admin1b",
        amount_paise=ONE_LAKH_PAISE,
        reason="duplicate payment",
    )
    RemotePayment.objects.create(
        payment=payment, razorpay_payment_id=payment.payment_id, status="captured", amount_paise=ONE_LAKH_PAISE
    )
    RemotePayment.objects.create(
        payment=payment, razorpay_payment_id="pay_admin1b", status="refunded", amount_paise=ONE_LAKH_PAISE
    )
    CaptureMismatch.objects.create(
        payment=payment, razorpay_payment_id="pay_admin1c", source=CaptureMismatch.Source.WEBHOOK, problem="amount"
    )
    WebhookEvent.objects.create(
        event_id="evt_admin1", event_type="payment.captured", order_id=payment.order_id, payload={}
    )
    EmailFailure.objects.create(
        intent=booking.intent,
        kind=EmailFailure.Kind.CONFIRMATION,
        attempts=1,
        last_error="SMTP down",
        last_failed_at=timezone.now(),
    )
    held = booking_services.hold_seats(event=event, seat_labels=["B-1"], **buyer(2)).intent
    booking_services.release_intent(intent_id=held.id, acting_user=ops_user)  # an outbox message and an audit entry
    audit.record(acting_user=ops_user, action="test", target=f"event {event.slug}")
    return {"event": event, "booking": booking, "payment": payment}
