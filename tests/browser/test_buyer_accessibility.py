"""Every page a buyer meets, in headless Chromium with axe-core, on a phone (390×844) and a desktop
(1280×800): no violation of serious or critical impact. The admin's pages have their own test
(tests/admin/test_admin_pages.py)."""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

from apps.booking import services
from apps.booking.models import Booking
from apps.waitingroom import tokens
from tests.browser.axe import blocking_violations
from tests.browser.conftest import shot
from tests.factories import buyer, make_event
from tests.waitingroom.conftest import open_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


class Audit:
    """Visits pages in one browser context and collects each page's blocking violations."""

    def __init__(self, browser, live_server, viewport: str, owner: str):
        self.base = live_server.url
        self.viewport = viewport
        self.context = browser.new_context(viewport=VIEWPORTS[viewport])
        self.context.add_cookies(
            [{"name": tokens.VISITOR_COOKIE, "value": tokens.visitor_cookie_value(owner), "url": self.base}]
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.found: dict[str, list[str]] = {}
        self.seen: list[str] = []

    def check(self, name: str, target=None) -> None:
        self.seen.append(name)
        if violations := blocking_violations(target or self.page):
            self.found[name] = violations

    def visit(self, name: str, path: str, status: int = 200, ready: str | None = None) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == status, (name, response and response.status)
        if ready:
            self.page.locator(ready).first.wait_for()
        self.check(name)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_buyer_page_has_no_serious_accessibility_violation(browser, live_server, gateway_url, viewport):
    event = make_event(price=10_000_000)
    soon = make_event(sale_opens_at=timezone.now() + timedelta(minutes=19))
    paused = make_event()
    open_room(soon, capacity=10, rate_per_minute=600)
    open_room(paused, capacity=10, rate_per_minute=600, paused=True)
    owner = f"axe-{viewport}"
    audit = Audit(browser, live_server, viewport, owner)
    try:
        audit.visit("event list", "/", ready=".event-list")
        audit.visit("event page", f"/events/{event.slug}/")
        audit.visit("queue (before the opening)", reverse("waitingroom:queue", args=[soon.slug]), ready="#wr-opens-in")
        audit.visit("queue (paused)", reverse("waitingroom:queue", args=[paused.slug]))
        audit.page.locator('#wr-message[data-state="paused"]').wait_for()
        audit.check("queue (paused, after its status call)")
        audit.visit("seat map", f"/events/{event.slug}/seats/", ready="#sm-seats button")
        audit.visit("seat map without JavaScript", f"/events/{event.slug}/seats/?section=all")
        audit.visit("find my tickets", reverse("booking:find_tickets"))
        audit.visit("404", "/no-such-page/", status=404)

        # The 500 page as Django's handler500 renders it (it needs no database), at a real URL.
        page_500 = server_error(RequestFactory().get("/")).content
        audit.page.route(f"{audit.base}/boom/", lambda route: route.fulfill(status=500, body=page_500))
        audit.visit("500", "/boom/", status=500)

        held = services.hold_seats(event=event, seat_labels=["A-1", "A-2"], owner=owner, **buyer(1))
        checkout = reverse("payments:checkout", args=[held.intent.id])
        audit.visit("checkout", checkout, ready="#pay-button")
        shot(audit.page, f"a11y-{viewport}-checkout")
        audit.visit("release question", checkout + "?release=confirm", ready="#release-heading")
        audit.visit("checkout again", checkout, ready="#pay-button")
        audit.page.get_by_role("button", name="Pay").click()
        modal = audit.page.frame_locator("#rzp-emu-frame")
        modal.locator("#rzp-emu-pay-success").wait_for()
        frame = audit.page.frame(name="rzp-emu-frame")
        assert frame is not None
        audit.check("payment modal", frame)
        modal.locator("#rzp-emu-pay-success").click()
        audit.page.wait_for_url("**/bookings/**")
        audit.page.locator("svg").first.wait_for()
        audit.check("ticket")
        shot(audit.page, f"a11y-{viewport}-ticket")
    finally:
        audit.context.close()
    assert Booking.objects.filter(intent=held.intent).exists()  # the journey really reached the ticket
    assert set(audit.seen) >= {"event list", "event page", "queue (paused)", "seat map", "checkout", "release question"}
    assert {"payment modal", "ticket", "find my tickets", "404", "500"} <= set(audit.seen)
    assert not audit.found, "\n".join(f"{name}: {v}" for name, vs in audit.found.items() for v in vs)


def test_control_the_audit_catches_a_page_with_serious_violations(browser, live_server):
    """The harness can fail: a page whose field has no label and whose text is unreadable."""
    bad = b'<!doctype html><html lang="en"><title>x</title><input type="text"><p style="color:#bbb">faint</p></html>'
    context = browser.new_context(viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        page.route(
            f"{live_server.url}/bad/", lambda route: route.fulfill(status=200, body=bad, content_type="text/html")
        )
        page.goto(f"{live_server.url}/bad/")
        found = " ".join(blocking_violations(page))
    finally:
        context.close()
    assert "label" in found and "color-contrast" in found
