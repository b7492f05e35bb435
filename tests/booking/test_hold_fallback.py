"""The hold's SQLite port (services._take_seats_with_orm, for the newcomer fallback where plpgsql
cannot run) through the service tests of holding, here on PostgreSQL: the port and
booking_hold_seats() keep one set of rules, and these tests say so when they drift apart."""

import pytest

from apps.booking import services
from tests.booking.test_services import (  # noqa: F401 - collected again here, run against the port
    test_a_hold_is_never_handed_to_another_owner,
    test_bad_requests_change_nothing,
    test_caps_per_owner_and_per_address,
    test_expired_hold_is_free_at_once_without_the_sweeper,
    test_hold_is_all_or_nothing_and_names_taken_seats,
    test_hold_takes_all_seats_and_prices_them,
    test_late_payment_loses_when_a_seat_was_resold,
    test_not_on_sale_before_opening,
    test_per_buyer_limit_counts_live_holds_and_bookings,
    test_repeated_submit_returns_the_same_intent,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def orm_port(monkeypatch):
    monkeypatch.setattr(services, "_take_seats_in_one_statement", services._take_seats_with_orm)
