"""Reads of the payments app, including the invariants the audit checks straight from the database."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.booking import links
from apps.booking.models import BookedSeat, Booking, BookingIntent, Cancellation, Seat
from apps.core import outbox
from apps.payments.models import (
    MONEY_TAKEN_STATUSES,
    PAID_STATUSES,
    CaptureMismatch,
    EmailFailure,
    Payment,
    Refund,
    RemotePayment,
    RemoteStatus,
    WebhookEvent,
)

# The longest wait between two attempts at a buyer email (tasks.py retries with backoff up to it):
# a failure recorded more recently than this means the email is still in its own retry chain.
EMAIL_RETRY_BACKOFF_MAX = 600


class OrderStage(StrEnum):
    """Where a buyer's order stands, as the checkout page and its status endpoint tell it."""

    PAYABLE = "payable"  # the hold is live and no payment is under way: Pay is offered
    PENDING = "pending"  # a payment was made and the bank has not answered: it may still go through
    CONFIRMING = "confirming"  # the money is in; the booking is being made
    CONFIRMED = "confirmed"  # the booking exists: the ticket
    REFUNDED = "refunded"  # the money came too late for the seats and goes back
    RELEASED = "released"  # the buyer gave the seats back
    EXPIRED = "expired"  # the hold ran out with nothing paid


STAGE_MESSAGES = {
    OrderStage.PAYABLE: "Your seats are held. You can pay now.",
    OrderStage.PENDING: (
        "Waiting for your bank to confirm the payment… Please do not pay again: this page moves on by "
        "itself when the bank answers. If the bank turns the payment down, you can pay again."
    ),
    OrderStage.CONFIRMING: "Payment received. We are confirming your tickets…",
    OrderStage.CONFIRMED: "Your booking is confirmed.",
    OrderStage.REFUNDED: (
        "Your payment reached us after your seats were sold to someone else, so we have refunded it in full."
    ),
    OrderStage.RELEASED: "You released these seats; they are back on sale.",
    OrderStage.EXPIRED: "This hold has expired and the seats went back on sale.",
}


@dataclass(frozen=True)
class OrderState:
    stage: OrderStage
    can_pay: bool
    message: str
    redirect: str | None = None

    def as_json(self) -> dict:
        return {"state": str(self.stage), "can_pay": self.can_pay, "message": self.message, "redirect": self.redirect}


def order_state(*, intent_id: UUID, now: datetime | None = None) -> OrderState:
    """The order's real state from our database: what Razorpay reported is recorded there
    (Payment, RemotePayment) by the webhook, the verify callback, reconciliation and
    `services.check_order`. A payment Razorpay lists as `created` is one the bank has not
    answered yet (a late payment): it may still succeed, so the order is PENDING and no second
    payment is offered, whatever the browser last saw."""
    now = now or timezone.now()
    intent = BookingIntent.objects.select_related("booking").get(pk=intent_id)
    payment = Payment.objects.filter(intent_id=intent_id).first()

    def state(stage: OrderStage, redirect: str | None = None) -> OrderState:
        return OrderState(stage, stage == OrderStage.PAYABLE, STAGE_MESSAGES[stage], redirect)

    if intent.status == BookingIntent.Status.CONFIRMED:
        return state(OrderStage.CONFIRMED, links.ticket_path(intent.booking.reference))
    if intent.status == BookingIntent.Status.REFUNDED or (
        payment is not None and payment.status == Payment.Status.REFUNDED
    ):
        return state(OrderStage.REFUNDED)
    if payment is not None and payment.status in (Payment.Status.AUTHORIZED, Payment.Status.CAPTURED):
        return state(OrderStage.CONFIRMING)
    if payment is not None and payment.remote_payments.filter(status=RemoteStatus.CREATED).exists():
        return state(OrderStage.PENDING)
    if intent.is_active(now):
        return state(OrderStage.PAYABLE)
    if intent.status == BookingIntent.Status.RELEASED:
        return state(OrderStage.RELEASED)
    return state(OrderStage.EXPIRED)


def invariant_violations(*, now=None) -> dict[str, int]:
    """Each line must be zero: the promise "no seat sold twice; nobody pays without a ticket or a refund".

    Reads only our database: Razorpay's side is what webhooks, callbacks and reconciliation's listing
    of each order's payments recorded (RemotePayment), so an audit run costs Razorpay nothing."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.EXPIRE_INTENTS_EVERY_SECONDS * 2 + 5)
    has_booking = Exists(Booking.objects.filter(intent_id=OuterRef("intent_id")))
    has_refund = Exists(Refund.objects.filter(payment_id=OuterRef("pk")))
    mismatch_refunded = Exists(Refund.objects.filter(razorpay_payment_id=OuterRef("razorpay_payment_id")))
    # A booking's own payment may be refunded in part or whole by its cancellations: that is the
    # booking's money going back, not a capture returned instead of a booking.
    returned_instead = Exists(
        Refund.objects.filter(razorpay_payment_id=OuterRef("razorpay_payment_id"), cancellation__isnull=True)
    )
    # Each payment Razorpay captured on an order is either the one the order booked, or refunded:
    # never neither (money kept without a ticket), never both.
    remote_booked = Exists(
        Booking.objects.filter(
            intent__payment=OuterRef("payment"), intent__payment__payment_id=OuterRef("razorpay_payment_id")
        )
    )
    remote_captured = RemotePayment.objects.filter(status__in=PAID_STATUSES).annotate(
        booked=remote_booked, refunded=returned_instead
    )
    deadline = now - timedelta(seconds=settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS)
    return {
        "seats sold twice": BookedSeat.objects.filter(active=True)
        .values("seat")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
        + Seat.objects.filter(status=Seat.Status.SOLD)
        .exclude(Exists(BookedSeat.objects.filter(seat=OuterRef("pk"), active=True)))
        .count()
        + BookedSeat.objects.filter(active=True).exclude(seat__status=Seat.Status.SOLD).count(),
        "events whose money kept is not the value of their valid tickets": len(events_out_of_balance()),
        "cancellations without their refund past the deadline": Cancellation.objects.filter(
            amount_paise__gt=0, refund__isnull=True, created_at__lt=deadline
        ).count(),
        "cancellation refunds of another amount than the seats cancelled": Refund.objects.filter(
            cancellation__isnull=False
        )
        .exclude(amount_paise=F("cancellation__amount_paise"))
        .count(),
        "bookings without a captured payment": Booking.objects.exclude(
            intent__payment__status=Payment.Status.CAPTURED
        ).count(),
        "captured payments with neither booking nor refund": Payment.objects.filter(status__in=MONEY_TAKEN_STATUSES)
        .annotate(booked=has_booking, refunded=has_refund)
        .filter(booked=False, refunded=False)
        .count(),
        "mismatched captures not refunded": CaptureMismatch.objects.filter(refund_due=True)
        .annotate(refunded=mismatch_refunded)
        .filter(refunded=False)
        .count(),
        "captured payments at Razorpay that are neither the booked one nor refunded": remote_captured.filter(
            booked=False, refunded=False
        ).count(),
        "captured payments at Razorpay both booked and refunded": remote_captured.filter(
            booked=True, refunded=True
        ).count(),
        "confirmed bookings without a sent confirmation past the deadline": Booking.objects.filter(
            intent__payment__isnull=False,
            intent__payment__confirmation_sent_at__isnull=True,
            created_at__lt=now - timedelta(seconds=settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS),
        ).count(),
        "announcements not delivered past the deadline": outbox.undelivered(
            older_than_seconds=settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS, now=now
        ),
        "holds past expiry": Seat.objects.lapsed(grace).count() + BookingIntent.objects.lapsed(grace).count(),
    }


def events_out_of_balance() -> dict[int, tuple[int, int, int]]:
    """Per event, money captured for its bookings minus money refunded by their cancellations must
    equal the value of the tickets still valid (the seats' prices): {event id: (captured, refunded,
    valid)} for each event where it does not. A cancellation's refund counts from the moment it is
    made (its Refund row, or the amount due until the row exists: "cancellations without their
    refund" watches that gap), so the sum holds while refunds are still on their way. Three grouped
    queries, whatever the number of bookings."""
    captured = dict(
        Booking.objects.filter(intent__payment__status=Payment.Status.CAPTURED)
        .values("event_id")
        .annotate(total=Sum("intent__payment__amount_paise"))
        .values_list("event_id", "total")
    )
    refunded = dict(
        Cancellation.objects.values("booking__event_id")
        .annotate(total=Sum(Coalesce("refund__amount_paise", "amount_paise")))
        .values_list("booking__event_id", "total")
    )
    valid = dict(
        BookedSeat.objects.filter(active=True)
        .values("booking__event_id")
        .annotate(total=Sum("price_paise"))
        .values_list("booking__event_id", "total")
    )
    events = set(captured) | set(refunded) | set(valid)
    sums = {e: (captured.get(e) or 0, refunded.get(e) or 0, valid.get(e) or 0) for e in events}
    return {e: (c, r, v) for e, (c, r, v) in sums.items() if c - r != v}


def stale_webhook_ids(*, older_than_seconds: int = 60) -> list[int]:
    """Webhooks stored but never processed (the broker was down when they arrived) or failed, for as
    long as reconciliation keeps trying; older ones stay failed for ops, never retried forever."""
    now = timezone.now()
    return list(
        WebhookEvent.objects.filter(
            Q(outcome=WebhookEvent.Outcome.PENDING) | Q(outcome=WebhookEvent.Outcome.FAILED),
            received_at__lte=now - timedelta(seconds=older_than_seconds),
            received_at__gte=now - timedelta(hours=settings.RECONCILE_GIVE_UP_HOURS),
        ).values_list("pk", flat=True)[:500]
    )


def capture_mismatches_recorded() -> int:
    """Payments reported against our orders that did not match them (forged or wrong money)."""
    return CaptureMismatch.objects.count()


def confirmations_to_resend(*, now=None, limit: int = 500) -> list:
    """Intents of bookings confirmed over half the email deadline ago whose email is neither sent
    nor being sent (no live claim) nor in a retry chain of its own (a failure recorded within the
    longest retry wait), nor given up (ops act then): their task was lost. Newest deadline first."""
    now = now or timezone.now()
    deadline = settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS
    lapsed_claim = now - timedelta(seconds=settings.CONFIRMATION_EMAIL_CLAIM_SECONDS)
    retrying = EmailFailure.objects.filter(intent_id=OuterRef("intent_id"), kind=EmailFailure.Kind.CONFIRMATION).filter(
        Q(gave_up_at__isnull=False) | Q(last_failed_at__gt=now - timedelta(seconds=EMAIL_RETRY_BACKOFF_MAX + deadline))
    )
    return list(
        Payment.objects.filter(
            intent__booking__created_at__lte=now - timedelta(seconds=deadline / 2),
            intent__booking__created_at__gte=now - timedelta(hours=settings.RECONCILE_GIVE_UP_HOURS),
            confirmation_sent_at__isnull=True,
        )
        .filter(Q(confirmation_claimed_at__isnull=True) | Q(confirmation_claimed_at__lt=lapsed_claim))
        .exclude(Exists(retrying))
        .order_by("intent__booking__created_at")
        .values_list("intent_id", flat=True)[:limit]
    )
