"""Money as buyers and ops read it: 10,000,000 paise is ₹1,00,000 (Indian digit grouping) on the
event page, the checkout and the admin, and the paise figure itself is never shown."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from apps.booking import services
from tests.factories import browser, buyer, make_event

pytestmark = pytest.mark.django_db

PRICE_PAISE = 10_000_000


def _text(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_one_lakh_rupees_reads_the_same_everywhere(gateway_url):
    event = make_event(price=PRICE_PAISE)
    held = services.hold_seats(event=event, seat_labels=["A-1"], owner="money", **buyer(1))

    event_page = _text(Client().get(reverse("booking:event_detail", args=[event.slug])))
    checkout = _text(browser("money").get(reverse("payments:checkout", args=[held.intent.id])))
    ops = Client()
    ops.force_login(get_user_model().objects.create_superuser("money-ops", "ops@example.com", "x"))
    admin_hold = _text(ops.get(reverse("admin:booking_bookingintent_change", args=[held.intent.id])))
    admin_sections = _text(ops.get(reverse("admin:booking_event_change", args=[event.id])))

    for name, page in {"event page": event_page, "checkout": checkout, "admin hold": admin_hold}.items():
        assert "₹1,00,000" in page, name
        assert "10,000,000" not in page and "₹100,000" not in page, name
    assert "₹1,00,000" in admin_sections
