"""Which orders reconciliation asks Razorpay about: stuck ones first, settled ones too, less often with age."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.booking import services as booking_services
from apps.payments import services
from apps.payments.models import Payment, Refund
from tests.factories import buyer, make_event

pytestmark = pytest.mark.django_db


def order(event, label, n, **fields):
    intent = booking_services.hold_seats(event=event, seat_labels=[label], **buyer(n)).intent
    payment = Payment.objects.create(intent=intent, order_id=f"order_{n}", amount_paise=intent.amount_paise)
    Payment.objects.filter(pk=payment.pk).update(**fields)
    return payment


def test_selects_stuck_orders_first_then_settled_ones():
    event = make_event()
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    stuck = order(event, "A-1", 1, created_at=ten_minutes_ago)
    confirmed = order(event, "A-2", 2, created_at=ten_minutes_ago, status="captured", payment_id="pay_2")
    booking_services.confirm_intent(intent_id=confirmed.intent_id)
    captured_no_ticket = order(event, "A-3", 3, created_at=ten_minutes_ago, status="captured", payment_id="pay_3")
    refunded = order(event, "A-4", 4, created_at=ten_minutes_ago, status="refunded", payment_id="pay_4")
    Refund.objects.create(
        payment=refunded,
        razorpay_payment_id="pay_4",
        refund_id="rfnd_4",
        idempotency_key="full-pay_4",
        amount_paise=refunded.amount_paise,
        reason="late",
        status="processed",
    )
    unaccepted = order(event, "A-5", 5, created_at=ten_minutes_ago, status="refunded", payment_id="pay_5")
    Refund.objects.create(
        payment=unaccepted,
        razorpay_payment_id="pay_5",
        idempotency_key="full-pay_5",
        amount_paise=unaccepted.amount_paise,
        reason="late",
    )
    too_young = order(event, "A-6", 6)

    chosen = services.payments_to_reconcile()
    # Settled orders are listed too (a second capture nobody reported), after every unsettled one.
    assert set(chosen[:3]) == {stuck.pk, captured_no_ticket.pk, unaccepted.pk}
    assert set(chosen[3:]) == {confirmed.pk, refunded.pk}
    assert too_young.pk not in chosen


def test_checks_back_off_as_the_order_ages():
    event = make_event()
    now = timezone.now()
    fresh = order(event, "B-1", 1, created_at=now - timedelta(minutes=10), last_checked_at=now - timedelta(minutes=2))
    old = order(event, "B-2", 2, created_at=now - timedelta(hours=10), last_checked_at=now - timedelta(minutes=2))
    older_checked_long_ago = order(
        event, "B-3", 3, created_at=now - timedelta(hours=10), last_checked_at=now - timedelta(hours=2)
    )
    just_checked = order(event, "B-4", 4, created_at=now - timedelta(minutes=10), last_checked_at=now)
    given_up = order(event, "B-5", 5, created_at=now - timedelta(days=5))

    chosen = set(services.payments_to_reconcile(now=now))
    # 10 h old and checked 2 min ago: next check after ~1 h. Checked 2 h ago: due.
    assert chosen == {fresh.pk, older_checked_long_ago.pk}
    assert old.pk not in chosen and just_checked.pk not in chosen and given_up.pk not in chosen


def test_settled_orders_back_off_faster():
    """A booked order is listed again once its age has doubled since the last look; a stuck one of
    the same age and last look is due far sooner (a tenth of its age)."""
    event = make_event()
    now = timezone.now()
    ten_minutes_ago, two_minutes_ago = now - timedelta(minutes=10), now - timedelta(minutes=2)
    booked_recently = order(
        event, "C-1", 1, created_at=ten_minutes_ago, last_checked_at=two_minutes_ago, status="captured", payment_id="p1"
    )
    booking_services.confirm_intent(intent_id=booked_recently.intent_id)
    booked_long_ago = order(
        event,
        "C-2",
        2,
        created_at=ten_minutes_ago,
        last_checked_at=now - timedelta(minutes=5),
        status="captured",
        payment_id="p2",
    )
    booking_services.confirm_intent(intent_id=booked_long_ago.intent_id)
    stuck = order(event, "C-3", 3, created_at=ten_minutes_ago, last_checked_at=two_minutes_ago)

    assert services.payments_to_reconcile(now=now) == [stuck.pk, booked_long_ago.pk]
