"""The attendee list of an event, as ops download it from the event's admin: one row per booked
seat by reference then seat, check-in times on the venue's clock, cells a spreadsheet will not run
as formulas, only for staff who may view bookings, and one query however many bookings there are."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.booking import links, selectors, services
from apps.booking.models import Booking
from apps.payments.models import Payment
from tests.factories import make_event

pytestmark = pytest.mark.django_db

HEADER = [
    "booking reference",
    "buyer name",
    "email",
    "phone",
    "seat",
    "section",
    "status",
    "checked in at",
    "gate",
]


def booked(event, labels: list[str], n: int, *, name: str = "", phone: str = "+919876543210") -> Booking:
    """A booking as the product makes one: a hold, a captured payment, then confirm_intent."""
    intent = services.hold_seats(
        event=event,
        seat_labels=labels,
        buyer_name=name or f"Buyer {n}",
        buyer_email=f"export{n}@example.com",
        buyer_phone=phone,
    ).intent
    Payment.objects.create(
        intent=intent,
        order_id=f"order_export{n}",
        payment_id=f"pay_export{n}",
        amount_paise=intent.amount_paise,
        status=Payment.Status.CAPTURED,
    )
    return services.confirm_intent(intent_id=intent.id)[0]


def staff(*perms: str, name: str = "clerk") -> Client:
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    user.user_permissions.add(*(Permission.objects.get(codename=p, content_type__app_label="booking") for p in perms))
    client = Client()
    client.force_login(user)
    return client


def export_url(event) -> str:
    return reverse("admin:booking_event_attendees", args=[event.pk])


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel then reads the names as UTF-8
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_one_row_per_booked_seat_by_reference_then_seat_with_the_check_in_on_the_venues_clock():
    event = make_event(seats_per_row=12)
    event.time_zone = "America/New_York"  # not the server's zone: the row must name the venue's
    event.save()
    first = booked(event, ["A-10", "A-2", "A-1"], 1, name="Asha Rao")
    second = booked(event, ["B-1"], 2, name="Vikram Sen", phone="98765 43210")
    booked(make_event(), ["A-1"], 3)  # another event's booking stays out
    codes = dict(links.gate_codes(first))
    at = datetime(2026, 12, 12, 1, 2, 3, 456789, tzinfo=UTC)  # 20:02:03 on the 11th in New York
    assert services.check_in(event=event, code=codes["Seat A-2"], gate="Gate 2", now=at).admitted

    response = staff("view_booking").get(export_url(event))
    assert response["Content-Disposition"] == f'attachment; filename="attendees-{event.slug}.csv"'
    rows = read_csv(response)

    earlier, later = sorted([first, second], key=lambda b: b.reference)
    by_booking = {
        first.reference: [
            [
                first.reference,
                "Asha Rao",
                "export1@example.com",
                "'+919876543210",
                "A-1",
                "Standard",
                "confirmed",
                "",
                "",
            ],
            [
                first.reference,
                "Asha Rao",
                "export1@example.com",
                "'+919876543210",
                "A-2",
                "Standard",
                "confirmed",
                "2026-12-11T20:02:03-05:00",
                "Gate 2",
            ],
            [
                first.reference,
                "Asha Rao",
                "export1@example.com",
                "'+919876543210",
                "A-10",
                "Standard",
                "confirmed",
                "",
                "",
            ],
        ],
        second.reference: [
            [
                second.reference,
                "Vikram Sen",
                "export2@example.com",
                "98765 43210",
                "B-1",
                "Standard",
                "confirmed",
                "",
                "",
            ]
        ],
    }
    assert rows == [HEADER, *by_booking[earlier.reference], *by_booking[later.reference]]


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://x.example","Click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_kept_as_text(name):
    event = make_event()
    booked(event, ["A-1"], 1, name=name, phone="-1")
    [_, row] = read_csv(staff("view_booking").get(export_url(event)))
    assert row[1] == f"'{name}" and row[3] == "'-1"
    assert row[4] == "A-1"  # a plain cell is left alone


def test_tab_and_carriage_return_starts_are_guarded_too():
    """Names cannot hold control characters (the booking form refuses them), so the guard itself."""
    assert selectors.spreadsheet_text("\t=1+2") == "'\t=1+2"
    assert selectors.spreadsheet_text("\r=1+2") == "'\r=1+2"
    assert selectors.spreadsheet_text("Asha = Rao") == "Asha = Rao"


def test_only_staff_who_may_view_bookings_export():
    event = make_event()
    booked(event, ["A-1"], 1)
    url = export_url(event)
    assert "/admin/login/" in Client().get(url)["Location"]
    assert staff("change_event", "view_event", name="planner").get(url).status_code == 403
    assert staff("check_in", name="door").get(url).status_code == 403
    clerk = staff("view_booking")
    assert clerk.get(url).status_code == 200
    assert clerk.get(reverse("admin:booking_event_attendees", args=[event.pk + 1000])).status_code == 404


def test_the_admin_action_exports_one_event_and_is_offered_only_to_those_who_may_view_bookings():
    event, other = make_event(), make_event()
    booked(event, ["A-1", "A-2"], 1)
    changelist = reverse("admin:booking_event_changelist")

    def run(client: Client, *events):
        data = {"action": "export_attendees", helpers.ACTION_CHECKBOX_NAME: [e.pk for e in events]}
        return client.post(changelist, data, follow=True)

    allowed = staff("view_event", "view_booking")
    assert "Export attendees (CSV)" in allowed.get(changelist).content.decode()
    rows = read_csv(run(allowed, event))
    assert [row[4] for row in rows[1:]] == ["A-1", "A-2"]
    refused = run(allowed, event, other)
    assert "Choose one event to export its attendees." in refused.content.decode()

    planner = staff("view_event", "change_event", name="planner")
    assert "Export attendees (CSV)" not in planner.get(changelist).content.decode()
    not_offered = run(planner, event)
    assert not_offered["Content-Type"].startswith("text/html")  # the list again, no CSV
    assert "No action selected." in not_offered.content.decode()


def test_the_event_page_links_the_export_for_those_who_may_view_bookings():
    event = make_event(name="Monsoon Nights")
    page = reverse("admin:booking_event_change", args=[event.pk])
    html = staff("view_event", "view_booking").get(page).content.decode()
    assert f'href="{export_url(event)}"' in html and "Export attendees of Monsoon Nights (CSV)" in html
    planner_html = staff("view_event", "change_event", name="planner").get(page).content.decode()
    assert export_url(event) not in planner_html


def _export_queries(client: Client, event) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as every:
        rows = read_csv(client.get(export_url(event)))
    return len(every), len(rows) - 1


def test_the_export_costs_the_same_queries_for_one_booking_as_for_many():
    small, big = make_event(), make_event()
    booked(small, ["A-1"], 1)
    for n in range(6):
        booked(big, [f"B-{n + 1}", f"C-{n + 1}"], 10 + n)
    client = staff("view_booking")
    client.get(export_url(small))  # the session and the user, read once as any page does
    assert _export_queries(client, small)[1] == 1
    small_queries, _ = _export_queries(client, small)
    big_queries, big_rows = _export_queries(client, big)
    assert big_rows == 12
    assert big_queries == small_queries
    with CaptureQueriesContext(connection) as selector:
        assert len(list(selectors.attendee_rows(big))) == 13
    assert len(selector) == 1  # the rows: one query, read in chunks
