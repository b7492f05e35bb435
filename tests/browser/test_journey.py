"""A buyer's whole journey in a real browser: event page → seat map → hold → pay in the modal → ticket."""

import re

import pytest
from playwright.sync_api import expect

from apps.booking.models import Booking, BookingIntent, Seat
from apps.payments.models import Payment
from apps.waitingroom import queue
from apps.waitingroom.contract import RoomKeys
from tests.browser.conftest import shot
from tests.factories import make_event
from tests.waitingroom.conftest import open_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def hold_two_seats(page, live_server, event, through_queue=False):
    page.goto(f"{live_server.url}/events/{event.slug}/")
    if through_queue:
        # The event page is the lobby: its first status call is the join, and with room inside
        # the buyer is let in and moved on to the seat map by the page itself.
        page.wait_for_url(f"**/events/{event.slug}/seats/")
        assert page.context.cookies() and any(c["name"] == "wr_vid" for c in page.context.cookies())
    else:
        shot(page, "journey-1-event")
        page.get_by_role("link", name="Choose seats").click()
    # The map seatmap.js draws: each seat a checkbox by role, named for screen readers.
    page.get_by_role("checkbox", name="Row A seat 1, ₹1,500, available").click()
    page.get_by_role("checkbox", name="Row A seat 2, ₹1,500, available").click()
    expect(page.locator("#sm-chosen")).to_have_text("2 seats: A-1, A-2 · ₹3,000")
    page.fill('input[name="name"]', "Asha Rao")
    page.fill('input[name="email"]', "asha@example.com")
    page.fill('input[name="phone"]', "+91 98765 43210")
    shot(page, "journey-2-seat-map")
    page.get_by_role("button", name="Hold seats").click()
    page.wait_for_url("**/checkout/**")
    assert page.locator("#countdown").is_visible()
    shot(page, "journey-3-checkout")


def test_buyer_pays_in_the_modal_and_gets_a_ticket(page, live_server, gateway_url):
    event = make_event()
    open_room(event, capacity=10, rate_per_minute=600)
    hold_two_seats(page, live_server, event, through_queue=True)
    page.get_by_role("button", name="Pay").click()
    page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-pay-success").wait_for()
    # Pressing Pay extended the hold once, and the countdown shows it (8 + 5 minutes).
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^12:"))  # no eval: the CSP forbids it
    shot(page, "journey-4-modal")
    page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-pay-success").click()
    page.wait_for_url("**/bookings/**")
    booking = Booking.objects.get()
    assert booking.reference in page.content()
    assert page.locator("svg").count() >= 1  # the QR code
    shot(page, "journey-5-ticket")
    assert set(Seat.objects.filter(event=event, label__in=["A-1", "A-2"]).values_list("status", flat=True)) == {"SOLD"}
    assert Payment.objects.get().status == Payment.Status.CAPTURED
    # The finished booking gave the buyer's waiting-room slot back at once.
    assert queue.client().zcard(RoomKeys.of(event.id).inside) == 0


def test_failed_payment_lets_the_buyer_retry(page, live_server, gateway_url):
    event = make_event()
    hold_two_seats(page, live_server, event)
    page.get_by_role("button", name="Pay").click()
    page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-pay-failure").click()
    page.get_by_text("Payment failed").wait_for()
    shot(page, "journey-6-failed")
    assert not Booking.objects.exists()
    assert BookingIntent.objects.get().status == BookingIntent.Status.HELD
    # Close the modal (ondismiss), then try again: this time it succeeds.
    page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-close").click()
    page.get_by_text("Payment cancelled").wait_for()
    page.get_by_role("button", name="Pay").click()
    page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-pay-success").click()
    page.wait_for_url("**/bookings/**")
    assert Booking.objects.count() == 1
