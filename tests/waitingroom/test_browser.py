"""The waiting page in a real headless Chromium (Debian's, driven by Playwright): it shows
the position and moves on to the seat map by itself when the visitor is admitted."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from apps.waitingroom import services
from tests.factories import make_event
from tests.waitingroom.conftest import open_room

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture
def page(browser):
    """A fresh context in the session's shared Chromium (tests/conftest.py)."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    yield context.new_page()
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_waiting_page_shows_position_and_moves_to_the_seat_map_when_admitted(live_server, page):
    OUTPUT.mkdir(exist_ok=True)
    event = make_event(rows=3, seats_per_row=8)
    open_room(event, capacity=1, rate_per_minute=600)
    assert services.poll_status(event_id=event.id, visitor_id="someone-inside", ip="10.0.0.9").state == "admitted"

    # The seat page's shell is anyone's: the availability its script reads answers 429, which
    # sends the visitor to the line.
    page.goto(f"{live_server.url}/events/{event.slug}/seats/")
    page.wait_for_url(f"**/queue/{event.slug}/**")
    expect(page.locator("#wr-position")).to_have_text("1")  # the page's first status call is the join
    assert "0" == page.locator("#wr-ahead").inner_text()
    assert "You are in line" in page.locator("#wr-message").inner_text()
    page.screenshot(path=str(OUTPUT / "waitingroom-waiting.png"), full_page=True)

    # A status poll happens in the background; the page must still be waiting.
    page.wait_for_timeout(2500)
    assert "/queue/" in page.url

    services.leave(event_id=event.id, visitor_ids=["someone-inside"])  # their booking ended
    page.wait_for_url(lambda url: urlsplit(url).path == f"/events/{event.slug}/seats/", timeout=15_000)
    assert "choose your seats" in page.locator("h1").inner_text()
    # Drawn: the gated availability let the admitted visitor in (the shell alone is anyone's).
    expect(page.locator("#seatmap")).to_have_attribute("data-ready", re.compile(r"^\d+$"))
    page.screenshot(path=str(OUTPUT / "waitingroom-admitted-seat-map.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_event_page_is_the_lobby_during_a_drop(live_server, page):
    """An arrival opens the event page and gets its place from the page's first status call (no
    other page in between), then moves on to the seat map by itself when admitted."""
    event = make_event(rows=3, seats_per_row=8)
    open_room(event, capacity=1, rate_per_minute=600)
    assert services.poll_status(event_id=event.id, visitor_id="someone-inside", ip="10.0.0.9").state == "admitted"
    requests = []
    page.on("request", lambda request: requests.append(urlsplit(request.url).path))

    page.goto(f"{live_server.url}/events/{event.slug}/")
    expect(page.locator("#wr-position")).to_have_text("1")
    expect(page.locator("#wr-lobby")).to_be_visible()
    product = [p for p in requests if not p.startswith("/static/")]
    assert product == [f"/events/{event.slug}/", f"/queue/{event.slug}/status"]  # two requests to a place
    page.screenshot(path=str(OUTPUT / "event-page-lobby.png"), full_page=True)

    services.leave(event_id=event.id, visitor_ids=["someone-inside"])
    page.wait_for_url(lambda url: urlsplit(url).path == f"/events/{event.slug}/seats/", timeout=15_000)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_event_page_without_a_line_stays_put(live_server, page):
    event = make_event(rows=1, seats_per_row=4)  # the tests' default room mode is off
    page.goto(f"{live_server.url}/events/{event.slug}/")
    page.wait_for_timeout(1000)
    assert urlsplit(page.url).path == f"/events/{event.slug}/"
    expect(page.locator("#wr-lobby")).to_be_hidden()
