"""The two confirmation pages in headless Chromium, as an operator meets them: chosen from the
change list's action menu, with no serious accessibility violation (axe-core), saved as screenshots
(test-output/screenshots/admin-cancel-*.png), and the cancellation made from the page."""

import pytest
from django.contrib.auth import get_user_model

from apps.booking.models import Cancellation, Seat
from tests.browser.axe import blocking_violations
from tests.browser.conftest import shot
from tests.cancel.helpers import quiet_webhooks, real_paid_booking
from tests.factories import make_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def ops_page(browser, live_server, client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "x")
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def choose_action(page, url: str, pk: int, action: str) -> None:
    page.goto(url)
    page.check(f'input[name="_selected_action"][value="{pk}"]')
    page.select_option('select[name="action"]', action)
    page.click('button[name="index"]')


def test_cancel_bookings_page_in_the_browser(ops_page, live_server, gateway_url):
    quiet_webhooks()
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    choose_action(ops_page, f"{live_server.url}/admin/booking/booking/", booking.pk, "cancel_bookings")
    assert ops_page.locator("#cancel-bookings").is_visible()
    assert ops_page.locator(f"#booking-{booking.pk} .refund-total").inner_text() == "₹3,000"
    assert not blocking_violations(ops_page)
    shot(ops_page, "admin-cancel-bookings")
    ops_page.uncheck(f'input[name="seats-{booking.pk}"][value="{booking.booked_seats.get(seat__label="A-2").pk}"]')
    ops_page.check('input[name="seats_after"][value="release"]')
    ops_page.fill('input[name="reason"]', "Buyer asked")
    ops_page.click('input[name="apply"]')
    assert "is being refunded and the buyer emailed" in ops_page.locator(".messagelist").inner_text()
    cancellation = Cancellation.objects.get()
    assert cancellation.amount_paise == 150000
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.AVAILABLE


def test_call_off_page_in_the_browser(ops_page, live_server, gateway_url):
    quiet_webhooks()
    event = make_event()
    real_paid_booking(event, ["A-1"], 1)
    choose_action(ops_page, f"{live_server.url}/admin/booking/event/", event.pk, "call_off_events")
    assert ops_page.locator(f"#call-off-{event.pk}").is_visible()
    assert not blocking_violations(ops_page)
    shot(ops_page, "admin-cancel-call-off")
