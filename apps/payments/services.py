"""Writes of the payments app. Every path ends in exactly one of "ticket issued" or "money returned".

Network calls to Razorpay always happen outside transactions; the booking core's
`confirm_intent` decides the single winner when the verify callback, the webhook task and
reconciliation race for the same payment.
"""

import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, DateTimeField, Exists, ExpressionWrapper, F, Min, OuterRef, Q
from django.utils import timezone

from apps.booking import services as booking_services
from apps.booking.errors import AlreadyCancelled, HoldExpired, SeatsUnavailable
from apps.booking.models import Booking, BookingIntent, BookingIntentQuerySet, Cancellation, Event
from apps.core import audit, metrics
from apps.payments import circuit, gateway
from apps.payments.errors import (
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    PaymentError,
    PaymentPending,
    SignatureInvalid,
    WebhookMalformed,
)
from apps.payments.models import (
    MONEY_TAKEN_STATUSES,
    PAID_STATUSES,
    SETTLED_STATUSES,
    UNPAID_STATUSES,
    CaptureMismatch,
    EmailFailure,
    Payment,
    Refund,
    RemotePayment,
    RemoteStatus,
    WebhookEvent,
)
from apps.payments.selectors import OrderStage, OrderState, order_state

logger = logging.getLogger(__name__)

OPEN_STATUSES = [Payment.Status.CREATED, Payment.Status.ATTEMPTED, Payment.Status.FAILED]


@dataclass(frozen=True)
class Settlement:
    """What became of a successful payment."""

    class Outcome(StrEnum):
        CONFIRMED = "confirmed"  # the booking is made
        REFUNDED = "refunded"  # the money goes back
        PENDING = "pending"  # not settled yet (not captured, or Razorpay not reachable)
        REJECTED = "rejected"  # the payment does not match the order, and there is no money of ours to return

    outcome: Outcome
    booking: Booking | None = None


# --- Orders -------------------------------------------------------------------------


def ensure_order(*, intent: BookingIntent) -> Payment:
    """The intent's Razorpay order, created once (a reload reuses it). Raises GatewayUnavailable."""
    existing = Payment.objects.filter(intent=intent).first()
    if existing is not None:
        return existing
    order = gateway.create_order(
        amount_paise=intent.amount_paise,
        currency=intent.currency,
        receipt=str(intent.id),
        notes={"intent_id": str(intent.id), "event": intent.event.slug},
    )
    try:
        with transaction.atomic():
            return Payment.objects.create(
                intent=intent, order_id=order["id"], amount_paise=intent.amount_paise, currency=intent.currency
            )
    except IntegrityError:
        # A concurrent reload won; its order is the one we use (ours is never paid).
        return Payment.objects.get(intent=intent)


def start_payment(*, intent_id: UUID) -> datetime:
    """The buyer pressed Pay: extend the hold once so a slow bank page does not lose the seats.

    Razorpay is asked first (never from memory): while a payment on this order may still go
    through, a second one could charge the buyer twice, so PaymentPending (409) is raised and
    nothing changes. Raises GatewayUnavailable when Razorpay cannot tell us."""
    state = check_order(intent_id=intent_id, fresh_within_seconds=0)
    if state.stage == OrderStage.PENDING:
        raise PaymentPending()
    if state.stage in (OrderStage.CONFIRMING, OrderStage.CONFIRMED):
        raise PaymentPending(state.message)
    return booking_services.extend_hold(intent_id=intent_id, minutes=settings.PAYMENT_HOLD_EXTENSION_MINUTES)


# A buyer's page polls the order's state while it waits; Razorpay is asked about one order at most
# this often, and at most once a second while the order looks payable (start_payment always asks).
STATUS_CHECK_SECONDS = 5
PAYABLE_CHECK_SECONDS = 1


def check_order(*, intent_id: UUID, fresh_within_seconds: float = STATUS_CHECK_SECONDS) -> OrderState:
    """Where the order stands, after asking Razorpay for its payments when our record may be out
    of date: an attempt may have been made (Pay was pressed, or Razorpay reported one) and nothing
    final is recorded yet. What Razorpay lists is recorded and acted on exactly as reconciliation
    does (`_act_on_order_payments`): a late payment captured is confirmed (or refunded) here, so the
    buyer's page reaches the ticket without waiting for the webhook's task.

    One order is asked about at most once per `fresh_within_seconds` however many tabs poll (once
    per PAYABLE_CHECK_SECONDS while it looks payable: a polling page must not spend the merchant's
    API quota), and Pay itself always asks (`start_payment`, 0). A failed ask gives its slot back,
    so reconciliation's own schedule is not pushed back by it. Raises GatewayUnavailable /
    GatewayRejected when Razorpay cannot be asked."""
    payment = Payment.objects.select_related("intent").filter(intent_id=intent_id).first()
    if payment is not None and _may_have_open_attempt(payment):
        now = timezone.now()
        window = fresh_within_seconds
        if window > 0 and order_state(intent_id=intent_id, now=now).stage == OrderStage.PAYABLE:
            window = min(window, PAYABLE_CHECK_SECONDS)
        due = Payment.objects.filter(pk=payment.pk)
        if window > 0:
            due = due.filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=now - timedelta(seconds=window)))
        if due.update(last_checked_at=now):
            try:
                remote_payments = gateway.order_payments(payment.order_id)
            except GatewayError:
                Payment.objects.filter(pk=payment.pk, last_checked_at=now).update(
                    last_checked_at=payment.last_checked_at
                )
                raise
            _act_on_order_payments(payment=payment, remote_payments=remote_payments)
    return order_state(intent_id=intent_id)


def _may_have_open_attempt(payment: Payment) -> bool:
    """Whether Razorpay may know something about this order that we have not recorded as final:
    the intent can still be paid (a late payment wins a lapsed or released hold's seats when they
    are free), and a payment may have been made (Pay extends the hold, so a never-extended hold with
    a fresh order has had none through our page) or is recorded but not settled."""
    intent = payment.intent
    if intent.status not in BookingIntentQuerySet.PAYABLE_STATUSES:
        return False
    if payment.status in MONEY_TAKEN_STATUSES:
        return payment.status == Payment.Status.CAPTURED  # captured without a booking yet
    return (
        intent.extended_at is not None or payment.status != Payment.Status.CREATED or payment.remote_payments.exists()
    )


# --- Checking money against the order ------------------------------------------------------

# What Razorpay's ids look like (pay_..., order_..., rfnd_...): anything else is never sent to the API.
RAZORPAY_ID = re.compile(r"[A-Za-z0-9_]{1,40}")


# How far along a payment is: a noted status only ever moves forward (webhook snapshots come out of order).
_PROGRESS: dict[str, int] = {
    RemoteStatus.CREATED: 0,
    RemoteStatus.FAILED: 1,
    RemoteStatus.AUTHORIZED: 2,
    RemoteStatus.CAPTURED: 3,
    RemoteStatus.REFUNDED: 4,
}


def _note_remote_payments(*, payment: Payment, entities: list[dict]) -> None:
    """Remember the payments Razorpay reports on this order (RemotePayment), before acting on them:
    the audit checks every one seen captured ended as the booking or a refund, so money a crash
    left half-handled shows up there. Entities of another order are not ours to note."""
    for entity in entities:
        payment_id = str(entity.get("id") or "")
        status = str(entity.get("status") or "")
        if entity.get("order_id") != payment.order_id or not RAZORPAY_ID.fullmatch(payment_id):
            continue
        amount = entity.get("amount")
        amount = amount if isinstance(amount, int) and not isinstance(amount, bool) and amount >= 0 else None
        noted, created = RemotePayment.objects.get_or_create(
            razorpay_payment_id=payment_id, defaults={"payment": payment, "status": status[:12], "amount_paise": amount}
        )
        if not created and _PROGRESS.get(status, -1) > _PROGRESS.get(noted.status, -1):
            RemotePayment.objects.filter(pk=noted.pk, status=noted.status).update(status=status[:12])


def _money_problems(*, payment: Payment, payment_id: str, entity: dict) -> list[str]:
    """How a payment entity disagrees with our order: another payment, another order, another amount
    or another currency. Empty when it matches in every respect."""
    problems = []
    if entity.get("id") != payment_id:
        problems.append(f"payment {entity.get('id')!r} is not {payment_id!r}")
    if entity.get("order_id") != payment.order_id:
        problems.append(f"order {entity.get('order_id')!r} is not {payment.order_id}")
    if entity.get("amount") != payment.amount_paise or isinstance(entity.get("amount"), bool):
        problems.append(f"amount {entity.get('amount')!r} is not {payment.amount_paise}")
    if entity.get("currency") != payment.currency:
        problems.append(f"currency {entity.get('currency')!r} is not {payment.currency}")
    return problems


def _razorpay_payment(*, payment: Payment, payment_id: str, reported: dict | None, statuses: tuple) -> dict | None:
    """The payment to act on: a signed webhook's snapshot when it agrees with our order in every
    respect, else Razorpay's own answer through the SDK (None: Razorpay does not know the payment).

    Raises GatewayUnavailable (the caller retries)."""
    if (
        reported is not None
        and reported.get("status") in statuses
        and not _money_problems(payment=payment, payment_id=payment_id, entity=reported)
    ):
        return reported
    if not RAZORPAY_ID.fullmatch(payment_id or ""):
        return None
    try:
        return gateway.fetch_payment(payment_id)
    except GatewayRejected:
        return None


def _reject_mismatch(
    *, payment: Payment, payment_id: str, remote: dict | None, reported: dict | None, source: str
) -> Settlement | None:
    """The one money check of every path that may settle a payment: None when Razorpay's payment
    matches our order in every respect. Otherwise the payment never confirms: it is recorded for ops
    (the admin and `audit_bookings` show it) and, when Razorpay captured that money on our order,
    refunded in full. A payment Razorpay does not know, or one of another order, has no money of
    ours to return."""
    if remote is None:
        problems = ["Razorpay does not know this payment"]
    else:
        problems = _money_problems(payment=payment, payment_id=payment_id, entity=remote)
    if not problems:
        return None
    refund_due = bool(
        remote is not None
        and remote.get("order_id") == payment.order_id
        and remote.get("status") == RemoteStatus.CAPTURED
    )
    claimed = _money_problems(payment=payment, payment_id=payment_id, entity=reported) if reported else []
    problem = "; ".join([*problems, *(f"claimed {p}" for p in claimed if p not in problems)])
    mismatch, created = CaptureMismatch.objects.get_or_create(
        payment=payment,
        razorpay_payment_id=payment_id[:40],
        defaults={
            "source": source,
            "problem": problem[:300],
            "reported": reported,
            "remote": remote,
            "refund_due": refund_due,
        },
    )
    if not created and refund_due and not mismatch.refund_due:  # authorized then, captured since
        CaptureMismatch.objects.filter(pk=mismatch.pk).update(refund_due=True, remote=remote)
    if created:
        logger.warning("payment %s does not match order %s: %s", payment_id, payment.order_id, problem)
    amount = remote.get("amount") if refund_due and remote is not None else None
    if isinstance(amount, int) and amount >= 100:
        _request_refund(
            payment=payment, payment_id=payment_id, amount_paise=amount, reason="the payment did not match the order"
        )
        return Settlement(Settlement.Outcome.REFUNDED)
    return Settlement(Settlement.Outcome.REJECTED)


# --- Success paths ----------------------------------------------------------------------


def verify_checkout(*, intent_id: UUID, order_id: str, payment_id: str, signature: str) -> Settlement:
    """The Checkout handler's callback: trust it only if the signature over *our* order id verifies,
    and Razorpay confirms that payment is on our order for our amount. Only then does the order show
    as paid (AUTHORIZED hides the buyer's Pay button): a leaked key secret signs anything."""
    payment = Payment.objects.filter(intent_id=intent_id).first()
    if payment is None or order_id != payment.order_id or not RAZORPAY_ID.fullmatch(payment_id):
        raise SignatureInvalid()
    if not gateway.payment_signature_valid(order_id=payment.order_id, payment_id=payment_id, signature=signature):
        raise SignatureInvalid()
    try:
        remote = gateway.fetch_payment(payment_id)
    except GatewayUnavailable:
        # Unchecked, so nothing changes; the webhook or reconciliation (which asks about our order) finishes it.
        return Settlement(Settlement.Outcome.PENDING)
    except GatewayRejected:
        remote = None
    if remote is not None:
        _note_remote_payments(payment=payment, entities=[remote])
    settlement = _reject_mismatch(
        payment=payment, payment_id=payment_id, remote=remote, reported=None, source=CaptureMismatch.Source.CHECKOUT
    )
    if settlement is not None:
        if settlement.outcome == Settlement.Outcome.REJECTED:
            raise SignatureInvalid()
        return settlement
    assert remote is not None  # _reject_mismatch refuses a payment Razorpay does not know
    if remote.get("status") in SETTLED_STATUSES:
        Payment.objects.filter(pk=payment.pk, status__in=OPEN_STATUSES).update(
            status=Payment.Status.AUTHORIZED, payment_id=payment_id
        )
    return settle_remote_payment(payment=payment, remote=remote, source=CaptureMismatch.Source.CHECKOUT)


def settle_remote_payment(
    *, payment: Payment, remote: dict, source: str = CaptureMismatch.Source.RECONCILIATION
) -> Settlement:
    """Bring a payment Razorpay reports (through the API) to its end: capture if only authorized,
    then fulfil. Money that does not match the order is never captured, and never confirms."""
    payment_id = str(remote.get("id") or "")
    rejected = _reject_mismatch(payment=payment, payment_id=payment_id, remote=remote, reported=None, source=source)
    if rejected is not None:
        return rejected
    status = remote.get("status")
    if status == RemoteStatus.AUTHORIZED:
        try:
            remote = gateway.capture(payment_id, payment.amount_paise, payment.currency)
        except GatewayRejected:
            remote = gateway.fetch_payment(payment_id)  # captured meanwhile (auto-capture)?
        _note_remote_payments(payment=payment, entities=[remote])
        status = remote.get("status")
    if status in PAID_STATUSES:
        return record_capture(order_id=payment.order_id, payment_id=payment_id, remote=remote, source=source)
    if status == RemoteStatus.FAILED:
        record_failure(order_id=payment.order_id, payment_id=payment_id, reason=remote.get("error_reason") or "")
    return Settlement(Settlement.Outcome.PENDING)


def record_capture(
    *,
    order_id: str,
    payment_id: str,
    reported: dict | None = None,
    remote: dict | None = None,
    source: str = CaptureMismatch.Source.WEBHOOK,
) -> Settlement:
    """Money was captured for this order: confirm the booking, or refund if it can't be had.

    Nothing confirms before the payment is checked against our order (order, amount, currency).
    `remote` is the payment as Razorpay's API returned it; `reported` is what a signed webhook
    claimed, trusted only when it agrees in every respect (otherwise Razorpay is asked)."""
    now = timezone.now()
    payment = Payment.objects.select_related("intent").filter(order_id=order_id).first()
    if payment is None:
        raise PaymentError(f"Unknown order {order_id}.")
    if remote is None:
        remote = _razorpay_payment(payment=payment, payment_id=payment_id, reported=reported, statuses=PAID_STATUSES)
    if remote is not None:
        _note_remote_payments(payment=payment, entities=[remote])
    rejected = _reject_mismatch(payment=payment, payment_id=payment_id, remote=remote, reported=reported, source=source)
    if rejected is not None:
        return rejected
    assert remote is not None  # _reject_mismatch refuses a payment Razorpay does not know
    if remote.get("status") not in PAID_STATUSES:
        # Not captured (yet): reconciliation captures an authorized payment.
        return Settlement(Settlement.Outcome.PENDING)
    # The order takes the first capture recorded, decided by this one update (the row lock orders
    # racing captures). Once the money is taken the order's payment_id never changes, so reading it
    # back after the update tells who won, whatever this process read before.
    first_capture = (
        Payment.objects.filter(pk=payment.pk)
        .exclude(status__in=MONEY_TAKEN_STATUSES)
        .update(status=Payment.Status.CAPTURED, payment_id=payment_id, captured_at=now, error_reason="")
    )
    if first_capture and not payment.intent.is_active(now):
        metrics.LATE_PAYMENTS.inc()  # counted once per order: only the first capture updates the row
    payment.refresh_from_db(fields=["status", "payment_id", "captured_at", "error_reason"])
    if payment.payment_id != payment_id:
        # Another capture on this order won (two Checkout tabs, a late authorization): return this one.
        _refund_extra_capture(payment=payment, payment_id=payment_id)
        return Settlement(Settlement.Outcome.REFUNDED)
    try:
        booking, _ = booking_services.confirm_intent(intent_id=payment.intent_id)
    except SeatsUnavailable:
        _refund_in_full(payment=payment, payment_id=payment_id, reason="seats were sold while the payment was late")
        return Settlement(Settlement.Outcome.REFUNDED)
    except HoldExpired:
        # The intent already ended as refunded: make sure the refund exists (idempotent).
        _refund_in_full(payment=payment, payment_id=payment_id, reason="order closed before payment")
        return Settlement(Settlement.Outcome.REFUNDED)
    return Settlement(Settlement.Outcome.CONFIRMED, booking)


def record_authorization(*, order_id: str, payment_id: str, reported: dict | None = None) -> str:
    """Razorpay says a payment on this order is authorized: the order shows as paid (the Pay button
    hides) only once that payment is checked against it."""
    payment = Payment.objects.filter(order_id=order_id, status__in=OPEN_STATUSES).first()
    if payment is None:
        return "no change"
    statuses = SETTLED_STATUSES
    remote = _razorpay_payment(payment=payment, payment_id=payment_id, reported=reported, statuses=statuses)
    if remote is not None:
        _note_remote_payments(payment=payment, entities=[remote])
    rejected = _reject_mismatch(
        payment=payment, payment_id=payment_id, remote=remote, reported=reported, source=CaptureMismatch.Source.WEBHOOK
    )
    if rejected is not None:
        return rejected.outcome
    assert remote is not None  # _reject_mismatch refuses a payment Razorpay does not know
    if remote.get("status") not in statuses:
        return "no change"
    updated = Payment.objects.filter(pk=payment.pk, status__in=OPEN_STATUSES).update(
        status=Payment.Status.AUTHORIZED, payment_id=payment_id
    )
    return "recorded" if updated else "no change"


def record_failure(*, order_id: str, payment_id: str, reason: str) -> bool:
    """A failed attempt. Never overrides a success that arrived first (events come out of order)."""
    failed = Payment.objects.filter(order_id=order_id, status__in=UNPAID_STATUSES).update(
        status=Payment.Status.FAILED, payment_id=payment_id, error_reason=reason[:200]
    )
    if failed:
        metrics.PAYMENTS_FAILED.inc()
    return bool(failed)


# --- Refunds ------------------------------------------------------------------------------


def _open_refund(
    *,
    key: str,
    payment: Payment,
    payment_id: str,
    amount_paise: int,
    reason: str,
    cancellation: Cancellation | None = None,
) -> Refund:
    """The Refund row under its idempotency key, opened once: a repeat finds the first one (and its
    amount), so however often it is asked for, Razorpay is asked for one refund."""
    refund, created = Refund.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "payment": payment,
            "cancellation": cancellation,
            "razorpay_payment_id": payment_id,
            "amount_paise": amount_paise,
            "reason": reason[:200],
        },
    )
    if created:
        metrics.REFUNDS.inc()
    return refund


def _request_refund(*, payment: Payment, payment_id: str, amount_paise: int, reason: str) -> Refund:
    """Ask Razorpay to return a captured payment in full, exactly once (idempotency key per Razorpay
    payment, `full-<payment id>`)."""
    refund = _open_refund(
        key=f"full-{payment_id}", payment=payment, payment_id=payment_id, amount_paise=amount_paise, reason=reason
    )
    return _send_refund(refund)


def _refund_backoff(attempts: int) -> timedelta:
    """Exponential with full jitter, capped: a refund Razorpay did not accept is asked again later."""
    base, cap = settings.REFUND_RETRY_BACKOFF, settings.REFUND_RETRY_BACKOFF_MAX
    return timedelta(seconds=random.uniform(0, min(cap, base * 2 ** max(attempts - 1, 0))))  # noqa: S311 - jitter


def _send_refund(refund: Refund) -> Refund:
    """Ask Razorpay for a refund already opened, if it has not accepted it yet. Never inside a
    transaction. The same idempotency key and body every time: after a timeout that lost Razorpay's
    answer, asking again returns the refund it made, never a second one. A failure is recorded
    (attempts, next attempt with backoff, the error) for the retries: reconciliation, the beat's
    `refunds_to_retry`, the call-off job."""
    if refund.refund_id is None:
        notes = {"reason": refund.reason[:200]}
        try:
            remote = gateway.refund(refund.razorpay_payment_id, refund.amount_paise, refund.idempotency_key, notes)
        except (GatewayUnavailable, GatewayRejected) as error:
            attempts = refund.attempts + 1
            Refund.objects.filter(pk=refund.pk, refund_id__isnull=True).update(
                last_error=(str(error) or type(error).__name__)[:300],
                attempts=attempts,
                next_attempt_at=timezone.now() + _refund_backoff(attempts),
            )
            logger.warning(
                "refund %s of %s not accepted yet: %s", refund.idempotency_key, refund.razorpay_payment_id, error
            )
        else:
            status = remote.get("status")
            Refund.objects.filter(pk=refund.pk, refund_id__isnull=True).update(
                refund_id=remote["id"],
                status=status if status in Refund.Status.values else Refund.Status.PENDING,
                last_error="",
                attempts=F("attempts") + 1,
                next_attempt_at=None,
            )
        refund.refresh_from_db()
    _tell_booking(refund)
    return refund


def _tell_booking(refund: Refund) -> None:
    """A cancellation's refund reports back to the booking core: processed (the booking becomes
    refunded or partly refunded), or the last failure for ops. Idempotent."""
    if refund.cancellation_id is None:
        return
    if refund.status == Refund.Status.PROCESSED:
        booking_services.record_cancellation_refunded(cancellation_id=refund.cancellation_id)
    elif refund.status == Refund.Status.FAILED:
        booking_services.record_cancellation_refund_failed(
            cancellation_id=refund.cancellation_id, error="Razorpay reports the refund failed"
        )
    elif refund.refund_id is None and refund.last_error:
        booking_services.record_cancellation_refund_failed(
            cancellation_id=refund.cancellation_id, error=refund.last_error
        )


def _refund_in_full(*, payment: Payment, payment_id: str, reason: str) -> Refund:
    """Refund a captured payment that cannot become a ticket; the order's own payment ends the order."""
    refund = _request_refund(payment=payment, payment_id=payment_id, amount_paise=payment.amount_paise, reason=reason)
    if payment_id == payment.payment_id or not payment.payment_id:
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.REFUNDED)
        # The booking core announces the REFUNDED ending; receivers.py queues the buyer's email.
        booking_services.mark_intent_refunded(intent_id=payment.intent_id)
    return refund


def _refund_extra_capture(*, payment: Payment, payment_id: str) -> Refund:
    """Refund a captured payment that lost its order to another capture. The order itself is left
    alone (its own payment holds the booking, or its own refund); the Refund row, with this payment's
    id and the reason, is what ops see."""
    logger.warning(
        "second capture %s on order %s (kept %s): refunding it", payment_id, payment.order_id, payment.payment_id
    )
    return _request_refund(
        payment=payment,
        payment_id=payment_id,
        amount_paise=payment.amount_paise,
        reason=f"second capture on one order: {payment.payment_id} holds the order"[:200],
    )


def refund_payment(*, payment_id: int, reason: str, acting_user: AbstractBaseUser | None = None) -> Refund:
    """Ops: return the money of a payment that has no ticket (a confirmed booking must be cancelled first).
    Recorded in the audit log with `acting_user` (the refund request is made whatever Razorpay answers)."""
    payment = Payment.objects.select_related("intent").get(pk=payment_id)
    if payment.status not in MONEY_TAKEN_STATUSES or not payment.payment_id:
        raise PaymentError("Only a captured payment can be refunded.")
    if Booking.objects.filter(intent_id=payment.intent_id).exists():
        raise PaymentError(
            'This payment has a booking: cancel the booking (Bookings, "Cancel bookings…"), which refunds it.'
        )
    refund = _refund_in_full(payment=payment, payment_id=payment.payment_id, reason=reason)
    audit.record(
        acting_user=acting_user,
        action="refund",
        target=f"payment {payment.order_id}",
        detail=f"{refund.amount_paise} paise, {refund.status}: {reason}",
    )
    return refund


def update_refund(*, refund_id: str, status: str) -> bool:
    """A refund webhook: note Razorpay's status (processed is final), and tell the booking core when
    a cancellation's refund is processed."""
    updated = bool(
        Refund.objects.filter(refund_id=refund_id)
        .exclude(status=Refund.Status.PROCESSED)
        .update(status=status if status in Refund.Status.values else Refund.Status.PENDING)
    )
    refund = Refund.objects.filter(refund_id=refund_id).first()
    if refund is not None:
        _tell_booking(refund)
    return updated


# --- Webhooks -------------------------------------------------------------------------------


HANDLED_PAYMENT_EVENTS = ("payment.authorized", "payment.captured", "payment.failed", "order.paid")
HANDLED_REFUND_EVENTS = ("refund.created", "refund.processed", "refund.failed")


def _webhook_entities(payload: dict) -> dict[str, dict]:
    """The payment, order and refund entities of a webhook, checked for the shape Razorpay sends.

    Raises WebhookMalformed naming what is wrong (never echoing the payload)."""
    wrappers = payload.get("payload", {})
    if not isinstance(wrappers, dict):
        raise WebhookMalformed("payload is not an object")
    entities: dict[str, dict] = {}
    for name in ("payment", "order", "refund"):
        if name not in wrappers:
            continue
        wrapper = wrappers[name]
        if not isinstance(wrapper, dict) or not isinstance(wrapper.get("entity"), dict):
            raise WebhookMalformed(f"payload.{name}.entity is not an object")
        entity = entities[name] = wrapper["entity"]
        for field in ("id", "order_id", "payment_id"):
            value = entity.get(field)
            if value is not None and not (isinstance(value, str) and RAZORPAY_ID.fullmatch(value)):
                raise WebhookMalformed(f"{name}.{field} is not a Razorpay id")
        amount = entity.get("amount")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
            raise WebhookMalformed(f"{name}.amount is not a whole number of paise")
        for field in ("currency", "status", "error_reason", "error_description"):
            if entity.get(field) is not None and not isinstance(entity[field], str):
                raise WebhookMalformed(f"{name}.{field} is not text")
    event_type = payload.get("event")
    if event_type in HANDLED_PAYMENT_EVENTS and not (entities.get("payment") or {}).get("id"):
        raise WebhookMalformed(f"{event_type} without a payment id")
    if event_type in HANDLED_REFUND_EVENTS and not (entities.get("refund") or {}).get("id"):
        raise WebhookMalformed(f"{event_type} without a refund id")
    return entities


def receive_webhook(*, event_id: str, payload: dict) -> tuple[WebhookEvent, bool]:
    """Store a verified webhook once. Returns (event, created); duplicates only bump a counter.

    A malformed one is stored too, as failed (ops can read what came), and raises WebhookMalformed,
    so the view answers 400 to it and to every redelivery instead of failing with a 500."""
    problem = ""
    try:
        entities = _webhook_entities(payload)
    except WebhookMalformed as error:
        entities, problem = {}, error.message
    payment_entity = entities.get("payment") or {}
    order_entity = entities.get("order") or {}
    fields: dict[str, object] = {
        "event_id": event_id,
        "event_type": str(payload.get("event", ""))[:40],
        "order_id": str(payment_entity.get("order_id") or order_entity.get("id") or "")[:40],
        "payment_id": str(payment_entity.get("id") or "")[:40],
        "payload": payload,
    }
    if problem:
        fields.update(outcome=WebhookEvent.Outcome.MALFORMED, detail=problem[:300], processed_at=timezone.now())
    try:
        with transaction.atomic():
            event, created = WebhookEvent.objects.create(**fields), True
    except IntegrityError:
        WebhookEvent.objects.filter(event_id=event_id).update(deliveries=F("deliveries") + 1)
        event, created = WebhookEvent.objects.get(event_id=event_id), False
    if event.outcome == WebhookEvent.Outcome.MALFORMED:
        raise WebhookMalformed(event.detail)
    return event, created


def process_webhook(*, webhook_id: int) -> str:
    """Act on a stored webhook. Safe to run twice: every step below is idempotent."""
    event = WebhookEvent.objects.get(pk=webhook_id)
    if event.outcome in (
        WebhookEvent.Outcome.PROCESSED,
        WebhookEvent.Outcome.IGNORED,
        WebhookEvent.Outcome.MALFORMED,
    ):
        return event.outcome
    outcome, detail = WebhookEvent.Outcome.PROCESSED, ""
    try:
        entities = _webhook_entities(event.payload)
        payment_entity = entities.get("payment")
        if event.event_type in ("payment.captured", "order.paid"):
            if not Payment.objects.filter(order_id=event.order_id).exists():
                outcome, detail = WebhookEvent.Outcome.IGNORED, "unknown order"
            else:
                detail = record_capture(
                    order_id=event.order_id, payment_id=event.payment_id, reported=payment_entity
                ).outcome
        elif event.event_type == "payment.authorized":
            detail = record_authorization(order_id=event.order_id, payment_id=event.payment_id, reported=payment_entity)
        elif event.event_type == "payment.failed":
            entity = payment_entity or {}
            reason = entity.get("error_reason") or entity.get("error_description") or "failed"
            detail = (
                "recorded"
                if record_failure(order_id=event.order_id, payment_id=event.payment_id, reason=reason)
                else "no change"
            )
        elif event.event_type.startswith("refund."):
            entity = entities.get("refund") or {}
            detail = (
                "updated"
                if update_refund(refund_id=entity.get("id", ""), status=entity.get("status") or "")
                else "no change"
            )
        else:
            outcome, detail = WebhookEvent.Outcome.IGNORED, "event type not handled"
    except WebhookMalformed as error:
        outcome, detail = WebhookEvent.Outcome.MALFORMED, error.message
    except Exception as error:
        # Anything else (the gateway, the database) fails this attempt; the task retries, and the
        # beat re-queues failed events for RECONCILE_GIVE_UP_HOURS, then leaves them to ops.
        WebhookEvent.objects.filter(pk=event.pk).update(
            outcome=WebhookEvent.Outcome.FAILED, detail=(str(error) or type(error).__name__)[:300]
        )
        raise
    WebhookEvent.objects.filter(pk=event.pk).update(outcome=outcome, detail=detail[:300], processed_at=timezone.now())
    return outcome


# --- Reconciliation --------------------------------------------------------------------------


def reconcile_payment(*, payment_id: int) -> str:
    """Ask Razorpay what happened to one order and act on it: confirm, refund, capture or leave."""
    payment = Payment.objects.select_related("intent").get(pk=payment_id)
    Payment.objects.filter(pk=payment.pk).update(last_checked_at=timezone.now())
    # A refund we asked for but Razorpay never accepted: ask again (same idempotency key).
    for refund in payment.refunds.filter(refund_id__isnull=True):
        if refund.cancellation_id is not None:
            _send_refund(refund)  # a cancellation's own amount and key; the booking stays
        elif refund.razorpay_payment_id == payment.payment_id:
            _refund_in_full(payment=payment, payment_id=refund.razorpay_payment_id, reason=refund.reason)
        else:  # a duplicate or mismatched payment: its refund never ends the order
            _request_refund(
                payment=payment,
                payment_id=refund.razorpay_payment_id,
                amount_paise=refund.amount_paise,
                reason=refund.reason,
            )
    return _act_on_order_payments(payment=payment, remote_payments=gateway.order_payments(payment.order_id))


def _act_on_order_payments(*, payment: Payment, remote_payments: list[dict]) -> str:
    """Record and act on Razorpay's listing of an order's payments (reconciliation, and a buyer's
    page asking where the order stands): settle what took money, else note a payment the bank has
    not answered yet (ATTEMPTED: it may still go through), else the failure."""
    _note_remote_payments(payment=payment, entities=remote_payments)
    settled = [p for p in remote_payments if p.get("status") in SETTLED_STATUSES]
    if settled:
        # The payment the order already names goes first, then the oldest: the first capture recorded
        # keeps the order, and record_capture refunds every other captured one.
        ordered = sorted(settled, key=lambda p: (p.get("id") != payment.payment_id, p.get("created_at", 0)))
        outcomes = [settle_remote_payment(payment=payment, remote=remote).outcome for remote in ordered]
        return outcomes[0]
    waiting = [p for p in remote_payments if p.get("status") == RemoteStatus.CREATED and p.get("id")]
    if waiting:
        Payment.objects.filter(pk=payment.pk, status__in=OPEN_STATUSES).update(
            status=Payment.Status.ATTEMPTED, payment_id=str(waiting[0]["id"])[:40]
        )
        return "pending"
    failed = [p for p in remote_payments if p.get("status") == RemoteStatus.FAILED]
    if failed:
        record_failure(
            order_id=payment.order_id, payment_id=failed[-1]["id"], reason=failed[-1].get("error_reason") or ""
        )
    return "no payment"


def payments_to_reconcile(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Orders with no outcome after a few minutes, captured money without a ticket, and refunds
    Razorpay has not accepted yet: checked for a few days (a bank can authorise a payment long
    after the buyer gave up), at most once a minute and less often as the order ages (again once
    a tenth of its age has passed), so thousands of abandoned orders cost Razorpay little.

    Settled orders (booked or refunded) are checked too, for a second payment captured on them that
    no webhook reported, but with the wait doubling (about ten listings over the three days), and
    after every unsettled order due: a surge of bookings must not crowd out the orders still open."""
    now = now or timezone.now()
    old_enough = now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
    recent_check = now - timedelta(seconds=settings.RECONCILE_EVERY_SECONDS)
    # Cancellations' refunds are retried on their own schedule (refunds_to_retry, the call-off job).
    unaccepted_refund = Exists(
        Refund.objects.filter(payment=OuterRef("pk"), refund_id__isnull=True, cancellation__isnull=True)
    )
    age_at_check = F("last_checked_at") - F("created_at")
    next_check = ExpressionWrapper(F("last_checked_at") + age_at_check / 10, output_field=DateTimeField())
    next_settled_check = ExpressionWrapper(F("last_checked_at") + age_at_check, output_field=DateTimeField())
    unsettled = (
        Q(status__in=[*OPEN_STATUSES, Payment.Status.AUTHORIZED])
        | Q(status=Payment.Status.CAPTURED, intent__booking__isnull=True)
        | Q(unaccepted_refund)
    )
    due = (
        Payment.objects.filter(
            created_at__lte=old_enough, created_at__gte=now - timedelta(hours=settings.RECONCILE_GIVE_UP_HOURS)
        )
        .annotate(
            unsettled=ExpressionWrapper(unsettled, output_field=BooleanField()),
            next_check=next_check,
            next_settled_check=next_settled_check,
        )
        .filter(
            Q(last_checked_at__isnull=True)
            | Q(last_checked_at__lte=recent_check, unsettled=True, next_check__lte=now)
            | Q(last_checked_at__lte=recent_check, next_settled_check__lte=now)
        )
    )
    return list(due.order_by("-unsettled", "last_checked_at", "created_at").values_list("pk", flat=True)[:limit])


def claim_confirmation_email(*, intent_id: UUID, now: datetime | None = None) -> Booking | None:
    """At most one confirmation email per booking, and one sender at a time: claim the right to send it.

    The claim is a lease (CONFIRMATION_EMAIL_CLAIM_SECONDS): a worker killed mid-send cannot keep
    it, so the sweep (`confirmations_to_resend`) sends the email after all."""
    now = now or timezone.now()
    lapsed = now - timedelta(seconds=settings.CONFIRMATION_EMAIL_CLAIM_SECONDS)
    claimed = (
        Payment.objects.filter(intent_id=intent_id, confirmation_sent_at__isnull=True)
        .filter(Q(confirmation_claimed_at__isnull=True) | Q(confirmation_claimed_at__lt=lapsed))
        .update(confirmation_claimed_at=now)
    )
    if not claimed:
        return None
    return Booking.objects.select_related("event").prefetch_related("booked_seats__seat").get(intent_id=intent_id)


def unclaim_confirmation_email(*, intent_id: UUID) -> None:
    """A send failed, whatever the failure: give the claim back so the retry (or ops' "send again") can take it."""
    Payment.objects.filter(intent_id=intent_id, confirmation_sent_at__isnull=True).update(confirmation_claimed_at=None)


def record_confirmation_sent(*, intent_id: UUID) -> None:
    """The email went out: no claim will be granted again, and a failure recorded before is resolved."""
    Payment.objects.filter(intent_id=intent_id).update(
        confirmation_sent_at=timezone.now(), confirmation_claimed_at=None
    )
    record_email_sent(intent_id=intent_id, kind=EmailFailure.Kind.CONFIRMATION)


def record_email_failure(*, intent_id: UUID, kind: str, error: str, gave_up: bool) -> None:
    """Count a failed send for ops; `gave_up` when the retries are spent and a person must act."""
    now = timezone.now()
    fields = {"last_error": error[:300], "last_failed_at": now, "sent_at": None}
    if gave_up:
        fields["gave_up_at"] = now
    if EmailFailure.objects.filter(intent_id=intent_id, kind=kind).update(attempts=F("attempts") + 1, **fields):
        return
    try:
        with transaction.atomic():
            EmailFailure.objects.create(intent_id=intent_id, kind=kind, attempts=1, **fields)
    except IntegrityError:  # a concurrent failure of the same email created it first
        EmailFailure.objects.filter(intent_id=intent_id, kind=kind).update(attempts=F("attempts") + 1, **fields)


def record_email_sent(*, intent_id: UUID, kind: str) -> None:
    """A send that failed before went out: ops see it resolved (a no-op when it never failed)."""
    EmailFailure.objects.filter(intent_id=intent_id, kind=kind, sent_at__isnull=True).update(
        sent_at=timezone.now(), gave_up_at=None
    )


# --- Cancellations and calling an event off ----------------------------------------------------


def open_cancellation_refund(*, cancellation_id: int) -> Refund | None:
    """The refund of a booking cancellation, opened once: its idempotency key is `cancellation-<id>`
    (Razorpay wants 10 characters at least) and the row is one-to-one with the cancellation, so a
    repeat (the outbox delivers at least once, a retry, a second job pass) finds it. Database only:
    the outbox's receiver calls it at once, and the request to Razorpay is made outside it
    (`refund_cancellation`, the call-off job). None when nothing is due."""
    cancellation = Cancellation.objects.select_related("booking").get(pk=cancellation_id)
    if cancellation.amount_paise == 0:
        return None
    payment = Payment.objects.filter(intent_id=cancellation.booking.intent_id, status__in=MONEY_TAKEN_STATUSES).first()
    if payment is None or not payment.payment_id:
        # No money of ours to return (a booking made by hand): the audit flags the booking and this
        # cancellation ("without their refund"); retrying would change nothing.
        logger.error("cancellation %s: booking %s has no captured payment", cancellation_id, cancellation.booking)
        booking_services.record_cancellation_refund_failed(
            cancellation_id=cancellation_id, error="The booking has no captured payment to refund."
        )
        return None
    return _open_refund(
        key=f"cancellation-{cancellation.pk}",
        payment=payment,
        payment_id=payment.payment_id,
        amount_paise=cancellation.amount_paise,
        reason=f"booking {cancellation.booking.reference} cancelled: {cancellation.reason}",
        cancellation=cancellation,
    )


def refund_cancellation(*, cancellation_id: int) -> Refund | None:
    """Open a cancellation's refund (if the receiver has not) and ask Razorpay for it, once."""
    refund = open_cancellation_refund(cancellation_id=cancellation_id)
    return None if refund is None else _send_refund(refund)


def refunds_to_retry(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Cancellations whose refund Razorpay has not accepted and is due again (backoff), or that was
    opened a minute ago and never asked for (its task lost): the beat asks again, up to
    REFUND_MAX_ATTEMPTS (then it stays failed, with its reason, for ops). Not those of a called-off
    event: its job paces them."""
    now = now or timezone.now()
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=now - timedelta(seconds=60))
    return list(
        Refund.objects.filter(
            cancellation__isnull=False,
            cancellation__call_off=False,
            refund_id__isnull=True,
            attempts__lt=settings.REFUND_MAX_ATTEMPTS,
        )
        .filter(due)
        .order_by("next_attempt_at", "pk")
        .values_list("cancellation_id", flat=True)[:limit]
    )


@dataclass(frozen=True)
class CallOffPass:
    """What one pass of the call-off job did, and what is left."""

    cancelled: int  # bookings cancelled by this pass
    asked: int  # refund requests made to Razorpay
    left: int  # bookings still to cancel plus refunds Razorpay has not accepted
    next_due_in: float  # seconds until the next refund is due again (0: at once)


def _call_off_refunds(event_id: int):
    """The event's refunds Razorpay has not accepted and that are still asked for (not given up)."""
    return Refund.objects.filter(
        cancellation__booking__event_id=event_id,
        refund_id__isnull=True,
        attempts__lt=settings.REFUND_MAX_ATTEMPTS,
    )


def run_call_off(*, event_id: int, time_budget: float) -> CallOffPass:
    """One pass of the job that refunds a called-off event. Resumable: all it knows is in rows, so a
    pass that dies, or the next one, carries on where the last stopped, and no refund is ever asked
    for twice under two keys (one Refund row per cancellation, its key sent with every request).

    1. Cancel every booking with seats still valid (seats blocked); each cancellation announces
       itself, so its refund row is opened and its buyer emailed.
    2. Open the refund of any cancellation of the event that has none yet.
    3. Ask Razorpay for the refunds due, at most REFUND_CALLS_PER_SECOND (the gateway's rate limit),
       until `time_budget` seconds are spent. A failed call is due again after an exponential
       backoff; while the circuit breaker is open the pass stops and the job comes back later."""
    started = time.monotonic()
    event = Event.objects.only("name", "status").get(pk=event_id)
    if event.status != Event.Status.CANCELLED:
        raise PaymentError("Only a called-off event's bookings are refunded by the call-off job.")
    cancelled = asked = 0
    to_cancel = (
        Booking.objects.filter(event_id=event_id, booked_seats__active=True).distinct().order_by("pk").values("pk")
    )
    for booking_id in list(to_cancel.values_list("pk", flat=True)):
        if time.monotonic() - started >= time_budget:
            break
        try:
            booking_services.cancel_booking(
                booking_id=booking_id, reason=f"{event.name} was called off", release_seats=False, call_off=True
            )
        except AlreadyCancelled:
            continue
        cancelled += 1
    unopened = Cancellation.objects.filter(booking__event_id=event_id, refund__isnull=True, amount_paise__gt=0)
    for cancellation_id in list(unopened.values_list("pk", flat=True)):
        open_cancellation_refund(cancellation_id=cancellation_id)

    pace = 1.0 / settings.REFUND_CALLS_PER_SECOND
    next_slot = time.monotonic()
    while time.monotonic() - started < time_budget and not circuit.is_open():
        due = list(
            _call_off_refunds(event_id)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
            .order_by(F("next_attempt_at").asc(nulls_first=True), "pk")[:100]
        )
        if not due:
            break
        for refund in due:
            if time.monotonic() - started >= time_budget or circuit.is_open():
                break
            time.sleep(max(0.0, next_slot - time.monotonic()))
            next_slot = max(next_slot, time.monotonic()) + pace
            _send_refund(refund)
            asked += 1
    left_refunds = _call_off_refunds(event_id)
    next_at = left_refunds.aggregate(at=Min("next_attempt_at"))["at"]
    next_due_in = max(0.0, (next_at - timezone.now()).total_seconds()) if next_at else 0.0
    left = left_refunds.count() + to_cancel.count()
    logger.info("call-off of event %s: %d cancelled, %d refunds asked, %d left", event_id, cancelled, asked, left)
    return CallOffPass(cancelled=cancelled, asked=asked, left=left, next_due_in=next_due_in)


def call_offs_with_work() -> list[int]:
    """Called-off events whose job has work left (a booking to cancel, a refund not accepted): the
    beat restarts a job lost with its worker."""
    refunds_left = Refund.objects.filter(
        cancellation__booking__event_id=OuterRef("pk"),
        cancellation__call_off=True,
        refund_id__isnull=True,
        attempts__lt=settings.REFUND_MAX_ATTEMPTS,
    )
    bookings_left = Booking.objects.filter(event_id=OuterRef("pk"), booked_seats__active=True)
    return list(
        Event.objects.filter(status=Event.Status.CANCELLED)
        .filter(Exists(refunds_left) | Exists(bookings_left))
        .values_list("pk", flat=True)[:50]
    )
