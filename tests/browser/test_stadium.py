"""The seat map in a real headless Chromium (Debian's, driven by Playwright) against a live server:
a 50,000-seat stadium on a phone, chosen and held with the keyboard alone; a seat taken meanwhile;
and the form that works without JavaScript."""

import re
import time

import pytest
from playwright.sync_api import expect

from apps.booking import services
from apps.booking.models import BookingIntent
from tests.browser.conftest import shot
from tests.factories import buyer, make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
FIRST_VIEW_MS = 1000


def stadium():
    """50,000 seats: 10 sections of 100 rows of 50 (rows A, B, ... ALL)."""
    event = make_event(rows=100, seats_per_row=50, name="Stadium")
    event.sections.update(name="Section 1")
    tiers = [(f"Section {n}", 100, 150000 - n * 10000) for n in range(2, 11)]
    services.generate_seat_grid(event=event, seats_per_row=50, tiers=tiers)
    return event


def first_view(page, url: str) -> int:
    """Open the seat page; the milliseconds from navigation start until seatmap.js drew the first
    view (its `data-ready` mark). The mark is read with plain evaluations, not a Playwright selector
    wait: that would inject Playwright's own script into the page, ~50 ms of a throttled main thread
    that a real phone does not spend."""
    page.goto(url, wait_until="commit")
    deadline = time.monotonic() + 15
    while (ready := page.evaluate("document.getElementById('seatmap')?.dataset.ready")) is None:
        assert time.monotonic() < deadline, "the seat map never drew its first view"
        time.sleep(0.02)
    return int(ready)


def new_buyer_first_view(page, url: str) -> int:
    try:
        return first_view(page, url)
    finally:
        page.context.close()


def test_a_buyer_holds_two_stadium_seats_with_the_keyboard_on_a_phone(open_page, live_server, gateway_url):
    event = stadium()
    row = services.row_label_for(200)  # the first row of section 3
    services.hold_seats(event=event, seat_labels=[f"{row}-1", f"{row}-2", f"{row}-3"], **buyer(9))
    url = f"{live_server.url}/events/{event.slug}/seats/"

    page = open_page(PHONE)
    cold_ms = first_view(page, url)  # the first visitor builds the documents
    warm_ms = first_view(page, url)  # everyone after gets them from Redis (and their browser a 304)
    # New buyers (empty browser caches); the median of three. Each new buyer's page is closed once
    # measured: a phone runs one page, not the earlier samples' pages polling beside it. The issue's
    # bound (1 s at a phone's size) is asserted; a map that drew all 50,000 seats would take seconds.
    # The phone's slower CPU (Chromium's 4x throttling) is bench/holds.py's figure, not a timed test:
    # on this 2-core machine under the whole suite it swings from 0.4 to 1.1 s.
    new_ms = sorted(new_buyer_first_view(open_page(PHONE), url) for _ in range(3))
    slow_ms = sorted(new_buyer_first_view(open_page(PHONE, cpu_slowdown=4), url) for _ in range(3))
    print(
        f"first view of 50,000 seats at 390x844: cold {cold_ms} ms, warm {warm_ms} ms, "
        f"new buyers {new_ms} ms, new buyers 4x CPU {slow_ms} ms"
    )
    assert warm_ms <= FIRST_VIEW_MS and new_ms[1] <= FIRST_VIEW_MS
    expect(page.locator("#sm-pl-" + str(event.sections.get(name="Section 3").id))).to_have_text("4,997 of 5,000 left")
    print("screenshot", shot(page, "stadium-phone-1-overview"))

    # Pick section 3 with the keyboard: from section 1's button, Tab twice, Enter.
    page.get_by_role("button", name=re.compile(r"^Section 1 ")).focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text(re.compile(r"^Section 3 "))
    began = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_selector("#seatmap[data-section-ready]", state="attached")
    section_ms = round((time.perf_counter() - began) * 1000)
    print(f"section of 5,000 seats drawn {section_ms} ms after Enter")
    expect(page.locator("#sm-seats .sm-seat")).to_have_count(5000)
    expect(page.get_by_role("checkbox", name=f"Row {row} seat 1, ₹1,200, held")).to_have_attribute(
        "aria-disabled", "true"
    )

    # Into the seats: Tab lands on the first free seat; Space takes it, arrow right, Enter takes the next.
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("aria-label", f"Row {row} seat 4, ₹1,200, available")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    expect(page.locator(":focus")).to_have_attribute("aria-label", f"Row {row} seat 5, ₹1,200, available")
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")  # moving on chooses nothing
    expect(page.locator('.sm-seat[aria-checked="true"]')).to_have_count(2)
    expect(page.locator("#sm-chosen")).to_have_text(f"2 seats: {row}-4, {row}-5 · ₹2,400")
    # Fifty seats a row are wider than a phone: the page says so; the bar (total, Hold) stays on screen.
    expect(page.locator("#sm-scroll-hint")).to_be_visible()
    expect(page.get_by_role("button", name="Hold seats")).to_be_in_viewport(ratio=1)
    page.keyboard.press("ArrowUp")
    print("screenshot", shot(page, "stadium-phone-2-section", full_page=False))

    # The buyer's details, then the hold, all from the keyboard: the next Tab stop after the seats is the form.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("name", "name")
    page.keyboard.type("Asha Rao")
    page.keyboard.press("Tab")
    page.keyboard.type("asha@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("+91 98765 43210")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Hold seats for 8 minutes")
    page.keyboard.press("Enter")
    page.wait_for_url("**/checkout/**")
    expect(page.get_by_role("button", name="Pay")).to_be_visible()
    assert page.locator("#countdown").is_visible() and f"{row}-4" in page.content()
    intent = BookingIntent.objects.get(buyer_email="asha@example.com")
    assert sorted(intent.seats.values_list("label", flat=True)) == [f"{row}-4", f"{row}-5"]
    print("screenshot", shot(page, "stadium-phone-3-checkout", full_page=False))

    desktop = open_page(DESKTOP)
    first_view(desktop, url + f"#section-{event.sections.get(name='Section 3').id}")
    desktop.wait_for_selector("#seatmap[data-section-ready]", state="attached")
    expect(desktop.get_by_role("checkbox", name=f"Row {row} seat 4, ₹1,200, held")).to_be_visible()
    print("screenshot", shot(desktop, "stadium-desktop-section", full_page=False))


def test_a_seat_taken_meanwhile_is_named_and_the_map_refreshed(open_page, live_server):
    event = make_event()
    page = open_page(DESKTOP)
    first_view(page, f"{live_server.url}/events/{event.slug}/seats/")
    page.get_by_role("checkbox", name="Row A seat 1, ₹1,500, available").click()
    page.get_by_role("checkbox", name="Row A seat 2, ₹1,500, available").click()
    page.fill('input[name="name"]', "Asha Rao")
    page.fill('input[name="email"]', "asha@example.com")
    page.fill('input[name="phone"]', "+91 98765 43210")
    services.hold_seats(event=event, seat_labels=["A-2", "B-7"], **buyer(5))  # someone else, meanwhile
    page.get_by_role("button", name="Hold seats").click()

    expect(page.locator("#sm-error")).to_have_text("Sorry, these seats were just taken: A-2. Choose other seats.")
    expect(page.get_by_role("checkbox", name="Row A seat 2, ₹1,500, held")).to_have_attribute("aria-checked", "false")
    # The availability was fetched again: B-7, which this page had never seen taken, shows held too.
    expect(page.get_by_role("checkbox", name="Row B seat 7, ₹1,500, held")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#sm-chosen")).to_have_text("1 seat: A-1 · ₹1,500")
    shot(page, "seatmap-conflict")
    page.get_by_role("checkbox", name="Row A seat 3, ₹1,500, available").click()
    page.get_by_role("button", name="Hold seats").click()
    page.wait_for_url("**/checkout/**")
    intent = BookingIntent.objects.get(buyer_email="asha@example.com")
    assert sorted(intent.seats.values_list("label", flat=True)) == ["A-1", "A-3"]


def test_without_javascript_the_form_holds_seats(open_page, live_server):
    event = make_event()
    page = open_page(PHONE, java_script_enabled=False)
    page.goto(f"{live_server.url}/events/{event.slug}/seats/")
    page.get_by_role("link", name="All seats").click()
    page.check('input[name="seat"][value="A-1"]', force=True)
    page.check('input[name="seat"][value="A-2"]', force=True)
    page.fill('input[name="name"]', "Asha Rao")
    page.fill('input[name="email"]', "asha@example.com")
    page.fill('input[name="phone"]', "+91 98765 43210")
    shot(page, "seatmap-no-javascript", full_page=False)
    page.get_by_role("button", name="Hold seats").click()
    page.wait_for_url("**/checkout/**")
    intent = BookingIntent.objects.get(buyer_email="asha@example.com")
    assert sorted(intent.seats.values_list("label", flat=True)) == ["A-1", "A-2"]
