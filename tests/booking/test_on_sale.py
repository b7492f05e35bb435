"""An event goes on sale only with seats to sell: on sale without them, buyers would only ever see
"Sold out"."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.booking import services
from apps.booking.errors import NoSeatsToSell
from apps.booking.models import Event, Seat
from apps.core.models import AuditEntry
from tests.factories import make_event

pytestmark = pytest.mark.django_db(transaction=True)


def draft(slug: str = "draft") -> Event:
    return services.create_event(
        slug=slug, name="Draft Night", starts_at=timezone.now() + timedelta(days=3), status=Event.Status.DRAFT
    )


def test_an_event_without_seats_cannot_go_on_sale():
    event = draft()
    with pytest.raises(NoSeatsToSell) as refused:
        services.put_on_sale(event=event)
    assert refused.value.message.startswith("“Draft Night” has no seats to sell, so it cannot go on sale")
    assert Event.objects.get(pk=event.pk).status == Event.Status.DRAFT


def test_an_event_whose_seats_are_all_blocked_cannot_go_on_sale():
    event = make_event(rows=1, seats_per_row=2, status=Event.Status.DRAFT)
    Seat.objects.filter(event=event).update(status=Seat.Status.BLOCKED)
    with pytest.raises(NoSeatsToSell):
        services.check_can_go_on_sale(event=event)
    Seat.objects.filter(event=event, label="A-1").update(status=Seat.Status.AVAILABLE)
    services.check_can_go_on_sale(event=event)


def test_an_event_with_seats_goes_on_sale_once_and_the_audit_says_who():
    event = make_event(status=Event.Status.DRAFT)
    ops = get_user_model().objects.create_user("ops-ravi", "ravi@example.com", "x")
    assert services.put_on_sale(event=event, acting_user=ops) is True
    assert Event.objects.get(pk=event.pk).status == Event.Status.ON_SALE
    assert services.put_on_sale(event=Event.objects.get(pk=event.pk), acting_user=ops) is False
    assert list(AuditEntry.objects.values_list("actor_name", "action", "target")) == [
        ("ops-ravi", "put on sale", f"event {event.slug}")
    ]


def test_an_unsaved_event_has_no_seats_to_sell():
    with pytest.raises(NoSeatsToSell):
        services.check_can_go_on_sale(event=Event(name="Not yet saved"))
