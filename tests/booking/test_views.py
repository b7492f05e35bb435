import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.booking import services
from apps.booking.models import BookingIntent, Seat
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db

FORM = {"name": "Asha Rao", "email": "asha@example.com", "phone": "+91 98765 43210"}


def hold_url(event):
    return reverse("booking:hold", args=[event.slug])


def test_pages_render(client, event):
    assert event.name in client.get("/").content.decode()
    page = client.get(f"/events/{event.slug}/")
    assert page.status_code == 200 and "Choose seats" in page.content.decode()
    seats = client.get(f"/events/{event.slug}/seats/")  # the shell seatmap.js draws the seats in
    body = seats.content.decode()
    assert seats.status_code == 200 and "choose your seats" in body and 'id="seatmap-config"' in body
    # The same seats as a form, for browsers without JavaScript.
    form = client.get(f"/events/{event.slug}/seats/?section=all").content.decode()
    assert 'value="A-1"' in form and "<strong>40</strong> of 40 seats available" in form and "₹1,500" in form
    assert client.get("/events/no-such-event/").status_code == 404
    # Unknown to the gate: sent to the waiting page (closed, not open), which knows no such event.
    assert client.get("/events/no-such-event/seats/", follow=True).status_code == 404


def test_seat_map_is_cached_and_invalidated_on_change(
    client, event, django_assert_num_queries, django_capture_on_commit_callbacks
):
    form = f"/events/{event.slug}/seats/?section=all"
    client.get(form)  # fills the cache
    with django_assert_num_queries(0):  # the event from the process's memo, the grid from Redis
        client.get(form)
    with django_capture_on_commit_callbacks(execute=True):
        services.hold_seats(event=event, seat_labels=["A-1"], **buyer())
    body = client.get(form).content.decode()
    assert "<strong>39</strong> of 40 seats available" in body
    assert 'value="A-1" aria-label="Row A seat 1, ₹1,500, held" disabled' in body
    # ... and the map's availability document, which seatmap.js draws, says the same.
    availability = client.get(f"/events/{event.slug}/seats/availability.json").json()
    assert availability["left"] == 39 and availability["held"] == {"A": [1, 1]}


def test_hold_redirects_to_checkout_with_countdown(client, event):
    response = client.post(hold_url(event), {**FORM, "seat": ["A-1", "A-2"]})
    assert response.status_code == 303
    intent = BookingIntent.objects.get()
    assert response["Location"] == f"/checkout/{intent.id}/"
    page = client.get(response["Location"]).content.decode()
    assert "A-1" in page and "A-2" in page and "₹3,000" in page and 'id="countdown"' in page


def test_hold_conflict_answers_409_naming_seats(client, event):
    services.hold_seats(event=event, seat_labels=["A-2"], **buyer(7))
    response = client.post(hold_url(event), {**FORM, "seat": ["A-1", "A-2"]})
    assert response.status_code == 409
    assert "A-2" in response.content.decode()
    json_response = client.post(hold_url(event), {**FORM, "seat": ["A-1", "A-2"]}, HTTP_ACCEPT="application/json")
    assert json_response.status_code == 409 and json_response.json()["unavailable"] == ["A-2"]


def test_hold_json(client, event):
    response = client.post(hold_url(event), {**FORM, "seat": ["B-3"]}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    data = response.json()
    assert data["amount"] == 150000 and data["intent"] and data["expires_at"]
    again = client.post(hold_url(event), {**FORM, "seat": ["B-3"]}, HTTP_ACCEPT="application/json")
    assert again.status_code == 200 and again.json()["intent"] == data["intent"]


@pytest.mark.parametrize(
    "change",
    [
        {"seat": ["Z-1"]},  # unknown seat
        {"seat": ["A-1", "A-99"]},  # one unknown
        {"seat": [f"A-{n}" for n in range(1, 9)]},  # more than the per-buyer limit
        {"email": "not-an-email"},
        {"phone": "call me"},
        {"name": ""},
        {"seat": []},
        {"seat": ["<script>"]},
    ],
)
def test_bad_hold_input_is_4xx_and_changes_nothing(client, event, change):
    before = list(Seat.objects.order_by("id").values_list("status", "version"))
    response = client.post(hold_url(event), {**FORM, "seat": ["A-1"], **change})
    assert 400 <= response.status_code < 500
    json_response = client.post(hold_url(event), {**FORM, "seat": ["A-1"], **change}, HTTP_ACCEPT="application/json")
    assert 400 <= json_response.status_code < 500 and "error" in json_response.json()
    assert BookingIntent.objects.count() == 0
    assert list(Seat.objects.order_by("id").values_list("status", "version")) == before


def test_seats_of_another_event_are_refused(client, event):
    other = make_event(rows=6)  # has row F, which `event` (4 rows) lacks
    response = client.post(hold_url(event), {**FORM, "seat": ["F-1"]})
    assert response.status_code == 400
    assert not Seat.objects.filter(event=other).exclude(status=Seat.Status.AVAILABLE).exists()


def test_missing_csrf_token_is_403_and_changes_nothing(event):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(hold_url(event), {**FORM, "seat": ["A-1"]})
    assert response.status_code == 403
    assert BookingIntent.objects.count() == 0


def test_release_from_checkout(client, event):
    client.post(hold_url(event), {**FORM, "seat": ["C-1"]})
    intent = BookingIntent.objects.get()
    response = client.post(f"/checkout/{intent.id}/release/")
    assert response.status_code == 303
    assert Seat.objects.get(event=event, label="C-1").status == Seat.Status.AVAILABLE
    assert "expired" not in client.get(f"/checkout/{intent.id}/").content.decode().lower()


def test_a_lapsed_hold_s_checkout_says_so_before_and_after_the_sweep(client, event):
    client.post(hold_url(event), {**FORM, "seat": ["C-2"]})
    intent = BookingIntent.objects.get()
    BookingIntent.objects.filter(pk=intent.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "This hold has expired" in client.get(f"/checkout/{intent.id}/").content.decode()  # HELD, lapsed
    services.expire_intents()
    assert BookingIntent.objects.get().status == BookingIntent.Status.EXPIRED
    assert "This hold has expired" in client.get(f"/checkout/{intent.id}/").content.decode()


def test_an_event_before_its_sale_opens_offers_the_line(client, event):
    event.sale_opens_at = timezone.now() + timedelta(hours=1)
    event.save()
    page = client.get(f"/events/{event.slug}/").content.decode()
    assert "Sale opens" in page and "Get in line" in page and "Choose seats</a>" not in page


def test_healthz_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.content == b"ok"


def test_readyz(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_names_redis_when_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["down"] == ["redis"]
    assert response["Retry-After"]


def test_event_page_is_served_from_the_cache(client, event, django_assert_num_queries):
    first = client.get(f"/events/{event.slug}/")
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = client.get(f"/events/{event.slug}/")
    assert again.content == first.content


def test_hot_paths_pass_over_the_middleware_they_do_not_need(client, event):
    """A hold and the availability documents skip messages and WhiteNoise
    (booking_site.hotpaths), and still get CSRF, the visitor cookie and the gate; other pages
    keep the whole chain."""
    shell = client.get(f"/events/{event.slug}/seats/")
    assert hasattr(shell.wsgi_request, "_messages")  # MessageMiddleware ran

    availability = client.get(f"/events/{event.slug}/seats/availability.json")
    assert availability.status_code == 200 and not hasattr(availability.wsgi_request, "_messages")

    strict = Client(enforce_csrf_checks=True)
    refused = strict.post(hold_url(event), {**FORM, "seat": ["A-1"]}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 403 and not BookingIntent.objects.exists()  # CSRF still checked

    held = client.post(hold_url(event), {**FORM, "seat": ["A-1"]}, HTTP_ACCEPT="application/json")
    assert held.status_code == 201 and not hasattr(held.wsgi_request, "_messages")
    assert held["Content-Length"] == str(len(held.content))  # CommonMiddleware still runs: no chunked reply
    assert held.wsgi_request.visitor_id  # the gate read or minted the visitor cookie
    assert BookingIntent.objects.get().session_ref == held.wsgi_request.visitor_id


def test_a_lost_race_is_not_logged_as_a_warning_but_a_bad_request_is(client, event, caplog):
    """A hot seat answers thousands of 409s at a drop's first second: counted by the refusals
    metric, not written as a warning each (booking_site.logs.ConflictsAtDebug)."""
    services.hold_seats(event=event, seat_labels=["A-1"], **buyer(7))
    caplog.set_level(logging.INFO)

    conflict = client.post(hold_url(event), {**FORM, "seat": "A-1"}, HTTP_ACCEPT="application/json")
    bad = client.post(hold_url(event), {**FORM, "seat": "A-1", "email": "not-an-email"}, HTTP_ACCEPT="application/json")

    assert (conflict.status_code, bad.status_code) == (409, 400)
    request_lines = [(r.status_code, r.levelname) for r in caplog.records if r.name == "django.request"]
    assert request_lines == [(400, "WARNING")]
