"""The seat map for a buyer with a keyboard alone or on a phone (issue 15), in Debian's headless
Chromium against a live server: from the event page to the Pay button with the keys counted; the
seats as one Tab stop moved through with the arrow keys; the bar with the seats, the total and the
Hold button on a 390x844 screen; touch targets of at least 24x24 CSS px; and a refused hold that
takes focus to its message and marks the fields (with and without JavaScript)."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from apps.booking import services
from apps.booking.models import BookingIntent
from tests.browser.conftest import shot
from tests.factories import buyer, make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
MAX_NAVIGATION_KEYS = 40  # the limit, from the event page to the Pay button
MIN_TARGET_PX = 24  # WCAG 2.2, 2.5.8 Target Size (Minimum)
BLOCKING = {"serious", "critical"}
ASHA = {"name": "Asha Rao", "email": "asha@example.com", "phone": "+91 98765 43210"}


class Keyboard:
    """The keyboard, every key counted. A key pressed to move, choose or submit (Tab, Shift+Tab, an
    arrow, Space, Enter) counts one in `navigation`; text typed into a field counts one per
    character in `typing`. The issue's limit of 40 is for navigation; both numbers are reported."""

    def __init__(self, page):
        self.page = page
        self.navigation = 0
        self.typing = 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.navigation += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.typing += len(text)

    def tab_to(self, target, limit: int = 12) -> int:
        """Tab (each press counted) until `target` has the focus; how many presses it took."""
        for presses in range(1, limit + 1):
            self.press("Tab")
            if has_focus(target):
                return presses
        raise AssertionError(f"{target} not reached in {limit} Tab presses; focus is on {focused_html(self.page)}")


def has_focus(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def focused_html(page) -> str:
    return page.evaluate("document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : null")


def focused_seat(page) -> str:
    return page.locator(":focus").get_attribute("aria-label")


def open_seat_map(page, live_server, event):
    page.goto(f"{live_server.url}/events/{event.slug}/seats/")
    page.wait_for_selector("#seatmap[data-ready]", state="attached")


def two_sections():
    """40 seats in one view: Standard (rows A, B at ₹1,500) and Balcony (rows C, D at ₹800)."""
    event = make_event(rows=2, seats_per_row=10)
    services.generate_seat_grid(event=event, seats_per_row=10, tiers=[("Balcony", 2, 80000)])
    return event


def test_from_the_event_page_to_the_pay_button_with_the_keyboard_alone(page, live_server, gateway_url):
    """Counting rule: every key press is counted, one per press (Tab, Space, an arrow, Enter); the
    buyer's details are typed, one count per character, and reported apart from the navigation keys,
    which the issue limits to 40. The run ends by pressing Enter on Pay, which opens the payment window."""
    event = make_event()
    keys = Keyboard(page)
    page.goto(f"{live_server.url}/events/{event.slug}/")
    keys.tab_to(page.get_by_role("link", name="Choose seats"))
    keys.press("Enter")
    page.wait_for_url(f"**/events/{event.slug}/seats/")
    page.wait_for_selector("#seatmap[data-ready]", state="attached")
    on_event_page = keys.navigation

    # The seats are one Tab stop, on the first free seat; Space chooses, an arrow moves, Enter chooses.
    keys.tab_to(page.locator("#sm-seats .sm-seat").first)
    assert focused_seat(page) == "Row A seat 1, ₹1,500, available"
    keys.press("Space")
    keys.press("ArrowRight")
    keys.press("Enter")
    expect(page.locator("#sm-chosen")).to_have_text("2 seats: A-1, A-2 · ₹3,000")
    # The next Tab stop after the seats is the buyer's details, then the bar's Hold button.
    keys.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("name", "name")
    keys.type(ASHA["name"])
    keys.press("Tab")
    keys.type(ASHA["email"])
    keys.press("Tab")
    keys.type(ASHA["phone"])
    keys.press("Tab")
    expect(page.locator(":focus")).to_have_text("Hold seats for 8 minutes")
    keys.press("Enter")
    page.wait_for_url("**/checkout/**")
    on_seat_map = keys.navigation - on_event_page

    pay = page.get_by_role("button", name="Pay")
    keys.tab_to(pay)
    keys.press("Enter")
    page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-pay-success").wait_for()
    on_checkout = keys.navigation - on_event_page - on_seat_map
    print(
        f"keyboard only, event page to Pay: {keys.navigation} navigation keys (event page {on_event_page}, "
        f"seat map {on_seat_map}, checkout {on_checkout}) + {keys.typing} typed characters "
        f"= {keys.navigation + keys.typing} key presses in all"
    )
    assert keys.navigation <= MAX_NAVIGATION_KEYS
    assert on_seat_map <= 15  # the seats are one Tab stop: no walk through 40 of them
    intent = BookingIntent.objects.get(buyer_email=ASHA["email"])
    assert sorted(intent.seats.values_list("label", flat=True)) == ["A-1", "A-2"]


def test_the_seats_are_one_tab_stop_and_the_arrow_keys_cross_rows_and_sections(page, live_server):
    event = two_sections()
    open_seat_map(page, live_server, event)
    assert page.locator('[role="grid"]').count() == 2  # a grid per section, each named by its heading
    expect(page.get_by_role("grid", name=re.compile(r"^Balcony · ₹800"))).to_be_visible()
    assert page.locator('[role="grid"] > [role="row"]').count() == 4
    assert page.locator('[role="row"] > [role="gridcell"] > .sm-seat[role="checkbox"]').count() == 40
    assert page.locator('#sm-seats [tabindex="0"]').count() == 1

    keys = Keyboard(page)
    first = keys.tab_to(page.locator("#sm-seats .sm-seat").first)
    assert first <= 5  # skip to content, the site name, find my tickets, skip to the bar, the seats

    moves = [
        ("ArrowDown", "Row B seat 1, ₹1,500"),
        ("ArrowDown", "Row C seat 1, ₹800"),  # on into the next section
        ("End", "Row C seat 10, ₹800"),
        ("ArrowRight", "Row D seat 1, ₹800"),  # past the end of a row: the next row
        ("ArrowLeft", "Row C seat 10, ₹800"),
        ("Home", "Row C seat 1, ₹800"),
        ("ArrowLeft", "Row B seat 10, ₹1,500"),  # back across the sections
        ("Control+End", "Row D seat 10, ₹800"),
        ("Control+Home", "Row A seat 1, ₹1,500"),
        ("PageDown", "Row D seat 1, ₹800"),  # ten rows down, or the last
        ("ArrowUp", "Row C seat 1, ₹800"),
    ]
    for key, seat in moves:
        keys.press(key)
        assert focused_seat(page) == f"{seat}, available", key
    keys.press("Enter")
    keys.press("ArrowRight")
    keys.press("Space")
    expect(page.locator("#sm-chosen")).to_have_text("2 seats: C-1, C-2 · ₹1,600")
    expect(page.locator('.sm-seat[aria-checked="true"]')).to_have_count(2)

    # One Tab stop for both grids: Tab leaves the seats, Shift+Tab comes back to the seat last focused.
    assert page.locator('#sm-seats [tabindex="0"]').count() == 1
    keys.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("name", "name")
    keys.press("Shift+Tab")
    assert focused_seat(page) == "Row C seat 2, ₹800, available"

    # The skip link jumps to the bar (seats, total, Hold) from the top of the page.
    page.reload()
    page.wait_for_selector("#seatmap[data-ready]", state="attached")
    keys.tab_to(page.get_by_role("link", name="Skip to your seats and the Hold button"))
    keys.press("Enter")
    expect(page.locator("#sm-summary")).to_be_focused()
    keys.press("Tab")
    expect(page.locator("#sm-hold")).to_be_focused()


def assert_no_blocking_axe_violation(page) -> None:
    """axe-core finds nothing serious or critical on the page as it is now (the grid's roles among it)."""
    found = [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']][:5]}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in BLOCKING
    ]
    assert not found, found


def in_viewport(box, viewport) -> bool:
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    )


def smallest_targets(page, selector: str) -> dict:
    """The narrowest and the lowest of the elements matched, as laid out (CSS px)."""
    return page.locator(selector).evaluate_all(
        """elements => {
            const boxes = elements.map(e => e.getBoundingClientRect());
            return {count: boxes.length, width: Math.min(...boxes.map(b => b.width)),
                    height: Math.min(...boxes.map(b => b.height))};
        }"""
    )


def stage_offset(page) -> float:
    """How far the stage's middle is from the middle of the first row's seats (CSS px)."""
    stage = page.locator(".stage").bounding_box()
    seats = page.locator("#sm-seats .row").first.locator(".sm-seat")
    left, right = seats.first.bounding_box(), seats.last.bounding_box()
    return abs(stage["x"] + stage["width"] / 2 - (left["x"] + right["x"] + right["width"]) / 2)


def test_on_a_phone_the_hold_button_is_on_screen_once_a_seat_is_picked(open_page, live_server, gateway_url):
    event = make_event()
    services.hold_seats(event=event, seat_labels=["C-4", "C-5"], **buyer(7))  # someone else's: shown held
    page = open_page(PHONE, has_touch=True, is_mobile=True)
    open_seat_map(page, live_server, event)
    hold = page.get_by_role("button", name="Hold seats")
    page.get_by_role("checkbox", name="Row A seat 1, ₹1,500, available").tap()
    expect(page.locator("#sm-chosen")).to_have_text("1 seat: A-1 · ₹1,500")
    assert page.evaluate("window.scrollY") == 0  # nothing scrolled...
    assert in_viewport(hold.bounding_box(), PHONE), hold.bounding_box()  # ... and Hold is on screen
    assert in_viewport(page.locator("#sm-chosen").bounding_box(), PHONE)
    # The legend names every state a seat can show, "selected" among them.
    expect(page.locator(".legend li")).to_have_text(["Available", "Selected", "Held", "Sold"])
    # Ten seats a row fit a phone's width: no sideways scrolling, so no hint; the stage is over the seats.
    assert page.evaluate("(h => h.scrollWidth <= h.clientWidth)(document.getElementById('sm-hall'))")
    expect(page.locator("#sm-scroll-hint")).to_be_hidden()
    assert stage_offset(page) <= 2
    print("screenshot", shot(page, "seatmap-phone-bar", full_page=False))
    assert_no_blocking_axe_violation(page)

    # Hold with the details still empty: the page takes the buyer to them (the bar stays in view).
    hold.tap()
    expect(page.locator("#sm-name")).to_be_focused()
    assert in_viewport(page.locator("#sm-name").bounding_box(), PHONE)
    assert in_viewport(hold.bounding_box(), PHONE)
    page.fill("#sm-name", ASHA["name"])
    page.fill("#sm-email", ASHA["email"])
    page.fill("#sm-phone", ASHA["phone"])
    print("screenshot", shot(page, "seatmap-phone-details", full_page=False))
    hold.tap()
    page.wait_for_url("**/checkout/**")
    intent = BookingIntent.objects.get(buyer_email=ASHA["email"])
    assert list(intent.seats.values_list("label", flat=True)) == ["A-1"]

    desktop = open_page(DESKTOP)
    open_seat_map(desktop, live_server, event)
    desktop.get_by_role("checkbox", name="Row B seat 5, ₹1,500, available").click()
    desktop.get_by_role("checkbox", name="Row B seat 6, ₹1,500, available").click()
    expect(desktop.locator("#sm-chosen")).to_have_text("2 seats: B-5, B-6 · ₹3,000")
    assert in_viewport(desktop.locator("#sm-hold").bounding_box(), DESKTOP)
    assert stage_offset(desktop) <= 2
    print("screenshot", shot(desktop, "seatmap-desktop-bar", full_page=False))
    assert_no_blocking_axe_violation(desktop)


def test_touch_targets_are_at_least_24_px_and_wide_rows_say_they_scroll(open_page, live_server):
    event = two_sections()
    page = open_page(PHONE, has_touch=True, is_mobile=True)
    open_seat_map(page, live_server, event)
    for selector in ("#sm-seats .sm-seat", "#sm-hold", "#hold-form input"):
        size = smallest_targets(page, selector)
        assert size["count"] and size["width"] >= MIN_TARGET_PX and size["height"] >= MIN_TARGET_PX, (selector, size)

    # A large venue (over 2,000 seats: sections picked one at a time) with rows of 50, wider than a phone.
    big = make_event(rows=32, seats_per_row=50, name="Arena")
    services.generate_seat_grid(event=big, seats_per_row=50, tiers=[("Balcony", 10, 80000)])
    page = open_page(PHONE, has_touch=True, is_mobile=True)
    open_seat_map(page, live_server, big)
    size = smallest_targets(page, ".sm-pick")
    assert size["count"] == 2 and size["width"] >= MIN_TARGET_PX and size["height"] >= MIN_TARGET_PX, size
    page.get_by_role("button", name=re.compile(r"^Balcony ")).tap()
    page.wait_for_selector("#seatmap[data-section-ready]", state="attached")
    size = smallest_targets(page, "#sm-seats .sm-seat")
    assert size["count"] == 500 and size["width"] >= MIN_TARGET_PX and size["height"] >= MIN_TARGET_PX, size
    expect(page.locator("#sm-scroll-hint")).to_be_visible()
    expect(page.locator("#sm-scroll-hint")).to_contain_text("scroll sideways")
    # It opens on the middle of the rows, under the stage, which is centred over the seats.
    expect(page.locator(".stage")).to_be_in_viewport()
    assert stage_offset(page) <= 2
    print("screenshot", shot(page, "seatmap-phone-wide", full_page=False))
    assert_no_blocking_axe_violation(page)


def test_a_refused_hold_takes_focus_to_its_message_and_marks_the_fields(page, live_server, gateway_url):
    event = make_event()
    open_seat_map(page, live_server, event)
    hold = page.get_by_role("button", name="Hold seats")
    error = page.locator("#sm-error")

    hold.click()  # no seat yet
    expect(error).to_be_focused()
    expect(error).to_have_text("Choose at least one seat on the map first.")

    page.get_by_role("checkbox", name="Row A seat 1, ₹1,500, available").click()
    page.fill("#sm-name", ASHA["name"])
    page.fill("#sm-email", "asha@example")  # a browser takes it; the server does not
    page.fill("#sm-phone", ASHA["phone"])
    hold.click()
    expect(error).to_be_focused()
    expect(error).to_contain_text("Email: Enter a valid email address.")
    email = page.locator("#sm-email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-describedby", "sm-email-error")
    expect(page.locator("#sm-email-error")).to_have_text("Enter a valid email address.")
    expect(page.locator("#sm-name")).not_to_have_attribute("aria-invalid", "true")
    assert not BookingIntent.objects.exists()
    # The message's link goes to the field.
    error.get_by_role("link", name=re.compile("^Email")).click()
    expect(email).to_be_focused()

    # Put right, the mark goes; a phone number the browser can tell is wrong is refused before sending.
    page.fill("#sm-email", ASHA["email"])
    expect(email).not_to_have_attribute("aria-invalid", "true")
    page.fill("#sm-phone", "12")
    hold.click()
    expect(error).to_be_focused()
    expect(page.locator("#sm-phone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("textbox", name="Phone")).to_have_accessible_description(re.compile("7 to 15 digits"))
    shot(page, "seatmap-refused", full_page=False)
    assert_no_blocking_axe_violation(page)

    # A seat taken meanwhile: named in the message, which gets the focus.
    page.fill("#sm-phone", ASHA["phone"])
    services.hold_seats(event=event, seat_labels=["A-1"], **buyer(5))
    hold.click()
    expect(error).to_be_focused()
    expect(error).to_have_text("Sorry, these seats were just taken: A-1. Choose other seats.")
    page.get_by_role("checkbox", name="Row A seat 2, ₹1,500, available").click()
    hold.click()
    page.wait_for_url("**/checkout/**")


def test_without_javascript_a_refused_hold_focuses_its_message_and_marks_the_fields(open_page, live_server):
    event = make_event()
    page = open_page(PHONE, java_script_enabled=False)
    page.goto(f"{live_server.url}/events/{event.slug}/seats/?section=all")
    expect(page.locator(".legend li")).to_have_text(["Available", "Selected", "Held", "Sold"])
    page.check('input[name="seat"][value="A-1"]', force=True)
    page.fill('input[name="name"]', ASHA["name"])
    page.fill('input[name="email"]', "asha@example")
    page.fill('input[name="phone"]', ASHA["phone"])
    hold = page.get_by_role("button", name="Hold seats")
    assert in_viewport(hold.bounding_box(), PHONE)  # the Hold button is in the bar here too
    hold.click()
    page.wait_for_load_state()

    errors = page.locator("#hold-errors")
    expect(errors).to_be_focused()  # autofocus: no script needed
    expect(errors).to_contain_text("Email: Enter a valid email address.")
    email = page.locator('input[name="email"]')
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("textbox", name="Email")).to_have_accessible_description("Enter a valid email address.")
    expect(email).to_have_value("asha@example")  # what the buyer typed is kept
    expect(page.locator('input[name="name"]')).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator('input[name="seat"][value="A-1"]')).to_have_attribute(
        "aria-label", "Row A seat 1, ₹1,500, available"
    )
    shot(page, "seatmap-no-javascript-refused", full_page=False)
    assert not BookingIntent.objects.exists()

    # The same form from the "Simple seat list" link, with scripts on (axe-core needs them): the bar
    # sums the ticked seats, and the refused page has nothing serious for axe either.
    page = open_page(PHONE)
    page.goto(f"{live_server.url}/events/{event.slug}/seats/?section=all")
    page.check('input[name="seat"][value="B-3"]', force=True)
    page.check('input[name="seat"][value="B-4"]', force=True)
    expect(page.locator("#sm-chosen")).to_have_text("2 seats: B-3, B-4 · ₹3,000")
    page.fill('input[name="name"]', ASHA["name"])
    page.fill('input[name="email"]', "asha@example")
    page.fill('input[name="phone"]', ASHA["phone"])
    page.get_by_role("button", name="Hold seats").click()
    expect(page.locator("#hold-errors")).to_be_focused()
    expect(page.locator("#sm-chosen")).to_have_text("2 seats: B-3, B-4 · ₹3,000")  # the choice is kept
    assert_no_blocking_axe_violation(page)
