"""Payment, honestly told, in a real browser: a buyer whose bank page hangs (the emulator's late
payment) is never told the payment was cancelled, is told to wait for the bank, cannot pay twice,
and reaches the ticket by itself. And the checkout's countdown speaks at most once a minute."""

import re
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.booking.models import Booking, BookingIntent
from apps.payments.models import Payment
from devstack.emulator import Emulator
from tests.browser.conftest import shot
from tests.browser.test_journey import hold_two_seats
from tests.conftest import EMULATOR_REDIS
from tests.factories import make_event
from tests.processes import product_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LATE_DELAY_SECONDS = 8  # long enough that the page is seen waiting even on a loaded machine
WAITING = "Waiting for your bank to confirm the payment"

# Runs in the page before its own scripts (through the browser's debugging protocol, so the site's
# Content-Security-Policy does not apply): reports the page's text every time it changes, so a
# message shown for a moment only is seen too.
WATCH_TEXT = """
(() => {
  const report = () => document.body && window.reportText(location.pathname, document.body.innerText);
  new MutationObserver(report).observe(document, {subtree: true, childList: true, characterData: true});
  document.addEventListener("DOMContentLoaded", report);
})();
"""


@pytest.fixture(scope="module")
def late_emulator(live_server, tmp_path_factory):
    """The emulator with a short --late-delay: a late payment is captured a few seconds after it is made."""
    env = product_env(
        REDIS_URL=EMULATOR_REDIS, RAZORPAY_EMULATOR_WEBHOOK_URL=f"{live_server.url}/payments/razorpay/webhook/"
    )
    log = tmp_path_factory.mktemp("late-emulator") / "emulator.log"
    args = ["--late-delay", str(LATE_DELAY_SECONDS), "--backoff-base", "0.2"]
    with Emulator(env, log, args=args) as process:
        yield process.url


@pytest.fixture
def late_gateway(late_emulator, settings):
    """Point the app at it, with a clean state. The switches are reset to this emulator's own
    defaults: they live in Redis, which the other emulator (tests/conftest.py) shares."""
    settings.RAZORPAY_API_URL = late_emulator
    settings.RAZORPAY_CHECKOUT_JS = f"{late_emulator}/v1/checkout.js"
    httpx.post(f"{late_emulator}/_emulator/reset", timeout=5).raise_for_status()
    faults = httpx.post(f"{late_emulator}/_emulator/faults", json={"reset": True}, timeout=5).json()
    assert faults["late_delay"] == LATE_DELAY_SECONDS
    return late_emulator


def test_a_late_payment_waits_for_the_bank_and_reaches_the_ticket_by_itself(page, live_server, late_gateway):
    seen: list[tuple[str, str]] = []
    page.expose_binding("reportText", lambda source, path, text: seen.append((path, text)))
    page.add_init_script(WATCH_TEXT)
    event = make_event()
    hold_two_seats(page, live_server, event)
    expect(page.locator("#checkout-heading")).to_be_focused()  # after the hold, focus starts at the heading

    page.get_by_role("button", name="Pay").click()
    modal = page.frame_locator("#rzp-emu-frame")
    modal.locator("#rzp-emu-pay-late").click()  # "Bank page hangs (late payment)"
    expect(modal.locator("#rzp-emu-status")).to_contain_text("Waiting for your bank")
    modal.locator("#rzp-emu-close").click()  # the buyer gives up on the window

    expect(page.locator("#pay-status")).to_contain_text(WAITING)
    expect(page.get_by_role("button", name="Pay")).to_be_disabled()  # no second payment offered
    shot(page, "payment-late-waiting")
    assert Booking.objects.count() == 0  # it really is still waiting: the bank has not answered
    assert Payment.objects.get().status == Payment.Status.ATTEMPTED

    page.wait_for_url("**/bookings/**", timeout=30_000)  # by itself: nobody touches the page

    booking = Booking.objects.get()
    assert booking.reference in page.content()
    shot(page, "payment-late-ticket")
    assert Payment.objects.get().status == Payment.Status.CAPTURED
    checkout_texts = [text for path, text in seen if path.startswith("/checkout/")]
    assert any(WAITING in text for text in checkout_texts)
    cancelled = [text for text in checkout_texts if re.search(r"cancel", text, re.IGNORECASE)]
    assert not cancelled, cancelled  # over the whole time, not only at the end


def test_the_countdown_speaks_once_a_minute_not_every_second(page, live_server, late_gateway):
    event = make_event()
    hold_two_seats(page, live_server, event)
    announce = page.locator("#countdown-announce")
    timer = page.locator("#countdown")
    first = timer.inner_text()
    expect(timer).not_to_have_text(first)  # the visual timer moves every second...
    expect(announce).to_have_text("")  # ...and says nothing between whole minutes
    # A hold with a minute and a few seconds left: the last minute is announced once, on the minute.
    intent = BookingIntent.objects.get()
    BookingIntent.objects.filter(pk=intent.pk).update(expires_at=timezone.now() + timedelta(seconds=63))
    page.reload()
    expect(announce).to_have_text("")
    expect(announce).to_have_text(re.compile(r"^1 minute left"), timeout=10_000)
    said = announce.inner_text()
    page.wait_for_timeout(3000)
    assert announce.inner_text() == said  # not repeated, not counting seconds
    assert re.fullmatch(r"0:5\d", timer.inner_text())
