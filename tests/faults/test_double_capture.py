"""Two captures on one order (issue 17, part 5): the order keeps one payment, the other is refunded.

Real parts only: the emulator over HTTP through the SDK, the live server receiving its webhooks,
PostgreSQL, and real threads racing the Checkout callbacks of one order's two payments."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.db import connections
from django.utils import timezone

from apps.booking import services as booking_services
from apps.booking.models import Booking
from apps.payments import gateway, selectors, services
from apps.payments.models import Payment, Refund, RemotePayment, WebhookEvent
from tests.factories import buyer, make_event
from tests.payments.conftest import pay
from tests.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = 10  # the issue saw 2 in 10 double-paid orders go wrong


def faults(gateway_url: str, **switches) -> None:
    httpx.post(f"{gateway_url}/_emulator/faults", json=switches, timeout=5).raise_for_status()


def order_with_two_authorized_payments(gateway_url: str, event, n: int) -> tuple[Payment, list[dict]]:
    """One buyer's order paid twice (two Checkout tabs): both payments authorized, neither captured yet."""
    intent = booking_services.hold_seats(event=event, seat_labels=[f"A-{n}"], owner=f"browser-{n}", **buyer(n)).intent
    payment = services.ensure_order(intent=intent)
    return payment, [pay(gateway_url, payment.order_id, "success", capture=False) for _ in range(2)]


def in_thread(fn):
    """Run fn in this thread with a database connection of its own, closed afterwards."""

    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return run


def race_callbacks(payment: Payment, answers: list[dict]) -> list[str]:
    """Both Checkout callbacks of one order at once (each captures its own payment, then records it)."""
    barrier = threading.Barrier(len(answers))
    outcomes: list[str] = []

    @in_thread
    def callback(answer: dict) -> None:
        barrier.wait()
        outcomes.append(
            services.verify_checkout(
                intent_id=payment.intent_id,
                order_id=answer["razorpay_order_id"],
                payment_id=answer["razorpay_payment_id"],
                signature=answer["razorpay_signature"],
            ).outcome
        )

    threads = [threading.Thread(target=callback, args=(answer,)) for answer in answers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def assert_one_payment_kept(payment: Payment) -> None:
    """Razorpay holds exactly one captured payment for the order, the booked one; the other is refunded
    (at Razorpay and in our records), and the booking is the order's only one."""
    payment.refresh_from_db()
    remote = {p["id"]: p for p in gateway.order_payments(payment.order_id)}
    kept = [pid for pid, p in remote.items() if p["status"] == "captured"]
    assert kept == [payment.payment_id], (payment.order_id, {pid: p["status"] for pid, p in remote.items()})
    assert payment.status == Payment.Status.CAPTURED
    assert Booking.objects.filter(intent_id=payment.intent_id).count() == 1
    (extra,) = set(remote) - {payment.payment_id}
    assert remote[extra]["status"] == "refunded" and remote[extra]["amount_refunded"] == payment.amount_paise
    refund = Refund.objects.get(razorpay_payment_id=extra)
    assert refund.payment_id == payment.pk and refund.refund_id and refund.amount_paise == payment.amount_paise
    assert not Refund.objects.filter(razorpay_payment_id=payment.payment_id).exists()
    # What the audit reads: both payments recorded as Razorpay reported them (so its check is not empty).
    noted = dict(RemotePayment.objects.filter(payment=payment).values_list("razorpay_payment_id", "status"))
    assert noted.keys() == remote.keys() and set(noted.values()) <= {"captured", "refunded"}


@pytest.mark.parametrize("webhooks", ["held back", "delivered late"])
def test_two_captures_racing_on_one_order_keep_one_and_refund_the_other(gateway_url, webhooks):
    if webhooks == "held back":
        faults(gateway_url, drop_first=1000)  # no webhook ever arrives: the callbacks alone settle
    else:
        faults(gateway_url, delay=2)  # they arrive after the race, and are processed then
    event = make_event()
    orders = [order_with_two_authorized_payments(gateway_url, event, n) for n in range(1, ORDERS + 1)]

    told = {payment.order_id: sorted(race_callbacks(payment, answers)) for payment, answers in orders}

    if webhooks == "delivered late":
        captured_ids = {answer["razorpay_payment_id"] for _, answers in orders for answer in answers}
        wait_for(
            lambda: (
                set(WebhookEvent.objects.filter(event_type="payment.captured").values_list("payment_id", flat=True))
                >= captured_ids
            ),
            timeout=30,
            what="the late payment.captured webhooks",
        )
        stored = list(WebhookEvent.objects.values_list("pk", flat=True))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(in_thread(lambda pk: services.process_webhook(webhook_id=pk)), stored))

    # Each buyer is told "confirmed" once, and "refunded" for the second payment.
    assert told == {payment.order_id: ["confirmed", "refunded"] for payment, _ in orders}
    for payment, _ in orders:
        assert_one_payment_kept(payment)
    assert Booking.objects.count() == ORDERS
    assert selectors.invariant_violations() == dict.fromkeys(selectors.invariant_violations(), 0)


def test_reconciliation_alone_refunds_a_capture_nobody_reported(gateway_url):
    """The second payment was captured at Razorpay (a worker died before recording it, say) and no
    webhook ever tells us: reconciliation lists the booked order's payments and returns that money."""
    faults(gateway_url, drop_first=1000)
    event = make_event()
    payment, (first, second) = order_with_two_authorized_payments(gateway_url, event, 1)
    settled = services.verify_checkout(
        intent_id=payment.intent_id,
        order_id=payment.order_id,
        payment_id=first["razorpay_payment_id"],
        signature=first["razorpay_signature"],
    )
    assert settled.outcome == "confirmed"
    gateway.capture(second["razorpay_payment_id"], payment.amount_paise, payment.currency)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    chosen = services.payments_to_reconcile()
    assert chosen == [payment.pk]  # a booked order is checked too
    for pk in chosen:
        services.reconcile_payment(payment_id=pk)

    assert_one_payment_kept(payment)
    assert payment.payment_id == first["razorpay_payment_id"]
    assert selectors.invariant_violations() == dict.fromkeys(selectors.invariant_violations(), 0)
    # Run again (the next beat): nothing more is refunded, nothing changes.
    Payment.objects.filter(pk=payment.pk).update(last_checked_at=None)
    services.reconcile_payment(payment_id=payment.pk)
    assert Refund.objects.count() == 1
    assert_one_payment_kept(payment)
