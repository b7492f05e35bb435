"""A gate back online syncs the check-ins it queued offline (services.sync_check_ins through
/door/<slug>/sync/): each seat is let in exactly once, at the scan's time when that is plausible;
duplicates name when and where the seat went in first; bad input is a 400 that changes nothing;
only door staff, only with the CSRF token. And the manifest a phone keeps for offline answers."""

import base64
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.booking import links, services, tickets
from apps.booking.models import BookedSeat
from apps.booking.services import QueuedScan, SyncOutcome
from apps.booking.templatetags.booking_tags import event_clock
from tests.door.test_door_page import door_staff
from tests.factories import make_event
from tests.payments.test_audit import audit, paid_booking

pytestmark = pytest.mark.django_db


def codes(booking) -> dict[str, str]:
    """Seat label -> its ticket code."""
    return {admits.removeprefix("Seat "): code for admits, code in links.gate_codes(booking)}


def ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def sync(client: Client, event, scans, **headers):
    body = scans if isinstance(scans, (str, bytes)) else json.dumps({"scans": scans})
    return client.post(
        reverse("booking:door_sync", args=[event.slug]),
        body,
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        **headers,
    )


def checked_in() -> dict[str, tuple]:
    return {
        b.seat.label: (b.checked_in_at, b.checked_in_gate)
        for b in BookedSeat.objects.select_related("seat").filter(checked_in_at__isnull=False)
    }


def test_a_queue_syncs_each_seat_once_at_its_scan_time_and_names_the_duplicates():
    event, other = make_event(name="Monsoon Nights"), make_event()
    mine = codes(paid_booking(event, ["A-1", "A-2", "A-3"], 1))
    elsewhere = codes(paid_booking(other, ["A-1"], 2))["A-1"]
    first_in = services.check_in(event=event, code=mine["A-2"], gate="Gate 1")  # meanwhile, online
    scanned = timezone.now() - timedelta(minutes=3)
    queue = [
        {"code": mine["A-1"], "gate": "Gate 2", "scanned_at": ms(scanned)},
        {"code": mine["A-2"], "gate": "Gate 2", "scanned_at": ms(scanned + timedelta(seconds=5))},
        {"code": mine["A-3"], "gate": "Gate 2", "scanned_at": ms(scanned + timedelta(seconds=9))},
        {"code": elsewhere, "gate": "Gate 2", "scanned_at": ms(scanned)},
        {"code": mine["A-1"].replace(".A-1.", ".A-4."), "gate": "Gate 2", "scanned_at": ms(scanned)},
    ]
    response = sync(door_staff(), event, queue)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    results = response.json()["results"]
    assert [r["sync"] for r in results] == ["admitted", "duplicate", "admitted", "not_valid", "not_valid"]
    assert [r["code"] for r in results] == [s["code"] for s in queue]  # in the order sent
    duplicate = results[1]
    assert (duplicate["seat"], duplicate["gate"]) == ("A-2", "Gate 1")
    assert duplicate["clock"] == event_clock(first_in.checked_in_at, event)  # "19:02 IST"
    assert results[0]["buyer"] == "Buyer 1." and results[3]["outcome"] == "other_event"

    seats = checked_in()
    assert seats == {
        "A-1": (scanned.replace(microsecond=scanned.microsecond // 1000 * 1000), "Gate 2"),  # the scan's time
        "A-2": (first_in.checked_in_at, "Gate 1"),  # untouched: the first gate keeps it
        "A-3": (scanned.replace(microsecond=scanned.microsecond // 1000 * 1000) + timedelta(seconds=9), "Gate 2"),
    }
    assert not BookedSeat.objects.filter(seat__event=other, checked_in_at__isnull=False).exists()

    # The answer was lost and the gate sends the same queue again: its own check-ins read admitted,
    # nothing changes.
    again = [r["sync"] for r in sync(door_staff("door2"), event, queue).json()["results"]]
    assert again == ["admitted", "duplicate", "admitted", "not_valid", "not_valid"]
    assert checked_in() == seats
    code, output = audit()
    assert code == 0, output


def test_a_scan_time_is_never_in_the_future_nor_older_than_the_evening():
    event = make_event()
    mine = codes(paid_booking(event, ["A-1", "A-2", "A-3"], 1))
    now = timezone.now()
    answers = services.sync_check_ins(
        event=event,
        now=now,
        scans=[
            QueuedScan(code=mine["A-1"], gate="G", scanned_at=now + timedelta(hours=2)),  # the phone's clock ahead
            QueuedScan(code=mine["A-2"], gate="G", scanned_at=now - timedelta(days=3)),  # its clock long behind
            QueuedScan(code=mine["A-3"], gate="G", scanned_at=None),
        ],
    )
    assert [a.outcome for a in answers] == [SyncOutcome.ADMITTED] * 3
    assert {label: at for label, (at, _) in checked_in().items()} == {"A-1": now, "A-2": now, "A-3": now}


def test_only_door_staff_sync_and_only_with_the_csrf_token():
    event = make_event()
    code = codes(paid_booking(event, ["A-1"], 1))["A-1"]
    scans = [{"code": code, "gate": "Gate 2", "scanned_at": ms(timezone.now())}]
    assert sync(Client(), event, scans).status_code == 403  # signed out: JSON, not the login page
    clerk = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_booking"))
    as_clerk = Client()
    as_clerk.force_login(clerk)
    assert sync(as_clerk, event, scans).status_code == 403
    assert not checked_in()

    strict = door_staff()
    strict.handler.enforce_csrf_checks = True
    assert sync(strict, event, scans).status_code == 403  # no token: refused by the CSRF middleware
    assert not checked_in()
    strict.get(reverse("booking:door", args=[event.slug]))  # the page sets the CSRF cookie
    response = sync(strict, event, scans, HTTP_X_CSRFTOKEN=strict.cookies["csrftoken"].value)
    assert response.status_code == 200 and response.json()["results"][0]["sync"] == "admitted"
    assert list(checked_in()) == ["A-1"]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        b"\x93{\xff",  # not even UTF-8
        json.dumps(["a list"]),
        json.dumps({"scans": "A-1"}),
        json.dumps({"no": "scans"}),
        "GOOD,{}",  # a good scan, then one without a code
        'GOOD,{"code": 7, "gate": "G"}',
        'GOOD,{"code": "x", "gate": null}',
        'GOOD,{"code": "x", "gate": "G", "scanned_at": "19:02"}',
        'GOOD,{"code": "x", "gate": "G", "scanned_at": true}',
        'GOOD,{"code": "x", "gate": "G", "scanned_at": -5}',
        'GOOD,{"code": "x", "gate": "G", "scanned_at": 10000000000000000}',  # beyond any calendar
        'GOOD,{"code": "x", "gate": "G", "scanned_at": 1.5}',
        'GOOD,{"code": "' + "T" * 201 + '", "gate": "G"}',
    ],
)
def test_bad_input_is_a_400_that_changes_nothing(body):
    event = make_event()
    code = codes(paid_booking(event, ["A-1"], 1))["A-1"]
    good = json.dumps({"code": code, "gate": "Gate 2", "scanned_at": ms(timezone.now())})
    if isinstance(body, str) and body.startswith("GOOD,"):
        body = '{"scans": [' + good + "," + body.removeprefix("GOOD,") + "]}"
    response = sync(door_staff(), event, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert not checked_in()  # not even the good scan before the bad one


def test_a_batch_over_the_cap_is_refused_whole_and_one_at_the_cap_goes_through():
    event = make_event()
    code = codes(paid_booking(event, ["A-1"], 1))["A-1"]
    scan = {"code": code, "gate": "Gate 2", "scanned_at": ms(timezone.now())}
    over = sync(door_staff(), event, [scan] * (services.SYNC_BATCH_MAX + 1))
    assert over.status_code == 400 and "At most 200 scans" in over.content.decode()
    assert not checked_in()
    with pytest.raises(services.InvalidRequest):  # the service refuses it too, whoever calls it
        services.sync_check_ins(
            event=event, scans=[QueuedScan(code=code, gate="G", scanned_at=None)] * (services.SYNC_BATCH_MAX + 1)
        )
    assert not checked_in()
    at_cap = sync(door_staff("door2"), event, [scan] * services.SYNC_BATCH_MAX)
    assert at_cap.status_code == 200
    outcomes = [r["sync"] for r in at_cap.json()["results"]]
    assert outcomes == ["admitted"] * services.SYNC_BATCH_MAX  # the same scan: its own check-in
    assert list(checked_in()) == ["A-1"]


def test_the_manifest_is_for_door_staff_one_query_and_carries_no_contact_details():
    event = make_event()
    booking = paid_booking(event, ["A-1", "A-2"], 1)
    paid_booking(event, ["B-1"], 2)
    paid_booking(make_event(), ["A-1"], 3)  # another event's seat stays out
    mine = codes(booking)
    first_in = services.check_in(event=event, code=mine["A-2"], gate="Gate 4")
    cancelled = paid_booking(event, ["C-1"], 4)
    services.cancel_booking(booking_id=cancelled.pk, reason="asked by the buyer")  # an offline phone says red
    url = reverse("booking:door_manifest", args=[event.slug])
    assert Client().get(url).status_code == 403

    staff = door_staff()
    staff.get(url)  # the session is read once; count the manifest's own queries
    with CaptureQueriesContext(connection) as queries:
        response = staff.get(url)
    ours = [q for q in queries.captured_queries if "booking_bookedseat" in q["sql"]]
    assert len(ours) == 1, queries.captured_queries
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert data["event"] == event.id
    assert data["key"] == base64.b64encode(tickets.door_key(event.id)).decode()
    seats = {v[0]: v for v in data["seats"].values()}
    assert set(seats) == {"A-1", "A-2", "B-1", "C-1"}
    assert seats["A-1"] == ["A-1", "Buyer 1.", "", "", False]
    assert seats["A-2"] == ["A-2", "Buyer 1.", event_clock(first_in.checked_in_at, event), "Gate 4", False]
    assert seats["C-1"] == ["C-1", "Buyer 4.", "", "", True]
    assert "example.com" not in response.content.decode() and "+91" not in response.content.decode()


def test_the_service_worker_is_for_door_staff_and_keeps_the_page_and_its_files():
    event = make_event()
    url = reverse("booking:door_worker", args=[event.slug])
    assert Client().get(url).status_code == 403
    response = door_staff().get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "no-cache"
    config = json.loads(response.content.decode().split("var CONFIG = ", 1)[1].split(";\n", 1)[0])
    assert config["page"] == reverse("booking:door", args=[event.slug])
    assert config["assets"] == [
        "/static/css/site.css",
        "/static/favicon.svg",
        "/static/js/door.js",
        "/static/vendor/jsqr/jsQR.js",
    ]
    assert config["cache"].startswith(f"surge-door-{event.id}-")
