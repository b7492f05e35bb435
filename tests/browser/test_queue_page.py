"""The waiting page in Debian's headless Chromium: before the opening it names the opening on the
venue's clock and counts down in minutes and seconds, ticking in the page (not "Opens in 1127 s");
the paused notice is readable (contrast computed from the colours Chromium renders)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateformat import format as format_date
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.factories import make_event
from tests.waitingroom.conftest import open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COUNTDOWN = re.compile(r"^in (\d+) min (\d+) s$")


def seconds_left(text: str) -> int:
    match = COUNTDOWN.match(text)
    assert match, f"not a countdown in minutes and seconds: {text!r}"
    return int(match.group(1)) * 60 + int(match.group(2))


def test_before_the_opening_the_queue_names_the_time_and_zone_and_counts_down(live_server, page):
    event = make_event(sale_opens_at=timezone.now() + timedelta(minutes=19))
    open_room(event)  # the tests' default room mode is off
    local = event.local(event.sale_opens_at)
    if local.date() == event.local(timezone.now()).date():
        expected = f"Opens at {local:%H:%M} IST"
    else:  # just before midnight on the venue's clock: the opening is tomorrow, so it is dated
        expected = f"Opens {format_date(local, 'D j M Y, H:i')} IST"

    page.goto(f"{live_server.url}/queue/{event.slug}/")
    expect(page.locator("#wr-prequeue")).to_be_visible()
    expect(page.locator("#wr-opening")).to_have_text(expected)
    timer = page.locator("#wr-opens-in")
    expect(timer).to_have_text(COUNTDOWN)
    first = seconds_left(timer.inner_text())
    assert 18 * 60 <= first <= 19 * 60
    assert "Opens in" not in page.locator("#wr").inner_text()

    # It ticks in the page, between polls (the next poll is 15 s away this long before the opening).
    page.wait_for_timeout(2_200)
    later = seconds_left(timer.inner_text())
    assert 1 <= first - later <= 4
    assert page.locator("#wr-place-code").inner_text() != "…"  # the status call gave the place
    assert "not a ticket" in page.locator("#wr").inner_text()
    shot(page, "queue-before-opening")


def luminance(rgb: tuple[int, int, int]) -> float:
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def test_the_paused_notice_is_readable(live_server, page):
    event = make_event()
    open_room(event, paused=True)
    page.goto(f"{live_server.url}/queue/{event.slug}/")
    notice = page.locator('.wr-message[data-state="paused"]')
    expect(notice).to_have_text("Admission is paused for a moment. You keep your place.")
    colour = notice.evaluate("el => getComputedStyle(el).color")
    # The first ancestor with a background of its own is what the text sits on (the white card).
    background = notice.evaluate(
        """el => { for (let n = el; n; n = n.parentElement) {
                 const bg = getComputedStyle(n).backgroundColor;
                 if (bg && bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg; }
               return 'rgb(255, 255, 255)'; }"""
    )
    high, low = sorted((luminance(rgb(colour)), luminance(rgb(background))), reverse=True)
    ratio = (high + 0.05) / (low + 0.05)
    assert ratio >= 4.5, (colour, background, round(ratio, 2))
    body = page.evaluate("() => getComputedStyle(document.body).color")
    assert colour != body, "the waiting room's stylesheet gives the notice its own colour"
    shot(page, "queue-paused")
