"""The admin's "Cancel bookings…": a confirmation page that says what will happen, then the
cancellation (the seats chosen, back on sale or blocked), recorded with the acting user; only for
whoever holds the cancel permission."""

import pytest
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from apps.booking.models import Booking, Cancellation, Seat
from apps.core.models import AuditEntry
from apps.payments.models import Refund
from tests.cancel.helpers import quiet_webhooks, real_paid_booking
from tests.factories import make_event

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/booking/booking/"


def test_the_confirmation_page_shows_what_will_happen_then_the_action_cancels(gateway_url, admin_client):
    quiet_webhooks()
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    a1 = booking.booked_seats.get(seat__label="A-1")
    asked = {"action": "cancel_bookings", helpers.ACTION_CHECKBOX_NAME: [booking.pk]}
    page = admin_client.post(CHANGELIST, asked)
    assert page.status_code == 200
    html = page.content.decode()
    for shown in (booking.reference, "A-1", "A-2", "₹3,000", "₹1,500", "the buyer is emailed", "Block the seats"):
        assert shown in html, shown
    assert not Cancellation.objects.exists()  # the page changes nothing

    missing_reason = admin_client.post(CHANGELIST, {**asked, "apply": "1", f"seats-{booking.pk}": [a1.pk]})
    assert missing_reason.status_code == 200 and not Cancellation.objects.exists()

    done = admin_client.post(
        CHANGELIST,
        {**asked, "apply": "1", f"seats-{booking.pk}": [a1.pk], "seats_after": "block", "reason": "Pillar in view"},
    )
    assert done.status_code == 302
    cancellation = Cancellation.objects.get()
    assert cancellation.amount_paise == 150000 and cancellation.actor_name == "admin"
    assert list(cancellation.seats.values_list("seat__label", flat=True)) == ["A-1"]
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.BLOCKED
    assert Refund.objects.get(cancellation=cancellation).amount_paise == 150000
    entry = AuditEntry.objects.get(action="cancel booking")
    assert entry.actor_name == "admin" and booking.reference in entry.target and "Pillar in view" in entry.detail

    again = admin_client.post(
        CHANGELIST,
        {**asked, "apply": "1", f"seats-{booking.pk}": [a1.pk], "seats_after": "block", "reason": "again"},
        follow=True,
    )
    assert "Already cancelled" in again.content.decode() and Cancellation.objects.count() == 1
    assert admin_client.get(f"{CHANGELIST}{booking.pk}/change/").status_code == 200


def test_the_action_needs_the_cancel_permission(gateway_url, client):
    quiet_webhooks()
    booking = real_paid_booking(make_event(), ["A-1"], 1)
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_booking"))
    client.force_login(viewer)
    listing = client.get(CHANGELIST)
    assert listing.status_code == 200 and "cancel_bookings" not in listing.content.decode()
    client.post(
        CHANGELIST,
        {
            "action": "cancel_bookings",
            helpers.ACTION_CHECKBOX_NAME: [booking.pk],
            "apply": "1",
            f"seats-{booking.pk}": [booking.booked_seats.get().pk],
            "seats_after": "release",
            "reason": "x",
        },
    )
    assert not Cancellation.objects.exists()
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CONFIRMED
