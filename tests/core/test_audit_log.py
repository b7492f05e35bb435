"""Ops actions record who did them and when (Zulip's `acting_user`), and the admin shows the log."""

import pytest
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model

from apps.booking import services as booking_services
from apps.core.models import AuditEntry
from apps.payments.models import Payment
from apps.waitingroom.models import WaitingRoomConfig
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    client.force_login(get_user_model().objects.create_superuser("ops-anna", "anna@example.com", "x"))
    return client


def act(client, model: str, action: str, pks: list, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in pks], **extra}
    return client.post(f"/admin/{model}/", data)


def test_refund_release_pause_and_flush_are_logged_with_their_actor_and_shown(ops):
    event = make_event()
    held = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer(1)).intent
    paid = booking_services.hold_seats(event=event, seat_labels=["A-2"], **buyer(2)).intent
    payment = Payment.objects.create(
        intent=paid, order_id="order_ops", payment_id="pay_ops", amount_paise=paid.amount_paise, status="captured"
    )
    room = WaitingRoomConfig.objects.get(event=event)

    act(ops, "booking/bookingintent", "release_holds", [held.pk])
    act(ops, "payments/payment", "refund", [payment.pk])
    act(ops, "waitingroom/waitingroomconfig", "pause", [room.pk])
    act(ops, "waitingroom/waitingroomconfig", "flush_line", [room.pk], confirm="yes")

    entries = list(AuditEntry.objects.order_by("at", "pk").values_list("actor__username", "action", "target"))
    assert entries == [
        ("ops-anna", "release hold", f"intent {held.pk}"),
        ("ops-anna", "refund", "payment order_ops"),
        ("ops-anna", "change room", f"event {event.slug}"),
        ("ops-anna", "flush line", f"event {event.id}"),
    ]
    assert "paused=True" in AuditEntry.objects.get(action="change room").detail
    page = ops.get("/admin/core/auditentry/").content.decode()
    assert page.count("ops-anna") >= 4 and "flush line" in page and "order_ops" in page


def test_a_buyer_giving_a_hold_back_is_not_an_ops_action():
    intent = booking_services.hold_seats(event=make_event(), seat_labels=["A-1"], **buyer()).intent
    booking_services.release_intent(intent_id=intent.id)
    assert not AuditEntry.objects.exists()
