"""Who reaches the door page, and the page without scripts in Debian's Chromium at phone size:
door staff (the check-in permission, nothing else) type codes as a scanner would, the form posts,
and the page answers in large green or red type; each answer is kept as a screenshot
(test-output/screenshots/door-*.png). The script's answers, online and offline, and axe-core's
checks are in test_door_offline.py."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from apps.booking import links
from tests.browser.conftest import shot
from tests.factories import make_event
from tests.payments.test_audit import paid_booking

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def door_staff(name: str = "door") -> Client:
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="check_in"))
    client = Client()
    client.force_login(user)
    return client


def test_only_door_staff_reach_the_door():
    event = make_event()
    url = reverse("booking:door", args=[event.slug])
    assert "/admin/login/" in Client().get(url)["Location"]
    plain_staff = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    clerk = Client()
    clerk.force_login(plain_staff)
    assert "/admin/login/" in clerk.get(url)["Location"]
    door = door_staff()
    assert door.get(url).status_code == 200
    assert door.get(reverse("admin:booking_booking_changelist")).status_code == 403  # not an admin


def test_without_javascript_the_form_posts_and_the_page_answers(browser, live_server):
    """The page's own answer, as a phone without scripts gets it (test_door_offline.py drives the
    script: JSON online, the phone itself offline, and runs axe-core, which needs scripts)."""
    event, other = make_event(name="Monsoon Nights"), make_event()
    code = links.gate_codes(paid_booking(event, ["A-1"], 1))[0][1]
    elsewhere = links.gate_codes(paid_booking(other, ["A-1"], 2))[0][1]
    staff = door_staff()
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    context.add_cookies([{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(f"{live_server.url}{reverse('booking:door', args=[event.slug])}")
        page.fill("#door-gate", "Gate 2")
        for name, typed, answer in [
            ("green", code, "Seat A-1, Buyer 1."),
            ("already-in", code, "Already checked in at "),
            ("other-event", elsewhere, "Not a ticket for this event"),
            ("not-a-ticket", "HELLO-123", "Not a ticket"),
        ]:
            page.fill("#door-code", typed)
            page.keyboard.press("Enter")  # as a handheld scanner ends its code
            expect(page.locator("#door-answer .door-big")).to_contain_text(answer)
            expect(page.locator("#door-answer")).to_be_visible()
            shot(page, f"door-{name}")
        expect(page.locator("#door-answer")).to_have_class("door-answer door-red")
        assert page.input_value("#door-gate") == "Gate 2"
    finally:
        context.close()
