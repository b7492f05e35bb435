"""The seat map as documents (apps/booking/seatmap.py): a shell the same for every buyer, a
versioned layout, availability per inventory generation with ETags, the wire sizes, the form
for browsers without JavaScript, and which of these the waiting room's gate guards."""

import gzip
import json
import random
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.booking import inventory, pages, services
from apps.booking.models import BookingIntent, Event, Seat
from apps.core.prebuilt import PUBLIC_CACHE_CONTROL
from apps.waitingroom import services as room_services
from tests.factories import buyer, make_event
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db

STATIC = Path(settings.BASE_DIR) / "static"
FORM = {"name": "Asha Rao", "email": "asha@example.com", "phone": "+91 98765 43210"}
GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br", "HTTP_ACCEPT": "application/json"}
NGINX_GZIP_LEVEL = 5  # deploy/nginx/surge.conf.template compresses static files on the fly at this level


def body(response) -> bytes:
    return gzip.decompress(response.content) if response.get("Content-Encoding") == "gzip" else response.content


def doc(response) -> dict:
    assert response.status_code == 200, response.content[:200]
    return json.loads(body(response))


def config_of(shell) -> dict:
    found = re.search(rb'<script id="seatmap-config" type="application/json">(.*?)</script>', body(shell), re.S)
    return json.loads(found.group(1))


def seats_url(event, rest: str = "") -> str:
    return f"/events/{event.slug}/seats/{rest}"


def static_gzip(name: str) -> int:
    return len(gzip.compress((STATIC / name).read_bytes(), compresslevel=NGINX_GZIP_LEVEL))


def hold(event, labels, n=1, **kwargs):
    return services.hold_seats(event=event, seat_labels=labels, **buyer(n), **kwargs)


# --- The shell -------------------------------------------------------------------------------


def test_a_changed_event_shows_in_the_shell_within_its_freshness(client, monkeypatch):
    """The shell is pre-built, and rebuilt by one request once it is stale: an event changed by ops
    (here its per-buyer limit, which seatmap.js enforces) reaches the page within the freshness,
    with the page and its released-notice variant answered both ways (ahead of the middleware,
    and by the view)."""
    monkeypatch.setattr(pages, "FRESH_SECONDS", 1)
    event = make_event(rows=1, seats_per_row=4, max_seats_per_buyer=4)
    for url in (seats_url(event), seats_url(event, "?released=1")):
        assert config_of(client.get(url))["max"] == 4
    Event.objects.filter(pk=event.pk).update(max_seats_per_buyer=2)
    assert config_of(client.get(seats_url(event)))["max"] == 4  # pre-built, still fresh
    time.sleep(1.2)  # stale, and the process's one-second memo of the event too
    for url in (seats_url(event), seats_url(event, "?released=1")):
        assert config_of(client.get(url))["max"] == 2, url


def test_the_shell_is_the_same_bytes_for_every_buyer_and_costs_no_query(client, event, django_assert_num_queries):
    first = client.get(seats_url(event), **GZIP)
    assert first.status_code == 200 and first["Content-Encoding"] == "gzip"
    html = body(first).decode()
    assert "choose your seats" in html and "csrfmiddlewaretoken" not in html
    # Any cache may keep it for a moment, like an event page: it sets no cookie and varies on none.
    assert first["Cache-Control"] == PUBLIC_CACHE_CONTROL and first["ETag"].startswith('W/"')
    assert not first.cookies and first["Vary"] == "Accept-Encoding"

    other = Client()
    with django_assert_num_queries(0):  # pre-built: no template, no database
        again = other.get(seats_url(event), **GZIP)
    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert client.get(seats_url(event), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    plain = Client().get(seats_url(event))  # a client that cannot take gzip gets the same page
    assert "Content-Encoding" not in plain and plain.content == body(first)
    # Answered ahead of the session and CSRF middleware: whatever cookies come, none go back, and
    # nothing varies on them, so a shared cache may keep the answer.
    junk = Client(HTTP_COOKIE=f"{settings.CSRF_COOKIE_NAME}=not-a-token; {settings.SESSION_COOKIE_NAME}=short")
    with django_assert_num_queries(0):
        odd = junk.get(seats_url(event), **GZIP)
    assert odd.content == first.content and not odd.cookies and odd["Vary"] == "Accept-Encoding"

    config = config_of(first)
    assert config["mode"] == "all" and config["max"] == event.max_seats_per_buyer and config["on_sale"]
    assert [s["seats"] for s in config["sections"]] == [40]
    assert config["hold"] == f"/events/{event.slug}/hold/" and "?v=" in config["layout"]


def test_a_released_hold_gets_its_notice(client, event):
    released = body(client.get(seats_url(event) + "?released=1")).decode()
    assert "Your hold was released" in released
    assert "Your hold was released" not in body(client.get(seats_url(event))).decode()


# --- The layout ------------------------------------------------------------------------------


def test_the_layout_is_compact_versioned_and_public(client):
    event = make_event(rows=3, seats_per_row=12, price=50000)
    services.generate_seat_grid(event=event, seats_per_row=8, tiers=[("Balcony", 2, 30000)])
    layout_url = config_of(client.get(seats_url(event)))["layout"]
    response = client.get(layout_url, **GZIP)
    layout = doc(response)
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Vary" not in response or "Cookie" not in response["Vary"]  # no session, no cookie: shareable
    assert not response.cookies
    standard, balcony = layout["sections"]
    assert (standard["name"], standard["price"], standard["seats"]) == ("Standard", 50000, 36)
    assert standard["rows"] == [["A", 1, 12], ["B", 1, 12], ["C", 1, 12]]
    assert balcony["rows"] == [["D", 1, 8], ["E", 1, 8]] and layout["labels"] == {}
    unversioned = client.get(f"/events/{event.slug}/layout.json")
    assert unversioned["Cache-Control"] == f"public, max-age={settings.INVENTORY_CACHE_SECONDS}"
    assert client.get(f"/events/{event.slug}/layout.json", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_gaps_and_odd_labels_survive_the_layout(client, event):
    Seat.objects.filter(event=event, label__in=["A-4", "A-5"]).delete()
    Seat.objects.filter(event=event, label="B-2").update(label="VIP-1")
    inventory.redis().flushdb()
    layout = doc(client.get(f"/events/{event.slug}/layout.json"))
    assert layout["sections"][0]["rows"][0] == ["A", 1, 3, 6, 5]
    assert layout["labels"] == {"B-2": "VIP-1"}


# --- Availability ----------------------------------------------------------------------------


def test_availability_changes_after_a_hold_a_release_and_an_expiry(
    client, event, django_capture_on_commit_callbacks, django_assert_num_queries
):
    url = seats_url(event, "availability.json")
    fresh = client.get(url, **GZIP)
    assert doc(fresh) == {"on_sale": True, "left": 40, "sections": {str(event.sections.get().id): 40}}
    assert fresh["Cache-Control"] == "private, no-cache"
    with django_assert_num_queries(0):  # built once per generation, then from Redis
        unchanged = client.get(url, HTTP_IF_NONE_MATCH=fresh["ETag"], **GZIP)
    assert unchanged.status_code == 304 and unchanged["ETag"] == fresh["ETag"]

    # A hold: the next conditional GET with the old ETag gets the new document.
    with django_capture_on_commit_callbacks(execute=True):
        held = hold(event, ["A-1", "A-2"])
    after_hold = client.get(url, HTTP_IF_NONE_MATCH=fresh["ETag"], **GZIP)
    assert doc(after_hold)["held"] == {"A": [1, 2]} and doc(after_hold)["left"] == 38
    assert after_hold["ETag"] != fresh["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=after_hold["ETag"], **GZIP).status_code == 304

    # A release puts the seats back: the document is the fresh one again.
    with django_capture_on_commit_callbacks(execute=True):
        services.release_intent(intent_id=held.intent.id)
    after_release = client.get(url, HTTP_IF_NONE_MATCH=after_hold["ETag"], **GZIP)
    assert doc(after_release)["left"] == 40 and "held" not in doc(after_release)
    assert after_release["ETag"] == fresh["ETag"]

    # An expiry: nobody writes anything; the hold's time passes and the document follows.
    lapse_in = 1.5
    made_at = timezone.now() - timedelta(minutes=event.hold_minutes) + timedelta(seconds=lapse_in)
    with django_capture_on_commit_callbacks(execute=True):
        hold(event, ["C-3"], n=2, now=made_at)
    expiring = client.get(url, **GZIP)
    assert doc(expiring)["held"] == {"C": [3, 1]}
    assert client.get(url, HTTP_IF_NONE_MATCH=expiring["ETag"], **GZIP).status_code == 304
    generation = inventory.redis().get(inventory.generation_key(event.id))
    time.sleep(lapse_in + 0.2)
    lapsed = client.get(url, HTTP_IF_NONE_MATCH=expiring["ETag"], **GZIP)
    assert inventory.redis().get(inventory.generation_key(event.id)) == generation  # no write, no bump
    assert Seat.objects.get(event=event, label="C-3").status == Seat.Status.HELD  # still HELD in the row
    assert doc(lapsed)["left"] == 40 and "held" not in doc(lapsed)


def _stream_of_holds(client, event, on_commit, holds: int) -> tuple[int, list[int]]:
    """A hold, then a buyer's availability read, `holds` times in a row: how many reads rebuilt the
    document (a rebuild reads the database; a cached read does not), and each read's free count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = seats_url(event, "availability.json")
    free = list(event.seats.filter(status=Seat.Status.AVAILABLE).order_by("id").values_list("label", flat=True))
    rebuilds, left = 0, []
    for n in range(holds):
        with on_commit(execute=True):
            hold(event, [free[n]], n=len(free) * 100 + n)
        with CaptureQueriesContext(connection) as queries:
            left.append(doc(client.get(url, **GZIP))["left"])
        rebuilds += bool(queries.captured_queries)
    return rebuilds, left


def test_a_stream_of_changes_rebuilds_a_document_a_few_times_a_second(client, django_capture_on_commit_callbacks):
    """During a drop every hold is a change: the document is rebuilt after a burst at most
    INVENTORY_REBUILDS_PER_SECOND times a second, and in between buyers get the newest one built."""
    event = make_event(rows=4, seats_per_row=10)
    doc(client.get(seats_url(event, "availability.json"), **GZIP))  # built once before the stream
    started = time.monotonic()
    rebuilds, left = _stream_of_holds(client, event, django_capture_on_commit_callbacks, 30)
    elapsed = time.monotonic() - started
    allowed = inventory.REBUILD_BURST + settings.INVENTORY_REBUILDS_PER_SECOND * elapsed + 1
    assert rebuilds <= allowed, (rebuilds, elapsed)
    assert left == sorted(left, reverse=True) and left[-1] >= 10  # behind, never ahead, never garbage
    # Quiet again: after the bucket refills the next change is shown at once.
    time.sleep(inventory.REBUILD_BURST / settings.INVENTORY_REBUILDS_PER_SECOND)
    _, after_pause = _stream_of_holds(client, event, django_capture_on_commit_callbacks, 1)
    assert after_pause == [40 - 31]


def test_control_unthrottled_every_change_rebuilds(client, django_capture_on_commit_callbacks, settings):
    """The harness sees rebuilds: with no limit, each of the 30 reads after a hold rebuilds."""
    settings.INVENTORY_REBUILDS_PER_SECOND = 1_000_000
    event = make_event(rows=4, seats_per_row=10)
    rebuilds, left = _stream_of_holds(client, event, django_capture_on_commit_callbacks, 30)
    assert rebuilds == 30 and left == list(range(39, 9, -1))


def test_section_documents_and_the_overview(client, django_capture_on_commit_callbacks):
    event = make_event(rows=2, seats_per_row=5)
    services.generate_seat_grid(event=event, seats_per_row=5, tiers=[("Balcony", 2, 50000)])
    standard, balcony = event.sections.order_by("position")
    with django_capture_on_commit_callbacks(execute=True):
        hold(event, ["C-2"])
    overview = doc(client.get(seats_url(event, "overview.json")))
    assert overview == {"on_sale": True, "left": 19, "sections": {str(standard.id): 10, str(balcony.id): 9}}
    upstairs = client.get(seats_url(event, f"availability/{balcony.id}.json"), **GZIP)
    assert doc(upstairs) == {"on_sale": True, "left": 9, "sections": {str(balcony.id): 9}, "held": {"C": [2, 1]}}
    downstairs = client.get(seats_url(event, f"availability/{standard.id}.json"), **GZIP)
    # A change in another section leaves this one's document (and its ETag) as it was.
    with django_capture_on_commit_callbacks(execute=True):
        hold(event, ["D-5"], n=2)
    assert (
        client.get(
            seats_url(event, f"availability/{standard.id}.json"), HTTP_IF_NONE_MATCH=downstairs["ETag"]
        ).status_code
        == 304
    )
    other = make_event()
    assert client.get(seats_url(event, f"availability/{other.sections.get().id}.json")).status_code == 404
    assert client.get(seats_url(make_event(status="DRAFT"), "availability.json")).status_code == 404


def test_the_overview_turns_on_sale_when_the_sale_opens(client):
    later = make_event(sale_opens_at=timezone.now() + timedelta(seconds=1.2))
    assert doc(client.get(seats_url(later, "overview.json")))["on_sale"] is False
    time.sleep(1.4)  # the document ends when the sale opens
    assert doc(client.get(seats_url(later, "overview.json")))["on_sale"] is True


# --- What it costs on the wire ---------------------------------------------------------------


def wire(client, event, *paths) -> dict[str, int]:
    """Bytes of each response body as sent (gzip), for the shell, the documents the script loads,
    and the script and style sheet (compressed by nginx)."""
    shell = client.get(seats_url(event), **GZIP)
    sizes = {"shell": len(shell.content)}
    config = config_of(shell)
    for name in paths:
        response = client.get(config[name] if name in config else name, **GZIP)
        assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
        sizes[name] = len(response.content)
    sizes["seatmap.js"] = static_gzip("js/seatmap.js")
    sizes["site.css"] = static_gzip("css/site.css")
    return sizes


def test_a_1000_seat_map_costs_at_most_15_kb_on_the_wire(client):
    event = make_event(rows=5, seats_per_row=40, price=250000)
    services.generate_seat_grid(event=event, seats_per_row=40, tiers=[("Standard", 12, 150000), ("Balcony", 8, 80000)])
    assert Seat.objects.filter(event=event).count() == 1000
    fresh = wire(client, event, "layout", "availability")
    # Mid-sale: a third of the seats held or sold, scattered (the worst case for runs).
    labels = list(Seat.objects.filter(event=event).values_list("label", flat=True))
    taken = random.Random(7).sample(labels, 330)
    for i in range(0, len(taken), 6):
        hold(event, taken[i : i + 6], n=i)
    inventory.bump(event.id)
    busy = wire(client, event, "layout", "availability")
    print("1,000 seats, gzip bytes: fresh", fresh, sum(fresh.values()), "| a third taken", busy, sum(busy.values()))
    assert sum(fresh.values()) <= 15_000
    assert sum(busy.values()) <= 15_000
    assert 1_000 < fresh["shell"] + fresh["layout"] + fresh["availability"] < 4_000


@pytest.fixture
def stadium(db):
    """50,000 seats: 10 sections of 100 rows of 50."""
    event = make_event(rows=100, seats_per_row=50, name="Stadium")
    event.sections.update(name="Section 1")
    tiers = [(f"Section {n}", 100, 150000 - n * 10000) for n in range(2, 11)]
    services.generate_seat_grid(event=event, seats_per_row=50, tiers=tiers)
    return event


def test_the_first_view_of_a_50000_seat_event_costs_at_most_100_kb(client, stadium):
    labels = list(Seat.objects.filter(event=stadium).order_by("id").values_list("label", flat=True)[:5000])
    taken = random.Random(3).sample(labels, 1500)  # section 1 is 30% gone
    for i in range(0, len(taken), 6):
        hold(stadium, taken[i : i + 6], n=i)
    inventory.redis().flushdb()
    room_services.restore_room(event_id=stadium.id)  # the room's mirror (as the first poll would): cold documents only
    builds = {}  # how long each document takes to build (once per generation; the layout once per TTL)
    for name in ("seats/", "layout.json", "seats/overview.json", "seats/availability.json"):
        began = time.perf_counter()
        assert client.get(f"/events/{stadium.slug}/{name}").status_code == 200
        builds[name] = round((time.perf_counter() - began) * 1000)
    config = config_of(client.get(seats_url(stadium)))
    assert config["mode"] == "sections" and len(config["sections"]) == 10
    first = config["sections"][0]["id"]
    began = time.perf_counter()
    section = len(client.get(seats_url(stadium, f"availability/{first}.json"), **GZIP).content)
    builds["section"] = round((time.perf_counter() - began) * 1000)
    first_view = wire(client, stadium, "overview", "layout")  # the layout is fetched right after the overview
    print(f"50,000 seats, gzip bytes: first view {first_view} = {sum(first_view.values())}; ", end="")
    print(f"a section's availability (30% taken): {section}; cold builds (ms, incl. request): {builds}")
    assert sum(first_view.values()) <= 100_000
    assert sum(first_view.values()) + section <= 100_000  # and the first section picked too
    assert first_view["overview"] < 500


# --- Holding ---------------------------------------------------------------------------------


def test_the_script_holds_with_the_token_from_the_csrf_cookie(event):
    """The shell sets no cookie: the availability, which seatmap.js reads before any hold, mints the
    CSRF cookie, and the script sends its value in the header."""
    browser = Client(enforce_csrf_checks=True)
    assert not browser.get(seats_url(event)).cookies
    minted = browser.get(seats_url(event, "availability.json"))
    token = minted.cookies[settings.CSRF_COOKIE_NAME].value
    assert not settings.CSRF_COOKIE_HTTPONLY  # ... which seatmap.js must be able to read
    again = browser.get(seats_url(event, "availability.json"), HTTP_IF_NONE_MATCH=minted["ETag"])
    assert again.status_code == 304 and settings.CSRF_COOKIE_NAME not in again.cookies  # minted once
    data = {**FORM, "seat": ["A-1", "A-2"]}
    refused = browser.post(f"/events/{event.slug}/hold/", data, HTTP_ACCEPT="application/json")
    assert refused.status_code == 403 and not BookingIntent.objects.exists()
    held = browser.post(f"/events/{event.slug}/hold/", data, HTTP_ACCEPT="application/json", HTTP_X_CSRFTOKEN=token)
    assert held.status_code == 201
    assert held.json()["checkout_url"] == f"/checkout/{BookingIntent.objects.get().id}/"


def test_without_javascript_the_form_holds_seats(event):
    browser = Client(enforce_csrf_checks=True)
    shell = body(browser.get(seats_url(event))).decode()
    link = re.search(r'<noscript>.*?href="([^"]+)"', shell, re.S).group(1).replace("&amp;", "&")
    assert link == seats_url(event) + "?section=all"
    page = browser.get(link)
    html = page.content.decode()
    assert page["Cache-Control"] == "private, no-cache"
    assert 'value="A-1"' in html and "<strong>40</strong> of 40 seats available" in html and "₹1,500" in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = browser.post(
        f"/events/{event.slug}/hold/", {**FORM, "seat": ["A-1", "A-2"], "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 303
    intent = BookingIntent.objects.get()
    assert response["Location"] == f"/checkout/{intent.id}/"
    assert sorted(intent.seats.values_list("label", flat=True)) == ["A-1", "A-2"]


def test_without_javascript_a_large_venue_shows_one_section(client, stadium, django_capture_on_commit_callbacks):
    sections = list(stadium.sections.order_by("position"))
    third, fourth = services.row_label_for(200), services.row_label_for(300)  # section 3 is rows 201-300
    page = client.get(seats_url(stadium) + f"?section={sections[2].id}").content.decode()
    assert f'value="{third}-1"' in page and f'value="{fourth}-1"' not in page
    assert page.count('type="checkbox"') == 5000 and "Section 10" in page
    with django_capture_on_commit_callbacks(execute=True):
        hold(stadium, [f"{third}-1"])
    refused = client.post(f"/events/{stadium.slug}/hold/", {**FORM, "seat": [f"{third}-1", f"{third}-2"]})
    assert refused.status_code == 409  # answered with the chosen seats' section, the taken one named
    html = refused.content.decode()
    assert f"taken: {third}-1" in html and html.count('type="checkbox"') == 5000
    assert f'value="{third}-1" aria-label="Row {third} seat 1, ₹1,200, held" disabled' in html
    assert client.get(seats_url(stadium) + "?section=999999").status_code == 404


# --- The waiting room's gate -----------------------------------------------------------------


def test_availability_is_gated_like_the_seat_list_and_the_layout_and_shell_are_not(event):
    open_room(event, capacity=10, rate_per_minute=600)
    section = event.sections.get().id
    outsider = Client()
    assert outsider.get(seats_url(event) + "?section=all").status_code == 302
    shell = outsider.get(seats_url(event))
    assert shell.status_code == 200 and "choose your seats" in body(shell).decode()
    for rest in ("overview.json", "availability.json", f"availability/{section}.json"):
        response = outsider.get(seats_url(event, rest), HTTP_ACCEPT="application/json")
        assert response.status_code == 429 and response.json()["queue_url"] == f"/queue/{event.slug}/", rest
    assert outsider.get(f"/events/{event.slug}/layout.json").status_code == 200
