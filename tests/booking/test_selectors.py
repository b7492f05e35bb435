"""The process's memo of events: hot URLs read an event without a query, and a change still
reaches them (at once in the process that saved it, within EVENT_MEMO_SECONDS elsewhere)."""

import pytest

from apps.booking import selectors
from apps.booking.models import Event

pytestmark = pytest.mark.django_db


def test_an_event_is_read_once_a_second_and_a_save_is_seen_at_once(event, django_assert_num_queries, monkeypatch):
    assert selectors.event_by_slug(event.slug).status == Event.Status.ON_SALE
    with django_assert_num_queries(0):
        memo = selectors.event_by_slug(event.slug)
    memo.name = "changed by a caller"  # each caller has its own copy
    assert selectors.event_by_slug(event.slug).name == event.name

    # Saved by another process (no signal here): seen once the memo is a second old.
    Event.objects.filter(pk=event.pk).update(status=Event.Status.CLOSED)
    assert selectors.event_by_slug(event.slug).status == Event.Status.ON_SALE
    later = selectors.time.monotonic() + selectors.EVENT_MEMO_SECONDS + 0.1
    monkeypatch.setattr(selectors.time, "monotonic", lambda: later)
    assert selectors.event_by_slug(event.slug).status == Event.Status.CLOSED

    # Saved in this process: seen at once.
    event.refresh_from_db()
    event.status = Event.Status.ON_SALE
    event.save()
    assert selectors.event_by_slug(event.slug).status == Event.Status.ON_SALE
