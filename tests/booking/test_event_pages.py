"""The event list and the event page before buying: the price range, the sale badge (on sale,
opens at, few left, sold out), no way to the seats when none can be had, times naming their zone,
and the pre-built page turning with the clock and the inventory within its stated bound."""

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateformat import format as format_date

from apps.booking import pages, selectors, services
from apps.booking.models import Event
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db

CHOOSE_SEATS = ">Choose seats</a>"


def two_tier_event(**kwargs) -> Event:
    event = services.create_event(
        slug=kwargs.pop("slug", f"tiers-{time.monotonic_ns()}"),
        name="Two tiers",
        starts_at=timezone.now() + timedelta(days=20),
        sale_opens_at=kwargs.pop("sale_opens_at", timezone.now() - timedelta(hours=1)),
        **kwargs,
    )
    services.generate_seat_grid(event=event, seats_per_row=10, tiers=[("Balcony", 2, 120000), ("Premium", 2, 500000)])
    return event


def badge_of(html: str) -> str:
    match = re.search(r'<span class="badge [^"]*" data-badge="[^"]*">([^<]*)</span>', html)
    assert match, "no badge on the page"
    return match.group(1)


def hold(event: Event, labels: list[str], n: int = 1, **kwargs):
    return services.hold_seats(
        event=event, seat_labels=labels, owner=f"owner-{n}", client_ip=f"10.0.0.{n}", **buyer(n), **kwargs
    )


def test_list_and_page_show_the_price_range_and_on_sale(client):
    event = two_tier_event()
    listing = client.get("/").content.decode()
    page = client.get(f"/events/{event.slug}/").content.decode()
    for html in (listing, page):
        assert "₹1,200 – ₹5,000" in html
        assert badge_of(html) == "On sale"
    assert CHOOSE_SEATS in page
    # The start names its zone on both pages.
    starts = f"{format_date(event.local(event.starts_at), 'D j M Y, H:i')} IST"
    assert starts in listing and starts in page


def test_one_price_is_shown_once_and_a_lakh_with_indian_grouping(client):
    event = make_event(rows=1, seats_per_row=5, price=10_000_000)
    page = client.get(f"/events/{event.slug}/").content.decode()
    assert '<span class="price-range">₹1,00,000</span>' in page
    assert "10000000" not in page and "1,000,000" not in page


def test_opens_at_names_the_time_and_zone_and_offers_the_line_not_the_seats(client):
    now = timezone.now()
    soon = two_tier_event(sale_opens_at=now + timedelta(minutes=2))
    later = two_tier_event(sale_opens_at=now + timedelta(days=3))
    listing = client.get("/").content.decode()

    soon_local = soon.local(soon.sale_opens_at)
    if soon_local.date() == soon.local(now).date():
        expected = f"Opens at {soon_local:%H:%M} IST"
    else:  # two minutes before midnight on the venue's clock: tomorrow, so the date is named
        expected = f"Opens {format_date(soon_local, 'D j M Y, H:i')} IST"
    page = client.get(f"/events/{soon.slug}/").content.decode()
    assert badge_of(page) == expected and expected in listing
    assert CHOOSE_SEATS not in page and ">Get in line</a>" in page

    later_label = f"Opens {format_date(later.local(later.sale_opens_at), 'D j M Y, H:i')} IST"  # another day: dated
    assert badge_of(client.get(f"/events/{later.slug}/").content.decode()) == later_label
    assert later_label in listing


def test_a_zone_other_than_india_is_named(client):
    event = two_tier_event(sale_opens_at=timezone.now() + timedelta(days=2))
    event.time_zone = "Europe/London"
    event.save()
    page = client.get(f"/events/{event.slug}/").content.decode()
    zone = event.local(event.sale_opens_at).tzname()
    assert zone in ("GMT", "BST") and badge_of(page).endswith(f" {zone}")
    assert "IST" not in page


def test_few_left_when_at_most_a_tenth_is_free(client):
    event = make_event(rows=1, seats_per_row=10, max_seats_per_buyer=10)
    hold(event, [f"A-{n}" for n in range(1, 9)])  # 2 of 10 free: more than a tenth
    assert badge_of(client.get(f"/events/{event.slug}/").content.decode()) == "On sale"
    pages.forget_page(f"/events/{event.slug}/")
    hold(event, ["A-9"], n=2)  # 1 of 10 free
    page = client.get(f"/events/{event.slug}/").content.decode()
    assert badge_of(page) == "Few left" and CHOOSE_SEATS in page
    assert badge_of(client.get("/").content.decode()) == "Few left"


def test_sold_out_has_no_choose_seats_and_says_why(client):
    event = make_event(rows=1, seats_per_row=4)
    hold(event, ["A-1", "A-2", "A-3", "A-4"])
    page = client.get(f"/events/{event.slug}/").content.decode()
    assert badge_of(page) == "Sold out" and CHOOSE_SEATS not in page and "Get in line" not in page
    assert "Sold out: no seat is free." in page and "come back" in page  # held seats may come back
    assert badge_of(client.get("/").content.decode()) == "Sold out"


def test_a_closed_sale_shows_no_button(client):
    event = make_event(rows=1, seats_per_row=4, status=Event.Status.CLOSED)
    page = client.get(f"/events/{event.slug}/").content.decode()
    assert badge_of(page) == "Sales closed" and CHOOSE_SEATS not in page and "Get in line" not in page


def test_the_list_costs_the_same_queries_for_one_event_or_many(django_assert_max_num_queries):
    events = [two_tier_event(sale_opens_at=timezone.now() - timedelta(minutes=n)) for n in range(1, 6)]
    hold(events[0], ["A-1"])
    with django_assert_max_num_queries(1):
        facts = selectors.sale_facts(events)
    assert [facts[e.id].available for e in events] == [39, 40, 40, 40, 40]
    assert {(f.lowest_paise, f.highest_paise) for f in facts.values()} == {(120000, 500000)}


def test_the_prebuilt_page_turns_at_the_opening(client):
    """The page built before the opening is fresh only until the opening: the first request after
    it gets the page that says "On sale" (the bound of pages.py, without the front's seconds)."""
    opens = timezone.now() + timedelta(seconds=1.5)
    event = make_event(rows=1, seats_per_row=4, sale_opens_at=opens)
    before = client.get(f"/events/{event.slug}/").content.decode()
    assert badge_of(before).startswith("Opens")
    assert client.get(f"/events/{event.slug}/").content.decode() == before  # served pre-built
    time.sleep(max(0.0, (opens - timezone.now()).total_seconds()) + selectors.SALE_FACTS_MIN_FRESH_SECONDS + 0.1)
    after = client.get(f"/events/{event.slug}/").content.decode()
    assert badge_of(after) == "On sale" and CHOOSE_SEATS in after


def test_a_sold_out_page_turns_when_a_hold_lapses(client):
    event = make_event(rows=1, seats_per_row=2, hold_minutes=1)
    # A hold made 58 s ago: it lapses in 2 s.
    hold(event, ["A-1", "A-2"], now=timezone.now() - timedelta(seconds=58))
    assert badge_of(client.get(f"/events/{event.slug}/").content.decode()) == "Sold out"
    time.sleep(2.2)
    page = client.get(f"/events/{event.slug}/").content.decode()
    assert badge_of(page) == "On sale" and CHOOSE_SEATS in page


def test_an_inventory_change_shows_within_the_page_s_freshness(client, monkeypatch):
    monkeypatch.setattr(pages, "FRESH_SECONDS", 1)
    event = make_event(rows=1, seats_per_row=2)
    assert badge_of(client.get(f"/events/{event.slug}/").content.decode()) == "On sale"
    hold(event, ["A-1", "A-2"])
    assert badge_of(client.get(f"/events/{event.slug}/").content.decode()) == "On sale"  # pre-built, still fresh
    time.sleep(1.1)
    assert badge_of(client.get(f"/events/{event.slug}/").content.decode()) == "Sold out"
