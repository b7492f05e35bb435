"""Attacks made the way an attacker makes them: over HTTP through the test client, against the real
emulator reached through the official SDK (`gateway_url` from tests/conftest.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.booking.models import BookingIntent
from apps.payments.models import Payment
from tests.factories import seat_list_url


@pytest.fixture
def ops(client):
    """A logged-in superuser: the admin at its most powerful."""
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))
    return client


def hold_and_checkout(client: Client, event, labels: list[str], n: int = 1) -> tuple[BookingIntent, Payment]:
    """A buyer opens the seat map, holds seats through its form and opens checkout (which creates the order)."""
    assert client.get(seat_list_url(event)).status_code == 200
    response = client.post(
        f"/events/{event.slug}/hold/",
        {"seat": labels, "name": f"Buyer {n}", "email": f"buyer{n}@example.com", "phone": "+919876543210"},
    )
    assert response.status_code == 303, response.content[:500]
    intent = BookingIntent.objects.get(buyer_email=f"buyer{n}@example.com", event=event)
    page = client.get(f"/checkout/{intent.id}/")
    assert page.status_code == 200
    return intent, Payment.objects.get(intent=intent)


def pay_button_shown(client: Client, intent: BookingIntent) -> bool:
    return 'id="pay-button"' in client.get(f"/checkout/{intent.id}/").content.decode()


from tests.front.conftest import lanes  # noqa: E402, F401 - the real front, for the slow-clients attack
