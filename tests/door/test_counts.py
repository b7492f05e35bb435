"""Who is in: the booked seats checked in, in total and per gate, from one grouped query, shown on
the event's admin page."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.booking import links, selectors, services
from tests.door.test_export import booked
from tests.factories import make_event

pytestmark = pytest.mark.django_db


def check_in(event, booking, label: str, gate: str) -> None:
    assert services.check_in(event=event, code=dict(links.gate_codes(booking))[f"Seat {label}"], gate=gate).admitted


def test_counts_in_total_and_per_gate_from_one_query():
    event, other = make_event(), make_event()
    first = booked(event, ["A-1", "A-2", "A-3"], 1)
    second = booked(event, ["B-1", "B-2"], 2)
    elsewhere = booked(other, ["A-1"], 3)
    check_in(event, first, "A-1", "Gate 2")
    check_in(event, first, "A-2", "Gate 1")
    check_in(event, second, "B-2", "Gate 1")
    check_in(other, elsewhere, "A-1", "Gate 1")  # another event's door

    with CaptureQueriesContext(connection) as queries:
        counts = selectors.check_in_counts(event)
    assert len(queries) == 1
    assert (counts.booked, counts.checked_in) == (5, 3)
    assert counts.by_gate == [("Gate 1", 2), ("Gate 2", 1)]
    assert str(counts) == "3 of 5 seats; Gate 1: 2, Gate 2: 1"


def test_an_event_nobody_booked_or_entered_yet():
    event = make_event()
    assert str(selectors.check_in_counts(event)) == "0 of 0 seats"
    booked(event, ["A-1"], 1)
    counts = selectors.check_in_counts(event)
    assert (counts.booked, counts.checked_in, counts.by_gate) == (1, 0, [])


def test_the_events_admin_page_shows_the_counts(client):
    event = make_event()
    booking = booked(event, ["A-1", "A-2"], 1)
    check_in(event, booking, "A-2", "Gate 3")
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))
    html = client.get(reverse("admin:booking_event_change", args=[event.pk])).content.decode()
    assert "Checked in" in html and "1 of 2 seats; Gate 3: 1" in html
    add_page = client.get(reverse("admin:booking_event_add")).content.decode()
    assert "of 0 seats" not in add_page and "field-checked_in" not in add_page  # a new event has no door yet
