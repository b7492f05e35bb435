"""What follows a cancellation elsewhere: the door page answers red "Cancelled", the attendee list
says so, and a refund Razorpay processes later (its webhook) makes the booking refunded."""

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from apps.booking import links, selectors
from apps.booking import services as booking_services
from apps.booking.models import Booking, Event
from apps.payments import services as payment_services
from apps.payments.models import Refund
from tests.cancel.helpers import quiet_webhooks, real_paid_booking
from tests.factories import make_event

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_door_page_answers_cancelled_in_red(gateway_url):
    quiet_webhooks()
    event = make_event()
    booking = real_paid_booking(event, ["A-1"], 1)
    code = links.gate_codes(booking)[0][1]
    booking_services.cancel_booking(booking_id=booking.pk, reason="Buyer asked")
    staff = get_user_model().objects.create_user("door", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="check_in"))
    client = Client()
    client.force_login(staff)
    page = client.post(reverse("booking:door", args=[event.slug]), {"code": code, "gate": "Gate 1"})
    html = page.content.decode()
    assert "door-red" in html and '<p class="door-big">Cancelled</p>' in html and "A-1" in html


def test_the_attendee_list_and_the_counts_tell_cancelled_seats(gateway_url):
    quiet_webhooks()
    event = make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    booking_services.cancel_booking(
        booking_id=booking.pk, booked_seat_ids=[booking.booked_seats.get(seat__label="A-1").pk], reason="x"
    )
    rows = list(selectors.attendee_rows(event))
    assert [(row[4], row[6]) for row in rows[1:]] == [("A-1", "cancelled"), ("A-2", "confirmed")]
    assert selectors.check_in_counts(event).booked == 1
    assert site._registry[Event].call_off_events  # the event's action exists beside the export


def test_a_refund_processed_later_by_webhook_makes_the_booking_refunded(gateway_url):
    """Real Razorpay often answers a refund request with `pending`; its refund.processed webhook
    finishes the booking."""
    quiet_webhooks()
    event = make_event()
    booking = real_paid_booking(event, ["A-1"], 1)
    cancellation = booking_services.cancel_booking(booking_id=booking.pk, reason="Buyer asked")
    refund = payment_services.refund_cancellation(cancellation_id=cancellation.pk)
    # As if Razorpay had answered `pending`: the booking waits for the webhook.
    Refund.objects.filter(pk=refund.pk).update(status=Refund.Status.PENDING)
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CANCELLED)
    type(cancellation).objects.filter(pk=cancellation.pk).update(refunded_at=None)
    payload = {
        "event": "refund.processed",
        "payload": {"refund": {"entity": {"id": refund.refund_id, "payment_id": refund.razorpay_payment_id,
                                          "amount": refund.amount_paise, "status": "processed"}}},
    }  # fmt: skip
    stored, _ = payment_services.receive_webhook(event_id="evt_refund_processed_1", payload=payload)
    assert payment_services.process_webhook(webhook_id=stored.pk) == "processed"
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.REFUNDED
    assert Refund.objects.get(pk=refund.pk).status == Refund.Status.PROCESSED
