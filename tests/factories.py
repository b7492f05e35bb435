"""Small factories: real rows through the real services."""

import itertools
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from apps.booking import services
from apps.waitingroom import services as room_services
from apps.waitingroom import tokens

_counter = itertools.count(1)


def make_event(*, rows: int = 4, seats_per_row: int = 10, price: int = 150000, **kwargs):
    n = next(_counter)
    event = services.create_event(
        slug=kwargs.pop("slug", f"event-{n}-{timezone.now().strftime('%H%M%S%f')}"),
        name=kwargs.pop("name", f"Event {n}"),
        starts_at=kwargs.pop("starts_at", timezone.now() + timedelta(days=10)),
        sale_opens_at=kwargs.pop("sale_opens_at", timezone.now() - timedelta(days=1)),
        **kwargs,
    )
    services.generate_seat_grid(event=event, seats_per_row=seats_per_row, tiers=[("Standard", rows, price)])
    # The room's mirror now, as after the commit of a real request (on_commit never fires inside
    # a test's transaction): the gate treats an event missing from Redis as closed.
    room_services.mirror_config(config=room_services.ensure_config(event=event))
    return event


def buyer(n: int = 1) -> dict:
    return {"buyer_name": f"Buyer {n}", "buyer_email": f"buyer{n}@example.com", "buyer_phone": "+919876543210"}


def browser(owner: str, **defaults) -> Client:
    """A browser whose signed visitor cookie (as the gate mints it) names `owner`: it owns the holds
    made with `hold_seats(owner=owner)`, and only it reaches their checkout URLs."""
    client = Client(**defaults)
    client.cookies[tokens.VISITOR_COOKIE] = tokens.visitor_cookie_value(owner)
    return client


def seat_list_url(event) -> str:
    """The seat page without JavaScript: gated, like the availability documents (the shell of the
    seat page alone is not, see `apps.booking.seatmap.is_shell`)."""
    return f"/events/{event.slug}/seats/?section=all"


def read_seat_map(http, slug: str, base: str = ""):
    """What a browser does on the seat page (an httpx client, `base` unless it has its own): the
    shell (which must answer), then the availability its script reads, which sets the cookies a hold
    needs. Returns the availability's answer."""
    http.get(f"{base}/events/{slug}/seats/").raise_for_status()
    return http.get(f"{base}/events/{slug}/seats/availability.json")
