"""Item 4 of the security issue: captures are checked against the order before anything is confirmed.

Each test attacks as the report did: a webhook signed with the (known) development webhook secret, a
verify callback signed with the (known) development key secret, over HTTP; the money side is the real
emulator reached through the official SDK."""

import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
from django.conf import settings
from django.test import Client

from apps.booking import services as booking_services
from apps.booking.models import Booking, BookingIntent, Seat
from apps.payments import gateway, services
from apps.payments import models as payment_models
from apps.payments.models import Payment, Refund, WebhookEvent
from tests.factories import buyer, make_event
from tests.payments.conftest import pay, signed_webhook
from tests.payments.test_audit import audit
from tests.security.conftest import hold_and_checkout, pay_button_shown

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK = "/payments/razorpay/webhook/"


def deliver(body: bytes, headers: dict) -> WebhookEvent:
    """Post a webhook as Razorpay would, then run the task's work (as tests/payments does)."""
    response = Client().post(WEBHOOK, body, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(event_id=headers["X-Razorpay-Event-Id"])
    try:
        services.process_webhook(webhook_id=event.pk)
    except Exception:  # noqa: BLE001 - the outcome is what the test looks at
        pass
    return WebhookEvent.objects.get(pk=event.pk)


def no_deliveries(gateway_url: str) -> None:
    """The test plays Razorpay's webhooks itself."""
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)


def test_forged_capture_for_100_usd_against_a_5000_rupee_order_never_confirms(gateway_url):
    """The report's attack: payment.captured for 100 paise in USD, a payment id Razorpay never issued."""
    event = make_event(price=500000)
    victim = Client()
    intent, payment = hold_and_checkout(victim, event, ["A-1"])
    forged = {
        "id": "pay_Forged00000001",
        "entity": "payment",
        "order_id": payment.order_id,
        "amount": 100,
        "currency": "USD",
        "status": "captured",
        "captured": True,
    }
    stored = deliver(*signed_webhook("payment.captured", payment=forged))

    assert not Booking.objects.exists()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CREATED
    assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.HELD
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.HELD
    assert pay_button_shown(victim, intent)
    assert stored.outcome == WebhookEvent.Outcome.PROCESSED and stored.detail == "rejected"
    mismatch = payment_models.CaptureMismatch.objects.get(payment=payment)
    assert mismatch.razorpay_payment_id == "pay_Forged00000001" and not mismatch.refund_due
    assert "amount" in mismatch.problem and "currency" in mismatch.problem
    assert not Refund.objects.exists()  # no money reached us: nothing to return


def test_forged_capture_naming_a_real_payment_of_another_order_never_confirms(gateway_url):
    """The entity claims the victim's order, but Razorpay says the payment belongs to the attacker's own."""
    no_deliveries(gateway_url)
    event = make_event(price=500000, rows=1)
    cheap = make_event(price=100, rows=1)
    intent, payment = hold_and_checkout(Client(), event, ["A-1"], n=1)
    _, attacker_payment = hold_and_checkout(Client(), cheap, ["A-1"], n=2)
    paid = pay(gateway_url, attacker_payment.order_id)
    real = gateway.fetch_payment(paid["razorpay_payment_id"])
    stored = deliver(*signed_webhook("payment.captured", payment={**real, "order_id": payment.order_id}))

    assert not Booking.objects.filter(intent=intent).exists()
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CREATED
    assert stored.detail == "rejected"
    mismatch = payment_models.CaptureMismatch.objects.get(payment=payment)
    assert not mismatch.refund_due  # the money is on the attacker's own order, not ours to return
    assert not Refund.objects.exists()


def test_real_money_that_does_not_match_the_order_is_refunded_and_audited(gateway_url):
    """Razorpay captured 1 rupee on our order for a 1,500 rupee hold (say a partial payment): no ticket,
    the rupee goes back through the SDK with an idempotency key, and the audit watches it."""
    no_deliveries(gateway_url)
    event = make_event()
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer()).intent
    order = gateway.create_order(amount_paise=100, currency="INR", receipt=str(intent.id), notes={})
    payment = Payment.objects.create(intent=intent, order_id=order["id"], amount_paise=intent.amount_paise)
    paid = pay(gateway_url, order["id"])
    real = gateway.fetch_payment(paid["razorpay_payment_id"])
    assert real["status"] == "captured" and real["amount"] == 100

    stored = deliver(*signed_webhook("payment.captured", payment=real))

    assert not Booking.objects.exists()
    assert Payment.objects.get(pk=payment.pk).status != Payment.Status.CAPTURED
    assert stored.detail == "refunded"
    refund = Refund.objects.get(payment=payment)
    assert refund.razorpay_payment_id == real["id"] and refund.amount_paise == 100
    assert refund.refund_id and refund.idempotency_key == f"full-{real['id']}"
    assert gateway.client().refund.fetch(refund.refund_id)["amount"] == 100
    assert payment_models.CaptureMismatch.objects.get(payment=payment).refund_due
    code, output = audit()
    assert code == 0, output
    assert "0  mismatched captures not refunded" in output

    # Had the refund never been asked for, the audit would say so.
    Refund.objects.all().delete()
    code, output = audit()
    assert code == 1 and "1  mismatched captures not refunded" in output


def forged_verify(order_id: str, payment_id: str) -> dict:
    """A Checkout handler response signed with the key secret (the development default is public)."""
    message = f"{order_id}|{payment_id}".encode()
    signature = hmac.new(settings.RAZORPAY_KEY_SECRET.encode(), message, hashlib.sha256).hexdigest()
    return {"razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}


@pytest.mark.parametrize("which", ["another order's payment", "a payment Razorpay never issued"])
def test_verify_signed_for_a_payment_of_another_order_does_not_mark_the_order_authorized(gateway_url, which):
    """Posted from the buyer's own session (so an ownership check cannot hide this defence): a
    signature over our order id and a payment that is not on it must change nothing."""
    no_deliveries(gateway_url)
    event = make_event(price=500000, rows=1)
    victim = Client()
    intent, payment = hold_and_checkout(victim, event, ["A-1"], n=1)
    if which == "another order's payment":
        cheap = make_event(price=100, rows=1)
        _, attacker_payment = hold_and_checkout(Client(), cheap, ["A-1"], n=2)
        payment_id = pay(gateway_url, attacker_payment.order_id)["razorpay_payment_id"]
    else:
        payment_id = "pay_NeverIssued0001"

    response = victim.post(f"/checkout/{intent.id}/pay/verify/", forged_verify(payment.order_id, payment_id))

    assert response.status_code == 400
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CREATED and payment.payment_id == ""
    assert pay_button_shown(victim, intent)
    assert not Booking.objects.filter(intent=intent).exists()
    # The genuine payment still goes through afterwards.
    genuine = pay(gateway_url, payment.order_id)
    answer = victim.post(f"/checkout/{intent.id}/pay/verify/", genuine)
    assert answer.status_code == 200 and answer.json()["status"] == "confirmed"


def signed(body: bytes) -> dict:
    return {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": hmac.new(settings.RAZORPAY_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "X-Razorpay-Event-Id": f"evt_{uuid.uuid4().hex[:14]}",
    }


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([], id="payload is a list"),
        pytest.param({"payment": "pay_x"}, id="payment is a string"),
        pytest.param({"payment": {"entity": ["pay_x"]}}, id="entity is a list"),
        pytest.param({"payment": {"entity": {"id": 7, "order_id": "order_x"}}}, id="id is a number"),
        pytest.param({"payment": {"entity": {"id": "pay_x", "order_id": "ORDER", "amount": "100"}}}, id="amount text"),
        pytest.param({"payment": {"entity": {"order_id": "ORDER"}}}, id="no payment id"),
    ],
)
def test_signed_webhook_with_a_malformed_payload_is_400_and_stored_as_failed(payload, gateway_url):
    event = make_event()
    intent, payment = hold_and_checkout(Client(), event, ["A-1"])
    text = json.dumps(
        {
            "entity": "event",
            "event": "payment.captured",
            "contains": ["payment"],
            "payload": payload,
            "created_at": int(time.time()),
        }
    ).replace("ORDER", payment.order_id)
    body = text.encode()
    headers = signed(body)

    first = Client().post(WEBHOOK, body, content_type="application/json", headers=headers)
    again = Client().post(WEBHOOK, body, content_type="application/json", headers=headers)

    assert first.status_code == 400 and again.status_code == 400
    stored = WebhookEvent.objects.get(event_id=headers["X-Razorpay-Event-Id"])
    assert stored.outcome == WebhookEvent.Outcome.MALFORMED and stored.get_outcome_display().startswith("Failed")
    assert stored.deliveries == 2 and stored.detail
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CREATED
    assert not Booking.objects.exists()
