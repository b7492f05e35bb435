"""Writes of the payments app. Every path ends in exactly one of "ticket issued" or "money returned".

Network calls to Razorpay always happen outside transactions; the booking core's
`confirm_intent` decides the single winner when the verify callback, the webhook task and
reconciliation race for the same payment.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.utils import timezone

from apps.booking import services as booking_services
from apps.booking.errors import BookingError, HoldExpired, SeatsUnavailable
from apps.booking.models import Booking, BookingIntent
from apps.payments import gateway
from apps.payments.errors import PaymentError, SignatureInvalid
from apps.payments.models import Payment, Refund, WebhookEvent

logger = logging.getLogger(__name__)

OPEN_STATUSES = [Payment.Status.CREATED, Payment.Status.ATTEMPTED, Payment.Status.FAILED]


@dataclass(frozen=True)
class Settlement:
    """What became of a successful payment."""

    outcome: str  # "confirmed", "refunded" or "pending"
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
    """The buyer pressed Pay: extend the hold once so a slow bank page does not lose the seats."""
    return booking_services.extend_hold(intent_id=intent_id, minutes=settings.PAYMENT_HOLD_EXTENSION_MINUTES)


# --- Success paths ----------------------------------------------------------------------


def verify_checkout(*, intent_id: UUID, order_id: str, payment_id: str, signature: str) -> Settlement:
    """The Checkout handler's callback: trust it only if the signature over *our* order id verifies."""
    payment = Payment.objects.filter(intent_id=intent_id).first()
    if payment is None or order_id != payment.order_id or not payment_id:
        raise SignatureInvalid()
    if not gateway.payment_signature_valid(order_id=payment.order_id, payment_id=payment_id, signature=signature):
        raise SignatureInvalid()
    Payment.objects.filter(pk=payment.pk, status__in=OPEN_STATUSES).update(
        status=Payment.Status.AUTHORIZED, payment_id=payment_id
    )
    try:
        remote = gateway.fetch_payment(payment_id)
    except gateway.GatewayUnavailable:
        # The signature proves the payment; the webhook or reconciliation will finish it.
        return Settlement("pending")
    return settle_remote_payment(payment=payment, remote=remote)


def settle_remote_payment(*, payment: Payment, remote: dict) -> Settlement:
    """Bring a payment Razorpay reports to its end: capture if only authorized, then fulfil."""
    if remote.get("order_id") != payment.order_id:
        raise PaymentError("That payment belongs to another order.")
    status = remote.get("status")
    if status == "authorized":
        try:
            remote = gateway.capture(remote["id"], payment.amount_paise, payment.currency)
        except gateway.GatewayRejected:
            remote = gateway.fetch_payment(remote["id"])  # captured meanwhile (auto-capture)?
        status = remote.get("status")
    if status in ("captured", "refunded"):
        return record_capture(order_id=payment.order_id, payment_id=remote["id"])
    if status == "failed":
        record_failure(order_id=payment.order_id, payment_id=remote["id"], reason=remote.get("error_reason") or "")
    return Settlement("pending")


def record_capture(*, order_id: str, payment_id: str) -> Settlement:
    """Money was captured for this order: confirm the booking, or refund if it can't be had."""
    now = timezone.now()
    payment = Payment.objects.select_related("intent").filter(order_id=order_id).first()
    if payment is None:
        raise PaymentError(f"Unknown order {order_id}.")
    if payment.payment_id and payment.payment_id != payment_id and payment.status == Payment.Status.CAPTURED:
        # A second captured payment on one order (a buyer retried after a timeout): return it.
        _refund_in_full(payment=payment, payment_id=payment_id, reason="duplicate payment for one order")
        return Settlement("refunded")
    Payment.objects.filter(pk=payment.pk).exclude(status__in=[Payment.Status.CAPTURED, Payment.Status.REFUNDED]).update(
        status=Payment.Status.CAPTURED, payment_id=payment_id, captured_at=now, error_reason=""
    )
    try:
        booking, _ = booking_services.confirm_intent(intent_id=payment.intent_id)
    except SeatsUnavailable:
        _refund_in_full(payment=payment, payment_id=payment_id, reason="seats were sold while the payment was late")
        return Settlement("refunded")
    except HoldExpired:
        # The intent already ended as refunded: make sure the refund exists (idempotent).
        _refund_in_full(payment=payment, payment_id=payment_id, reason="order closed before payment")
        return Settlement("refunded")
    return Settlement("confirmed", booking)


def record_failure(*, order_id: str, payment_id: str, reason: str) -> bool:
    """A failed attempt. Never overrides a success that arrived first (events come out of order)."""
    return bool(
        Payment.objects.filter(order_id=order_id, status__in=[Payment.Status.CREATED, Payment.Status.ATTEMPTED]).update(
            status=Payment.Status.FAILED, payment_id=payment_id, error_reason=reason[:200]
        )
    )


# --- Refunds ------------------------------------------------------------------------------


def _refund_in_full(*, payment: Payment, payment_id: str, reason: str) -> Refund:
    """Refund a captured payment that cannot become a ticket, exactly once (idempotency key per payment)."""
    refund, _ = Refund.objects.get_or_create(
        idempotency_key=f"full-{payment_id}",
        defaults={
            "payment": payment,
            "razorpay_payment_id": payment_id,
            "amount_paise": payment.amount_paise,
            "reason": reason,
        },
    )
    if refund.refund_id is None:
        try:
            remote = gateway.refund(payment_id, refund.amount_paise, refund.idempotency_key, {"reason": reason[:200]})
        except (gateway.GatewayUnavailable, gateway.GatewayRejected) as error:
            # Reconciliation retries requested refunds; nothing is lost.
            Refund.objects.filter(pk=refund.pk).update(last_error=str(error)[:300])
            logger.warning("refund of %s not accepted yet: %s", payment_id, error)
        else:
            Refund.objects.filter(pk=refund.pk).update(
                refund_id=remote["id"], status=remote.get("status") or Refund.Status.PENDING, last_error=""
            )
    if payment_id == payment.payment_id or not payment.payment_id:
        Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.REFUNDED)
        # The booking core announces the REFUNDED ending; receivers.py queues the buyer's email.
        booking_services.mark_intent_refunded(intent_id=payment.intent_id)
    refund.refresh_from_db()
    return refund


def refund_payment(*, payment_id: int, reason: str) -> Refund:
    """Ops: return the money of a payment that has no ticket (a confirmed booking must be cancelled first)."""
    payment = Payment.objects.select_related("intent").get(pk=payment_id)
    if payment.status not in (Payment.Status.CAPTURED, Payment.Status.REFUNDED) or not payment.payment_id:
        raise PaymentError("Only a captured payment can be refunded.")
    if Booking.objects.filter(intent_id=payment.intent_id).exists():
        raise PaymentError("This payment has a booking; cancel the booking before refunding it.")
    return _refund_in_full(payment=payment, payment_id=payment.payment_id, reason=reason)


def update_refund(*, refund_id: str, status: str) -> bool:
    return bool(
        Refund.objects.filter(refund_id=refund_id)
        .exclude(status=Refund.Status.PROCESSED)
        .update(status=status if status in Refund.Status.values else Refund.Status.PENDING)
    )


# --- Webhooks -------------------------------------------------------------------------------


def receive_webhook(*, event_id: str, payload: dict) -> tuple[WebhookEvent, bool]:
    """Store a verified webhook once. Returns (event, created); duplicates only bump a counter."""
    entities = payload.get("payload") or {}
    payment_entity = (entities.get("payment") or {}).get("entity") or {}
    order_entity = (entities.get("order") or {}).get("entity") or {}
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                event_id=event_id,
                event_type=str(payload.get("event", ""))[:40],
                order_id=str(payment_entity.get("order_id") or order_entity.get("id") or "")[:40],
                payment_id=str(payment_entity.get("id") or "")[:40],
                payload=payload,
            )
            return event, True
    except IntegrityError:
        WebhookEvent.objects.filter(event_id=event_id).update(deliveries=F("deliveries") + 1)
        return WebhookEvent.objects.get(event_id=event_id), False


def process_webhook(*, webhook_id: int) -> str:
    """Act on a stored webhook. Safe to run twice: every step below is idempotent."""
    event = WebhookEvent.objects.get(pk=webhook_id)
    if event.outcome in (WebhookEvent.Outcome.PROCESSED, WebhookEvent.Outcome.IGNORED):
        return event.outcome
    entities = event.payload.get("payload") or {}
    outcome, detail = WebhookEvent.Outcome.PROCESSED, ""
    try:
        if event.event_type in ("payment.captured", "order.paid"):
            if not Payment.objects.filter(order_id=event.order_id).exists():
                outcome, detail = WebhookEvent.Outcome.IGNORED, "unknown order"
            else:
                detail = record_capture(order_id=event.order_id, payment_id=event.payment_id).outcome
        elif event.event_type == "payment.authorized":
            updated = Payment.objects.filter(order_id=event.order_id, status__in=OPEN_STATUSES).update(
                status=Payment.Status.AUTHORIZED, payment_id=event.payment_id
            )
            detail = "recorded" if updated else "no change"
        elif event.event_type == "payment.failed":
            entity = (entities.get("payment") or {}).get("entity") or {}
            reason = entity.get("error_reason") or entity.get("error_description") or "failed"
            detail = (
                "recorded"
                if record_failure(order_id=event.order_id, payment_id=event.payment_id, reason=reason)
                else "no change"
            )
        elif event.event_type.startswith("refund."):
            entity = (entities.get("refund") or {}).get("entity") or {}
            detail = (
                "updated"
                if update_refund(refund_id=entity.get("id", ""), status=entity.get("status", ""))
                else "no change"
            )
        else:
            outcome, detail = WebhookEvent.Outcome.IGNORED, "event type not handled"
    except (gateway.GatewayUnavailable, BookingError, PaymentError) as error:
        WebhookEvent.objects.filter(pk=event.pk).update(outcome=WebhookEvent.Outcome.FAILED, detail=str(error)[:300])
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
        _refund_in_full(payment=payment, payment_id=refund.razorpay_payment_id, reason=refund.reason)
    remote_payments = gateway.order_payments(payment.order_id)
    settled = [p for p in remote_payments if p.get("status") in ("captured", "authorized", "refunded")]
    if settled:
        # The first success wins the ticket; any other is refunded by record_capture.
        outcome = "pending"
        for remote in sorted(settled, key=lambda p: p.get("created_at", 0)):
            outcome = settle_remote_payment(payment=payment, remote=remote).outcome
        return outcome
    failed = [p for p in remote_payments if p.get("status") == "failed"]
    if failed:
        record_failure(
            order_id=payment.order_id, payment_id=failed[-1]["id"], reason=failed[-1].get("error_reason") or ""
        )
    return "no payment"


def payments_to_reconcile(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Orders with no outcome after a few minutes, captured money without a ticket, and refunds
    Razorpay has not accepted yet: checked for a few days (a bank can authorise a payment long
    after the buyer gave up), at most once a minute and less often as the order ages (again once
    a tenth of its age has passed), so thousands of abandoned orders cost Razorpay little."""
    now = now or timezone.now()
    old_enough = now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
    recent_check = now - timedelta(seconds=settings.RECONCILE_EVERY_SECONDS)
    unaccepted_refund = Exists(Refund.objects.filter(payment=OuterRef("pk"), refund_id__isnull=True))
    next_check = ExpressionWrapper(
        F("last_checked_at") + (F("last_checked_at") - F("created_at")) / 10, output_field=DateTimeField()
    )
    stuck = (
        Payment.objects.filter(
            created_at__lte=old_enough, created_at__gte=now - timedelta(hours=settings.RECONCILE_GIVE_UP_HOURS)
        )
        .filter(
            Q(status__in=[*OPEN_STATUSES, Payment.Status.AUTHORIZED])
            | Q(status=Payment.Status.CAPTURED, intent__booking__isnull=True)
            | Q(unaccepted_refund)
        )
        .annotate(next_check=next_check)
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lte=recent_check, next_check__lte=now))
    )
    return list(stuck.order_by("last_checked_at", "created_at").values_list("pk", flat=True)[:limit])


def claim_confirmation_email(*, intent_id: UUID) -> Booking | None:
    """At most one confirmation email per booking: claim the right to send it."""
    claimed = Payment.objects.filter(intent_id=intent_id, confirmation_sent_at__isnull=True).update(
        confirmation_sent_at=timezone.now()
    )
    if not claimed:
        return None
    return Booking.objects.select_related("event").prefetch_related("booked_seats__seat").get(intent_id=intent_id)


def unclaim_confirmation_email(*, intent_id: UUID) -> None:
    Payment.objects.filter(intent_id=intent_id).update(confirmation_sent_at=None)
