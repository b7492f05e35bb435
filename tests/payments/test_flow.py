"""Payments end to end: emulator over HTTP through the SDK, webhooks to the live server, real workers."""

import email
import hashlib
import hmac
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.booking import services as booking_services
from apps.booking.models import Booking, BookingIntent, Seat
from apps.payments import gateway, services
from apps.payments.models import Payment, Refund, WebhookEvent
from apps.waitingroom import tokens
from tests.factories import browser, buyer, make_event
from tests.payments.conftest import pay, signed_webhook, worker_env
from tests.processes import celery_worker, wait_for, web_server

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK = "/payments/razorpay/webhook/"


def held_order(event, labels, n=1, now=None):
    """A hold of browser f"browser-{n}" (see `browser`) and its Razorpay order."""
    intent = booking_services.hold_seats(
        event=event, seat_labels=labels, now=now, owner=f"browser-{n}", **buyer(n)
    ).intent
    payment = services.ensure_order(intent=intent)
    return intent, payment


def mails(tmp_path: Path) -> list[email.message.Message]:
    folder = tmp_path / "mail"
    if not folder.exists():
        return []
    found = []
    for path in folder.iterdir():
        for chunk in path.read_text().split("\n" + "-" * 79 + "\n"):
            if chunk.strip():
                found.append(email.message_from_string(chunk))
    return found


def test_checkout_creates_one_order_and_reuses_it(gateway_url):
    event = make_event()
    client = Client()
    client.post(
        f"/events/{event.slug}/hold/", {"seat": ["A-1"], "name": "A", "email": "a@example.com", "phone": "9876543210"}
    )
    intent = BookingIntent.objects.get()
    first = client.get(f"/checkout/{intent.id}/")
    assert first.status_code == 200
    body = first.content.decode()
    payment = Payment.objects.get(intent=intent)
    assert payment.order_id in body and gateway_url + "/v1/checkout.js" in body
    assert client.get(f"/checkout/{intent.id}/").status_code == 200
    assert Payment.objects.count() == 1
    remote = gateway.client().order.fetch(payment.order_id)
    assert remote["amount"] == intent.amount_paise and remote["notes"]["intent_id"] == str(intent.id)


def test_checkout_with_gateway_down_keeps_the_hold(settings):
    settings.RAZORPAY_API_URL = "http://127.0.0.1:9"
    event = make_event()
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], owner="browser-1", **buyer()).intent
    response = browser("browser-1").get(f"/checkout/{intent.id}/")
    assert response.status_code == 503 and response["Retry-After"]
    assert "not answering" in response.content.decode()
    assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.HELD
    assert not Payment.objects.exists()


def test_pay_start_extends_hold_once(gateway_url):
    event = make_event()
    intent, _ = held_order(event, ["A-1"])
    client = browser("browser-1")
    first = client.post(f"/checkout/{intent.id}/pay/start/", HTTP_ACCEPT="application/json").json()
    second = client.post(f"/checkout/{intent.id}/pay/start/", HTTP_ACCEPT="application/json").json()
    assert first["expires_at"] == second["expires_at"]
    assert BookingIntent.objects.get(pk=intent.id).expires_at - intent.expires_at == timedelta(minutes=5)


def test_verify_callback_confirms_and_bad_signature_changes_nothing(gateway_url):
    event = make_event()
    intent, payment = held_order(event, ["B-1", "B-2"])
    answer = pay(gateway_url, payment.order_id, "success")
    client = browser("browser-1")
    url = f"/checkout/{intent.id}/pay/verify/"
    tampered = {**answer, "razorpay_signature": "0" * 64}
    assert client.post(url, tampered).status_code == 400
    other_order = {**answer, "razorpay_order_id": "order_someoneelse"}
    assert client.post(url, other_order).status_code == 400
    assert not Booking.objects.exists()
    response = client.post(url, answer)
    assert response.status_code == 200 and response.json()["status"] == "confirmed"
    booking = Booking.objects.get()
    assert booking.reference in response.json()["redirect"]
    ticket = client.get(response.json()["redirect"])
    assert (
        ticket.status_code == 200 and booking.reference in ticket.content.decode() and "<svg" in ticket.content.decode()
    )
    assert client.get(f"/bookings/{booking.reference}/?key=forged").status_code == 404
    assert Payment.objects.get().status == Payment.Status.CAPTURED


def test_fifty_duplicate_webhooks_and_the_callback_race_to_one_booking(gateway_url, tmp_path):
    event = make_event()
    intent, payment = held_order(event, ["C-1", "C-2"])
    # No automatic deliveries: this test delivers the same event itself, 50 times at once.
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)
    answer = pay(gateway_url, payment.order_id, "success")
    remote = gateway.fetch_payment(answer["razorpay_payment_id"])
    body, headers = signed_webhook("payment.captured", payment=remote)
    barrier = threading.Barrier(51)
    results = []

    with (
        web_server(tmp_path=tmp_path, RAZORPAY_API_URL=gateway_url) as site,
        celery_worker(tmp_path=tmp_path, **worker_env(gateway_url), EMAIL_FILE_PATH=str(tmp_path / "mail")),
    ):
        owner = {tokens.VISITOR_COOKIE: tokens.visitor_cookie_value("browser-1")}
        checkout = httpx.get(f"{site}/checkout/{intent.id}/", cookies=owner, timeout=10)  # CSRF cookie and token
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', checkout.text).group(1)
        cookies = {"csrftoken": checkout.cookies["csrftoken"], **owner}

        def deliver():
            barrier.wait()
            results.append(httpx.post(site + WEBHOOK, content=body, headers=headers, timeout=30).status_code)

        def callback():
            barrier.wait()
            verify = httpx.post(
                f"{site}/checkout/{intent.id}/pay/verify/",
                data=answer,
                cookies=cookies,
                timeout=30,
                headers={"X-CSRFToken": token, "Accept": "application/json"},
            )
            results.append(verify.status_code)

        threads = [threading.Thread(target=deliver) for _ in range(50)] + [threading.Thread(target=callback)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == [200] * 51, results
        stored = WebhookEvent.objects.filter(event_id=headers["X-Razorpay-Event-Id"])
        assert stored.get().deliveries == 50
        wait_for(lambda: stored.get().outcome == WebhookEvent.Outcome.PROCESSED, what="webhook task")
        wait_for(lambda: len(mails(tmp_path)) >= 1, what="confirmation email")
        time.sleep(1.5)  # room for a (wrong) second email to show up
    assert Booking.objects.count() == 1
    assert len(mails(tmp_path)) == 1
    assert Booking.objects.get().reference in mails(tmp_path)[0].get_payload()[0].get_payload()
    seats = Seat.objects.filter(event=event, label__in=["C-1", "C-2"])
    assert {s.status for s in seats} == {Seat.Status.SOLD} and {s.version for s in seats} == {2}


def test_emulator_webhooks_confirm_without_the_callback(gateway_url, tmp_path):
    """The buyer closed the tab after paying: the webhook alone issues the ticket."""
    event = make_event()
    intent, payment = held_order(event, ["D-1"])
    with celery_worker(tmp_path=tmp_path, queues="default,confirmations,emails", **worker_env(gateway_url)):
        pay(gateway_url, payment.order_id, "success")
        wait_for(lambda: Booking.objects.filter(intent=intent).exists(), what="webhook-driven booking")
    types = set(WebhookEvent.objects.values_list("event_type", flat=True))
    assert {"payment.captured", "order.paid"} <= types


def test_out_of_order_events_end_right(gateway_url):
    event = make_event()
    intent, payment = held_order(event, ["A-3"])
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)
    answer = pay(gateway_url, payment.order_id, "success")
    remote = gateway.fetch_payment(answer["razorpay_payment_id"])
    order = gateway.client().order.fetch(payment.order_id)
    client = Client()
    # order.paid first, then captured, then a stale authorized, then a failure after the success.
    for name, kwargs in [
        ("order.paid", {"payment": remote, "order": order}),
        ("payment.captured", {"payment": remote}),
        ("payment.authorized", {"payment": {**remote, "status": "authorized"}}),
        ("payment.failed", {"payment": {**remote, "status": "failed", "error_reason": "late_failure"}}),
    ]:
        body, headers = signed_webhook(name, **kwargs)
        assert client.post(WEBHOOK, body, content_type="application/json", headers=headers).status_code == 200
        services.process_webhook(webhook_id=WebhookEvent.objects.get(event_id=headers["X-Razorpay-Event-Id"]).pk)
    assert Payment.objects.get().status == Payment.Status.CAPTURED
    assert Booking.objects.filter(intent=intent).count() == 1
    assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.CONFIRMED


def test_late_payment_with_seats_resold_is_refunded_and_buyer_told(gateway_url, tmp_path):
    event = make_event()
    past = timezone.now() - timedelta(hours=1)
    late = booking_services.hold_seats(event=event, seat_labels=["A-8", "A-9"], now=past, **buyer(1)).intent
    payment = services.ensure_order(intent=late)
    booking_services.expire_intents()
    booking_services.hold_seats(event=event, seat_labels=["A-9"], **buyer(2))  # resold
    with celery_worker(
        tmp_path=tmp_path,
        queues="default,confirmations,emails",
        **worker_env(gateway_url),
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
    ):
        pay(gateway_url, payment.order_id, "success")
        wait_for(lambda: Refund.objects.filter(payment=payment, refund_id__isnull=False).exists(), what="refund")
        wait_for(lambda: any("Refund" in m["Subject"] for m in mails(tmp_path)), what="refund email")
    assert BookingIntent.objects.get(pk=late.id).status == BookingIntent.Status.REFUNDED
    assert not Booking.objects.filter(intent=late).exists()
    refund = Refund.objects.get(payment=payment)
    remote = gateway.client().refund.fetch(refund.refund_id)
    assert remote["amount"] == late.amount_paise
    assert Seat.objects.get(event=event, label="A-8").status == Seat.Status.AVAILABLE


def test_late_payment_with_seats_still_free_is_confirmed(gateway_url):
    event = make_event()
    past = timezone.now() - timedelta(hours=1)
    late = booking_services.hold_seats(event=event, seat_labels=["B-8"], now=past, **buyer(1)).intent
    payment = services.ensure_order(intent=late)
    booking_services.expire_intents()
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)
    answer = pay(gateway_url, payment.order_id, "success")
    settlement = services.record_capture(order_id=payment.order_id, payment_id=answer["razorpay_payment_id"])
    assert settlement.outcome == "confirmed"
    assert Seat.objects.get(event=event, label="B-8").status == Seat.Status.SOLD


@pytest.mark.parametrize(
    "case",
    ["no signature", "bad signature", "malformed", "no event id", "unknown order", "unknown event type"],
)
def test_bad_webhooks_change_nothing(gateway_url, case):
    event = make_event()
    intent, payment = held_order(event, ["A-1"])
    entity = {"id": "pay_x1", "entity": "payment", "order_id": payment.order_id, "status": "captured", "amount": 150000}
    body, headers = signed_webhook("payment.captured", payment=entity)
    expected = 400
    if case == "no signature":
        headers.pop("X-Razorpay-Signature")
    elif case == "bad signature":
        headers["X-Razorpay-Signature"] = "f" * 64
    elif case == "malformed":
        body = b"{not json"
        headers["X-Razorpay-Signature"] = hmac.new(
            settings.RAZORPAY_WEBHOOK_SECRET.encode(), body, hashlib.sha256
        ).hexdigest()
    elif case == "no event id":
        headers.pop("X-Razorpay-Event-Id")
    elif case == "unknown order":
        body, headers = signed_webhook("payment.captured", payment={**entity, "order_id": "order_unknown"})
        expected = 200
    elif case == "unknown event type":
        body, headers = signed_webhook("subscription.charged", payment=entity)
        expected = 200
    response = Client().post(WEBHOOK, body, content_type="application/json", headers=headers)
    assert response.status_code == expected
    if expected == 200:
        services.process_webhook(webhook_id=WebhookEvent.objects.get().pk)
        assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.IGNORED
    else:
        assert not WebhookEvent.objects.exists()
    assert not Booking.objects.exists()
    assert Payment.objects.get().status == Payment.Status.CREATED
    assert BookingIntent.objects.get().status == BookingIntent.Status.HELD


def test_missed_webhook_is_recovered_by_reconciliation(gateway_url, tmp_path):
    event = make_event()
    intent, payment = held_order(event, ["C-5"])
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)
    pay(gateway_url, payment.order_id, "success")  # the buyer's browser died before the callback
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    with celery_worker(tmp_path=tmp_path, beat=True, **worker_env(gateway_url), RECONCILE_EVERY_SECONDS="1"):
        wait_for(lambda: Booking.objects.filter(intent=intent).exists(), timeout=45, what="reconciliation")
    assert Payment.objects.get().status == Payment.Status.CAPTURED


def test_authorized_but_not_captured_is_captured_by_reconciliation(gateway_url):
    event = make_event()
    intent, payment = held_order(event, ["D-5"])
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)
    answer = pay(gateway_url, payment.order_id, "success", capture=False)
    assert gateway.fetch_payment(answer["razorpay_payment_id"])["status"] == "authorized"
    assert services.reconcile_payment(payment_id=payment.pk) == "confirmed"
    assert gateway.fetch_payment(answer["razorpay_payment_id"])["status"] == "captured"
    assert Booking.objects.filter(intent=intent).exists()
