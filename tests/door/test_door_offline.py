"""The door page's script in Debian's Chromium at phone size (390x844), as door staff, codes typed
as a handheld scanner types them. Online it asks the server (JSON, no page load) and answers in
large type. Offline it answers itself from the signed codes and the manifest, queues what it let
in (localStorage: a reload keeps it), and once back online syncs the queue and says which scans
were duplicates. Each answer is kept as a screenshot (test-output/screenshots/door-*.png).

Not covered: a "Cancelled" answer. This branch's bookings have no cancelled state yet (issue 12,
section 2 adds it); the page already shows one when the server answers `cancelled`."""

import re

import pytest
from django.core.signals import request_started
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from apps.booking import links, services
from apps.booking.models import BookedSeat
from apps.booking.templatetags.booking_tags import event_clock
from tests.browser.axe import blocking_violations
from tests.browser.conftest import shot
from tests.door.test_door_page import door_staff
from tests.factories import make_event
from tests.payments.test_audit import audit, paid_booking

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}


def codes(booking) -> dict[str, str]:
    return {admits.removeprefix("Seat "): code for admits, code in links.gate_codes(booking)}


def door_page(open_page, live_server, event):
    page = open_page(PHONE)
    staff = door_staff()
    page.context.add_cookies([{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}])
    page.goto(f"{live_server.url}{reverse('booking:door', args=[event.slug])}")
    page.fill("#door-gate", "Gate 2")
    return page


def scan(page, code: str) -> None:
    page.fill("#door-code", code)
    page.keyboard.press("Enter")  # as a handheld scanner ends its code


def checked_in(event) -> dict[str, tuple]:
    return {
        b.seat.label: (b.checked_in_at, b.checked_in_gate)
        for b in BookedSeat.objects.select_related("seat").filter(seat__event=event, checked_in_at__isnull=False)
    }


def test_online_the_page_asks_the_server_and_answers_in_large_type(open_page, live_server):
    event, other = make_event(name="Monsoon Nights"), make_event()
    mine = codes(paid_booking(event, ["A-1", "A-2"], 1))
    elsewhere = codes(paid_booking(other, ["A-1"], 2))["A-1"]
    page = door_page(open_page, live_server, event)
    expect(page.locator("#door-offline-ready")).to_be_visible()
    page.evaluate("window.sameDocument = true")  # a page load would forget it
    found = {}
    for name, typed, answer, colour in [
        ("json-green", mine["A-1"], "Seat A-1, Buyer 1.", "door-green"),
        ("json-already-in", mine["A-1"], "Already checked in at ", "door-red"),
        ("json-other-event", elsewhere, "Not a ticket for this event", "door-red"),
        ("json-not-a-ticket", "HELLO-123", "Not a ticket", "door-red"),
    ]:
        scan(page, typed)
        expect(page.locator("#door-answer .door-big")).to_contain_text(answer)
        expect(page.locator("#door-answer")).to_have_class(f"door-answer {colour}")
        expect(page.locator("#door-answer")).to_be_focused()
        expect(page.locator("#door-answer .door-offline")).to_have_count(0)
        if name == "json-already-in":
            at, gate = checked_in(event)["A-1"]
            expect(page.locator("#door-answer .door-big")).to_have_text(
                f"Already checked in at {event_clock(at, event)} at {gate}"
            )
        if violations := blocking_violations(page):
            found[name] = violations
        shot(page, f"door-{name}")
    assert page.evaluate("window.sameDocument") is True  # answered by the script, not a form post
    assert page.input_value("#door-gate") == "Gate 2" and page.input_value("#door-code") == ""
    assert list(checked_in(event)) == ["A-1"]

    # The phone thinks it is online but the request goes nowhere (a dead Wi-Fi): it answers
    # itself, queues the scan, and syncs it once the server answers again.
    door_path = reverse("booking:door", args=[event.slug])
    page.route(f"**{door_path}", lambda route: route.abort() if route.request.method == "POST" else route.fallback())
    scan(page, mine["A-2"])
    expect(page.locator("#door-answer .door-big")).to_have_text("Seat A-2, Buyer 1.")
    expect(page.locator("#door-answer .door-offline")).to_be_visible()
    expect(page.locator("#door-sync")).to_have_text("1 scan waiting to sync.")
    page.unroute(f"**{door_path}")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#door-sync")).to_have_text("Synced 1 scan.")
    assert sorted(checked_in(event)) == ["A-1", "A-2"]
    assert not found, found


def test_offline_the_phone_answers_queues_and_reports_the_duplicate_when_back(open_page, live_server):
    event, other = make_event(name="Monsoon Nights"), make_event()
    mine = codes(paid_booking(event, ["A-1", "A-2", "A-3", "A-4"], 1))
    elsewhere = codes(paid_booking(other, ["A-1"], 2))["A-1"]
    page = door_page(open_page, live_server, event)
    expect(page.locator("#door-offline-ready")).to_contain_text("Ready to scan offline: 4 seats known")
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # the page is kept for offline

    # The network goes. Meanwhile another gate, still online, lets A-2 in: this phone cannot know.
    first_in = services.check_in(event=event, code=mine["A-2"], gate="Gate 1")
    page.context.set_offline(True)
    page.wait_for_function("!navigator.onLine")
    found = {}
    for name, typed, answer, colour in [
        ("offline-green", mine["A-1"], "Seat A-1, Buyer 1.", "door-green"),
        ("offline-repeat", mine["A-1"], "Already scanned at this gate at ", "door-red"),
        (None, mine["A-2"], "Seat A-2, Buyer 1.", "door-green"),
        (None, mine["A-3"], "Seat A-3, Buyer 1.", "door-green"),
        ("offline-other-event", elsewhere, "Not a ticket for this event", "door-red"),
        ("offline-forged", mine["A-4"].replace(".A-4.", ".A-1."), "Not a ticket", "door-red"),
    ]:
        scan(page, typed)
        expect(page.locator("#door-answer .door-big")).to_contain_text(answer)
        expect(page.locator("#door-answer")).to_have_class(f"door-answer {colour}")
        expect(page.locator("#door-answer .door-offline")).to_have_text("Offline: will sync when the network is back.")
        if name == "offline-repeat":  # the phone's own clock, on the venue's zone: "19:02 IST"
            zone = event_clock(timezone.now(), event).split()[-1]
            repeat = re.compile(rf"Already scanned at this gate at \d\d:\d\d {zone}")
            expect(page.locator("#door-answer .door-big")).to_have_text(repeat)
        if name:
            if violations := blocking_violations(page):
                found[name] = violations
            shot(page, f"door-{name}")
    expect(page.locator("#door-sync")).to_have_text("3 scans waiting to sync.")
    assert list(checked_in(event)) == ["A-2"]  # nothing reached the server

    # Still offline, the page is reloaded (a locked phone, a discarded tab): the service worker
    # serves the kept page, the queue and the gate are still there, and scanning goes on.
    reached = []
    request_started.connect(record := lambda sender, environ, **kw: reached.append(environ["PATH_INFO"]), weak=False)
    try:
        assert page.reload().from_service_worker
    finally:
        request_started.disconnect(record)
    page_path = reverse("booking:door", args=[event.slug])
    # The page and its files came from the phone's cache. (Chromium's offline emulation does not
    # always cover the service worker's own fetches: the page's manifest refresh may get through;
    # what must not is the page itself.)
    assert not [path for path in reached if path == page_path or path.startswith("/static/")], reached
    expect(page.locator("#door-sync")).to_have_text("3 scans waiting to sync.")
    assert page.input_value("#door-gate") == "Gate 2"  # the gate typed last, kept on the phone
    scan(page, mine["A-3"])
    expect(page.locator("#door-answer .door-big")).to_contain_text("Already scanned at this gate at ")
    shot(page, "door-offline-reloaded")
    back_online = timezone.now()

    # Back online, but the sync does not get through: the queue is kept.
    page.route("**/sync/", lambda route: route.abort())
    page.context.set_offline(False)
    page.wait_for_function("navigator.onLine")
    expect(page.locator("#door-sync")).to_have_text("3 scans waiting to sync.")
    assert list(checked_in(event)) == ["A-2"]

    # Now it gets through.
    page.unroute("**/sync/")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    report = (
        "Synced 3 scans. 1 scan was a duplicate: "
        f"Seat A-2 (already checked in at {event_clock(first_in.checked_in_at, event)} at Gate 1)."
    )
    expect(page.locator("#door-sync")).to_have_text(report)
    shot(page, "door-synced")
    assert page.evaluate(f"JSON.parse(localStorage.getItem('surge.door.{event.id}.queue'))") == []

    request_started.connect(record, weak=False)
    try:
        page.reload()  # online, the worker asks the server first: never a stale page
    finally:
        request_started.disconnect(record)
    assert page_path in reached, reached

    seats = checked_in(event)
    assert {label: gate for label, (_, gate) in seats.items()} == {"A-1": "Gate 2", "A-2": "Gate 1", "A-3": "Gate 2"}
    assert seats["A-2"][0] == first_in.checked_in_at  # the first gate keeps its check-in
    assert seats["A-1"][0] < seats["A-3"][0] <= back_online  # the offline scans' own times
    code, output = audit()
    assert code == 0, output
    assert not found, found


def test_control_without_the_service_worker_an_offline_reload_loses_the_page(open_page, live_server):
    """The harness can tell: with service workers blocked, the same reload offline fails."""
    event = make_event()
    page = open_page(PHONE, service_workers="block")
    staff = door_staff()
    page.context.add_cookies([{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}])
    page.goto(f"{live_server.url}{reverse('booking:door', args=[event.slug])}")
    expect(page.locator("#door-offline-ready")).to_be_visible()
    page.context.set_offline(True)
    with pytest.raises(PlaywrightError, match="ERR_INTERNET_DISCONNECTED"):
        page.reload()
