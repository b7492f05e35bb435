"""Item 5 of the security issue, "close the admin doors": money rows are never made or edited by hand,
and a hand-made row from before cannot turn a payment into a 500 or a retry loop."""

import re

import httpx
import pytest
from django.test import Client

from apps.booking import services as booking_services
from apps.booking.models import BookedSeat, Booking, BookingIntent, Seat
from apps.payments import services
from apps.payments.models import Payment, Refund, WebhookEvent
from tests.factories import buyer, make_event
from tests.payments.conftest import pay, signed_webhook
from tests.security.conftest import hold_and_checkout

pytestmark = pytest.mark.django_db(transaction=True)


def paid_booking(event, labels, n) -> Booking:
    """A booking the way the product makes one (a captured payment, then confirm_intent)."""
    intent = booking_services.hold_seats(event=event, seat_labels=labels, **buyer(n)).intent
    Payment.objects.create(
        intent=intent,
        order_id=f"order_hand{n}",
        payment_id=f"pay_hand{n}",
        amount_paise=intent.amount_paise,
        status=Payment.Status.CAPTURED,
    )
    return booking_services.confirm_intent(intent_id=intent.id)[0]


@pytest.fixture
def money_rows(db):
    event = make_event()
    booking = paid_booking(event, ["A-1"], 1)
    payment = Payment.objects.get(intent_id=booking.intent_id)
    refund = Refund.objects.create(
        payment=payment, razorpay_payment_id="pay_hand1", idempotency_key="full-pay_hand1", amount_paise=100, reason="x"
    )
    webhook = WebhookEvent.objects.create(event_id="evt_hand1", event_type="payment.captured", payload={})
    return {
        "booking/booking": booking,
        "booking/bookingintent": booking.intent,
        "payments/payment": payment,
        "payments/refund": refund,
        "payments/webhookevent": webhook,
    }


MODELS = [
    "booking/booking",
    "booking/bookingintent",
    "payments/payment",
    "payments/refund",
    "payments/webhookevent",
]


@pytest.mark.parametrize("model", MODELS)
def test_admin_cannot_add_money_rows_by_hand(ops, money_rows, model):
    before = type(money_rows[model]).objects.count()
    assert ops.get(f"/admin/{model}/add/").status_code == 403
    assert ops.post(f"/admin/{model}/add/", {"reference": "HANDMADE", "order_id": "order_hand"}).status_code == 403
    assert type(money_rows[model]).objects.count() == before
    assert 'href="/admin/' + model + '/add/"' not in ops.get(f"/admin/{model}/").content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_admin_shows_money_rows_read_only(ops, money_rows, model):
    row = money_rows[model]
    url = f"/admin/{model}/{row.pk}/change/"
    page = ops.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html  # no Save button: a view, not a form
    assert not re.search(r'<(input|select)[^>]+name="[a-z_]+-\d+-(seat|amount_paise|status)"', html)  # inlines too
    assert ops.post(url, {"buyer_name": "Mallory", "amount_paise": "1", "status": "captured"}).status_code == 403
    assert ops.get(f"/admin/{model}/{row.pk}/delete/").status_code == 403


def test_admin_cannot_add_a_seat_to_a_booking_through_the_inline(ops, money_rows):
    """The old inline took a raw seat id: a seat could be added to any booking by hand."""
    booking = money_rows["booking/booking"]
    free_seat = Seat.objects.get(event=booking.event, label="B-1")
    form = {
        "booked_seats-TOTAL_FORMS": "2",
        "booked_seats-INITIAL_FORMS": "1",
        "booked_seats-MIN_NUM_FORMS": "0",
        "booked_seats-MAX_NUM_FORMS": "1000",
        "booked_seats-0-id": str(booking.booked_seats.get().pk),
        "booked_seats-0-booking": str(booking.pk),
        "booked_seats-0-seat": str(booking.booked_seats.get().seat_id),
        "booked_seats-1-booking": str(booking.pk),
        "booked_seats-1-seat": str(free_seat.pk),
    }
    response = ops.post(f"/admin/booking/booking/{booking.pk}/change/", form)
    assert response.status_code == 403
    assert booking.booked_seats.count() == 1


def test_admin_actions_still_work_on_closed_models(ops, money_rows, gateway_url):
    """Closing add/change must not take away the ops actions: release holds, reconcile."""
    event = money_rows["booking/booking"].event
    hold = booking_services.hold_seats(event=event, seat_labels=["C-1"], **buyer(5)).intent
    response = ops.post(
        "/admin/booking/bookingintent/", {"action": "release_holds", "_selected_action": [str(hold.pk)]}, follow=True
    )
    assert response.status_code == 200 and "Released 1 hold" in response.content.decode()
    assert BookingIntent.objects.get(pk=hold.pk).status == BookingIntent.Status.RELEASED

    payment = money_rows["payments/payment"]
    response = ops.post(
        "/admin/payments/payment/", {"action": "reprocess", "_selected_action": [str(payment.pk)]}, follow=True
    )
    assert response.status_code == 200 and payment.order_id in response.content.decode()


def test_hand_made_booked_seat_makes_confirmation_refund_instead_of_a_500(gateway_url):
    """A seat was added by hand (the old admin inline) to someone's booking without being sold. The
    next buyer of that seat pays: verify must answer, the money must go back, nothing may loop."""
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)
    event = make_event()
    other = paid_booking(event, ["B-1"], 2)
    hand_made = Seat.objects.get(event=event, label="A-1")
    BookedSeat.objects.create(booking=other, seat=hand_made)
    assert Seat.objects.get(pk=hand_made.pk).status == Seat.Status.AVAILABLE

    client = Client()
    intent, payment = hold_and_checkout(client, event, ["A-1"], n=1)
    answer = pay(gateway_url, payment.order_id)
    response = client.post(f"/checkout/{intent.id}/pay/verify/", answer)

    assert response.status_code == 200 and response.json()["status"] == "refunded"
    assert not Booking.objects.filter(intent=intent).exists()
    assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.REFUNDED
    refund = Refund.objects.get(payment=payment)
    assert refund.refund_id and refund.amount_paise == intent.amount_paise
    # The webhook of the same payment settles too, once, with no error left to retry.
    body, headers = signed_webhook(
        "payment.captured", payment=services.gateway.fetch_payment(answer["razorpay_payment_id"])
    )
    assert (
        Client().post("/payments/razorpay/webhook/", body, content_type="application/json", headers=headers).status_code
        == 200
    )
    stored = WebhookEvent.objects.get(event_id=headers["X-Razorpay-Event-Id"])
    assert services.process_webhook(webhook_id=stored.pk) == WebhookEvent.Outcome.PROCESSED
    assert Refund.objects.filter(payment=payment).count() == 1
