"""Payment, honestly told: the order's real state (the status endpoint and the checkout page), no
second payment while one may still go through, and a release that says what it does first.

The emulator runs as its own process and is reached through the official SDK; late payments are
made through its HTTP API exactly as its modal makes them."""

import re

import pytest

from apps.booking import services as booking_services
from apps.booking.models import Booking, BookingIntent, Seat
from apps.core.clock import now_ms
from apps.payments import gateway, services
from apps.payments.models import Payment, RemotePayment
from apps.waitingroom import queue
from apps.waitingroom.contract import RoomKeys
from tests.factories import browser, buyer, make_event
from tests.payments.conftest import pay
from tests.processes import wait_for
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"HTTP_ACCEPT": "application/json"}


def held_order(event, labels=("A-1",), owner="browser-1"):
    intent = booking_services.hold_seats(event=event, seat_labels=list(labels), owner=owner, **buyer()).intent
    return intent, services.ensure_order(intent=intent)


def urls(intent):
    base = f"/checkout/{intent.id}/"
    return {"page": base, "start": base + "pay/start/", "status": base + "pay/status/"}


def status_of(client, intent):
    response = client.get(urls(intent)["status"], **JSON)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def test_a_late_payment_is_pending_and_a_second_payment_is_refused(gateway_url):
    event = make_event()
    intent, payment = held_order(event)
    buyer_browser = browser("browser-1")
    assert buyer_browser.post(urls(intent)["start"], **JSON).status_code == 200  # Pay pressed: hold extended once
    late = pay(gateway_url, payment.order_id, "late", delay_seconds=600)  # the bank page hangs
    assert late["status"] == "pending"
    before = BookingIntent.objects.get(pk=intent.pk)

    refused = buyer_browser.post(urls(intent)["start"], **JSON)

    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "payment_pending" and "not starting another" in body["detail"]
    # Nothing changed: the hold, its seat and the order at Razorpay (still one payment, unanswered).
    after = BookingIntent.objects.get(pk=intent.pk)
    assert (after.status, after.expires_at, after.extended_at) == (before.status, before.expires_at, before.extended_at)
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.HELD
    listed = gateway.order_payments(payment.order_id)
    assert [(p["id"], p["status"]) for p in listed] == [(late["razorpay_payment_id"], "created")]
    # What was learnt is recorded: the order was attempted, by that payment, which is still open.
    recorded = Payment.objects.get(pk=payment.pk)
    assert (recorded.status, recorded.payment_id) == (Payment.Status.ATTEMPTED, late["razorpay_payment_id"])
    assert RemotePayment.objects.get(razorpay_payment_id=late["razorpay_payment_id"]).status == "created"
    # Reconciliation reads the same listing the same way (one function): waiting, nothing settled.
    assert services.reconcile_payment(payment_id=payment.pk) == "pending"
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.ATTEMPTED
    # The status endpoint and the page say the same: waiting for the bank, no Pay button.
    state = status_of(buyer_browser, intent)
    assert state["state"] == "pending" and state["can_pay"] is False and state["redirect"] is None
    page = buyer_browser.get(urls(intent)["page"]).content.decode()
    assert "Waiting for your bank to confirm the payment" in page
    assert 'id="pay-button"' not in page and "cancelled" not in page.lower()


def test_the_status_follows_a_late_payment_to_the_ticket(gateway_url):
    event = make_event()
    intent, payment = held_order(event)
    buyer_browser = browser("browser-1")
    assert buyer_browser.post(urls(intent)["start"], **JSON).status_code == 200
    pay(gateway_url, payment.order_id, "late", delay_seconds=1)
    assert status_of(buyer_browser, intent)["state"] == "pending"

    # No webhook task runs here: the buyer's own polling settles the payment Razorpay captured.
    state = wait_for(
        lambda: (lambda s: s if s["state"] == "confirmed" else None)(status_of(buyer_browser, intent)),
        timeout=20,
        interval=0.5,
        what="the late payment confirmed",
    )

    booking = Booking.objects.get(intent_id=intent.id)
    assert state["redirect"].startswith(f"/bookings/{booking.reference}/") and state["can_pay"] is False
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.CAPTURED
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.SOLD
    assert buyer_browser.get(urls(intent)["page"])["Location"] == state["redirect"]


def test_a_failed_payment_leaves_the_order_payable(gateway_url):
    event = make_event()
    intent, payment = held_order(event)
    buyer_browser = browser("browser-1")
    assert buyer_browser.post(urls(intent)["start"], **JSON).status_code == 200
    pay(gateway_url, payment.order_id, "failure")
    state = status_of(buyer_browser, intent)
    assert state == {"state": "payable", "can_pay": True, "message": state["message"], "redirect": None}
    assert buyer_browser.post(urls(intent)["start"], **JSON).status_code == 200  # paying again is allowed
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.FAILED


def test_a_fresh_order_is_answered_without_asking_razorpay(gateway_url, settings):
    event = make_event()
    intent, _ = held_order(event)
    settings.RAZORPAY_API_URL = "http://127.0.0.1:9"  # nothing listens: any call would fail
    assert status_of(browser("browser-1"), intent)["state"] == "payable"


def test_a_gateway_down_is_a_503_with_retry_after_and_offers_no_pay(gateway_url, settings):
    event = make_event()
    intent, _ = held_order(event)
    buyer_browser = browser("browser-1")
    assert buyer_browser.post(urls(intent)["start"], **JSON).status_code == 200
    settings.RAZORPAY_API_URL = "http://127.0.0.1:9"

    response = buyer_browser.get(urls(intent)["status"], **JSON)

    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert response.json()["error"] in ("gateway_unavailable", "gateway_slow", "payments_paused")
    started = buyer_browser.post(urls(intent)["start"], **JSON)
    assert started.status_code == 503 and int(started["Retry-After"]) > 0
    page = buyer_browser.get(urls(intent)["page"])
    assert page.status_code == 503 and 'id="pay-button"' not in page.content.decode()


def test_the_status_is_for_the_hold_s_owner_only(gateway_url):
    event = make_event()
    intent, _ = held_order(event)
    assert browser("browser-2").get(urls(intent)["status"], **JSON).status_code == 404


def test_release_says_what_it_does_and_asks_first(gateway_url):
    """Releasing gives the buyer's waiting-room turn back (the room listens to the release): the
    checkout says so before anything is pressed, and only the confirmation releases."""
    event = make_event()
    open_room(event, capacity=10, rate_per_minute=600)
    queue.client().zadd(RoomKeys.of(event.id).inside, {"browser-1": now_ms() + 600_000})  # admitted
    intent, _ = held_order(event)
    buyer_browser = browser("browser-1")

    page = buyer_browser.get(urls(intent)["page"]).content.decode()
    assert f'action="/checkout/{intent.id}/release/"' not in page  # no one-click release
    link = re.search(r'href="([^"]+)"[^>]*>Release these seats…', page)
    assert link and "back of the waiting line" in page
    question = buyer_browser.get(link.group(1).replace("&amp;", "&")).content.decode()
    assert "Release these seats?" in question and "back of the waiting line" in question
    assert f'action="/checkout/{intent.id}/release/"' in question and "No, keep my seats" in question
    assert BookingIntent.objects.get(pk=intent.pk).status == BookingIntent.Status.HELD

    response = buyer_browser.post(f"/checkout/{intent.id}/release/")

    assert response.status_code == 303
    assert BookingIntent.objects.get(pk=intent.pk).status == BookingIntent.Status.RELEASED
    # What the page said is what happened: the turn is over, the seat map sends the buyer to the line.
    wait_for(
        lambda: queue.client().zscore(RoomKeys.of(event.id).inside, "browser-1") is None,
        timeout=5,
        what="the slot given back",
    )
    # (The seat page's shell is anyone's; what it reads next, the availability, is what sends them.)
    assert buyer_browser.get(response["Location"]).status_code == 200
    availability = buyer_browser.get(f"/events/{event.slug}/seats/availability.json", HTTP_ACCEPT="application/json")
    assert availability.status_code == 429 and availability.json()["queue_url"] == f"/queue/{event.slug}/"


def test_checkout_names_the_event_time_with_its_zone_and_focuses_its_heading(gateway_url):
    event = make_event()
    intent, _ = held_order(event)
    page = browser("browser-1").get(urls(intent)["page"]).content.decode()
    local = event.local(event.starts_at)
    assert f"{local:%H:%M} {local.tzname()}" in page  # "19:30 IST": the event's own clock, named
    assert '<h1 id="checkout-heading" tabindex="-1" data-focus-on-load>' in page
    # The visual timer is not a live region; its announcements go to a separate polite one.
    assert re.search(r'<strong id="countdown" role="timer" data-seconds="\d+">\d+:\d{2}</strong>', page)
    assert '<p id="countdown-announce" class="sr-only" aria-live="polite" aria-atomic="true"></p>' in page
