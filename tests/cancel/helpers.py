"""Bookings paid for real at the emulator (an order through the SDK, the Checkout's scripted payment,
the capture recorded through the product's own path), so their refunds go to the emulator for real."""

import httpx
from django.conf import settings

from apps.booking import services as booking_services
from apps.booking.models import Booking
from apps.payments import gateway
from apps.payments import services as payment_services
from apps.payments.models import Payment
from devstack.emulator import pay
from tests.factories import buyer


def faults(**switches) -> dict:
    response = httpx.post(f"{settings.RAZORPAY_API_URL}/_emulator/faults", json=switches, timeout=5)
    response.raise_for_status()
    return response.json()


def quiet_webhooks() -> None:
    """The emulator's webhooks (payment and refund events) wait past the test: these tests drive the
    refunds through Razorpay's answers alone (the gateway_url fixture resets the emulator after)."""
    faults(delay=3600)


def real_paid_booking(event, labels: list[str], n: int) -> Booking:
    intent = booking_services.hold_seats(event=event, seat_labels=labels, **buyer(n)).intent
    payment = payment_services.ensure_order(intent=intent)
    paid = pay(settings.RAZORPAY_API_URL, payment.order_id).json()
    settlement = payment_services.record_capture(order_id=payment.order_id, payment_id=paid["razorpay_payment_id"])
    assert settlement.booking is not None, settlement
    return settlement.booking


def emulator_refunds(booking: Booking) -> list[dict]:
    """The refunds Razorpay (the emulator) made of the booking's payment, asked through the SDK."""
    payment_id = Payment.objects.get(intent_id=booking.intent_id).payment_id
    return gateway.client().payment.fetch_multiple_refund(payment_id)["items"]
