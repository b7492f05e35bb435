"""The drop dashboard in Debian's headless Chromium, as an operator sees it: the charts are drawn
(uPlot canvases) under the site's Content-Security-Policy, axe-core finds nothing serious, and a
hold and a sale made meanwhile show up in the page within a few seconds without a reload, the
money in rupees as apps.core.money writes it."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from apps.booking import services
from tests.browser.axe import blocking_violations
from tests.browser.conftest import shot
from tests.factories import buyer, make_event
from tests.payments.test_audit import paid_booking
from tests.waitingroom.conftest import open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_draws_its_charts_and_moves_without_a_reload(live_server, open_page):
    event = make_event(rows=2, seats_per_row=4)
    open_room(event, capacity=2, rate_per_minute=600)
    for n in range(3):
        Client().get(f"/queue/{event.slug}/status", HTTP_COOKIE="")  # anonymous arrivals join
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("ops", password="x", is_staff=True))  # noqa: S106
    page = open_page({"width": 1280, "height": 1000})
    page.context.add_cookies([{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}])

    answer = page.goto(f"{live_server.url}/admin/ops/dashboard/{event.id}/")
    assert answer is not None and answer.status == 200
    root = page.locator("#ops-dashboard")
    expect(root).to_have_attribute("data-refreshes", "1")  # the first fetch landed
    assert page.locator("[data-chart] canvas").count() >= 6  # every chart drawn by uPlot
    held = page.locator('[data-figure="seats_held"]')
    expect(held).to_have_text("0")
    page.evaluate("window.notReloaded = true")

    services.hold_seats(event=event, seat_labels=["A-1", "A-2"], **buyer(1))
    expect(held).to_have_text("2", timeout=10_000)  # the next poll (3 s) after the cache's second
    expect(page.locator('[data-figure="seats_free"]')).to_have_text("6")
    paid_booking(event, ["B-1", "B-2", "B-3"], 2)  # ₹1,500 a seat, captured
    expect(page.locator('[data-figure="revenue_paise"]')).to_have_text("₹4,500", timeout=10_000)  # Intl en-IN
    expect(page.locator('[data-figure="seats_sold"]')).to_have_text("3")
    assert page.evaluate("window.notReloaded") is True
    assert int(root.get_attribute("data-refreshes") or 0) >= 2
    assert not blocking_violations(page)
    shot(page, "dashboard")

    every = page.goto(f"{live_server.url}/admin/ops/dashboard/")  # every event on sale, added up
    assert every is not None and every.status == 200
    expect(page.get_by_role("link", name=event.name)).to_be_visible()
    expect(page.locator('[data-figure="seats_sold"]')).to_have_text("3")
    assert page.locator("[data-chart] canvas").count() >= 6
