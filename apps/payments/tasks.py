"""Celery tasks of payments: thin, idempotent, on their own queues (settings.CELERY_TASK_ROUTES)."""

import contextlib
import logging
from uuid import UUID

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django_redis import get_redis_connection
from redis.exceptions import LockError

from apps.booking import links
from apps.booking import selectors as booking_selectors
from apps.booking.models import Booking, BookingIntent, Cancellation
from apps.payments import selectors, services
from apps.payments.errors import GatewayUnavailable
from apps.payments.models import EmailFailure

logger = logging.getLogger(__name__)

RETRYABLE = (GatewayUnavailable, OSError)


@shared_task(bind=True, acks_late=True, max_retries=8, retry_backoff=2, retry_backoff_max=300, ignore_result=True)
def process_webhook_event(self, webhook_id: int) -> str:
    try:
        return services.process_webhook(webhook_id=webhook_id)
    except RETRYABLE as error:
        raise self.retry(exc=error) from error


@shared_task(bind=True, acks_late=True, max_retries=6, ignore_result=True)
def create_order(self, intent_id: str) -> str:
    """The checkout's order, when Razorpay was too slow for the request (apps.payments.orders).
    Idempotent (one Payment per intent), so acks_late; retries stop well within a hold."""
    intent = BookingIntent.objects.select_related("event").filter(pk=UUID(intent_id)).first()
    if intent is None or not intent.is_active():
        return "hold ended"  # no order for a hold that is over
    try:
        services.ensure_order(intent=intent)  # a no-op when the order exists
        return "created"
    except RETRYABLE as error:
        # As soon as Razorpay may answer: the error's own wait (the breaker's time left while it is
        # open), not Celery's default of three minutes (retry_backoff applies to autoretry only).
        raise self.retry(exc=error, countdown=getattr(error, "retry_after", None) or 5) from error


@shared_task(ignore_result=True)
def reconcile_payments() -> int:
    """Beat: fan out one task per stuck order, so one slow order never blocks the others; the same
    for cancellations' refunds Razorpay has not accepted, and call-off jobs lost with a worker."""
    ids = services.payments_to_reconcile()
    for payment_id in ids:
        reconcile_payment.delay(payment_id)
    for webhook_id in selectors.stale_webhook_ids():
        process_webhook_event.delay(webhook_id)
    for cancellation_id in services.refunds_to_retry():
        refund_cancellation.delay(cancellation_id)
    for event_id in services.call_offs_with_work():
        start_call_off_job(event_id)  # only if lost with its worker (no pass running or queued)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def refund_cancellation(cancellation_id: int) -> str:
    """Ask Razorpay for one cancellation's refund (idempotent: one row, one key). A failure is
    recorded with its next attempt; the beat (`refunds_to_retry`) asks again then."""
    refund = services.refund_cancellation(cancellation_id=cancellation_id)
    return "nothing due" if refund is None else refund.status


def _call_off_keys(event_id: int) -> tuple[str, str]:
    """(the lock of a running pass, the mark of a next pass queued): one hash tag per event."""
    return f"calloff:{{{event_id}}}:job", f"calloff:{{{event_id}}}:queued"


def start_call_off_job(event_id: int) -> bool:
    """Queue the job's first pass (the call-off's announcement), or revive a job lost with its
    worker (the beat), unless a pass is running or queued. Returns whether it queued one."""
    redis = get_redis_connection("default")
    lock_key, queued_key = _call_off_keys(event_id)
    if redis.exists(lock_key) or not redis.set(queued_key, "1", nx=True, ex=int(settings.CALL_OFF_PASS_SECONDS) + 60):
        return False
    call_off_refunds.delay(event_id)
    return True


@shared_task(acks_late=True, ignore_result=True)
def call_off_refunds(event_id: int) -> int:
    """The call-off job: one pass (services.run_call_off) of at most CALL_OFF_PASS_SECONDS, then it
    queues its next pass while work is left, for when the next refund is due. One pass at a time
    (a lock that lapses with a dead worker) and one next pass queued (a mark set before the lock is
    let go, so the beat, which revives a job only when neither exists, never starts a second chain).
    Running it again, or twice, resumes: the rows say what is done. Returns what is left (-1: a
    pass was running already)."""
    redis = get_redis_connection("default")
    lock_key, queued_key = _call_off_keys(event_id)
    lock = redis.lock(lock_key, timeout=settings.CALL_OFF_PASS_SECONDS + 60, blocking=False)
    if not lock.acquire(blocking=False):
        return -1
    try:
        redis.delete(queued_key)  # this pass is the queued one (or replaces it)
        run = services.run_call_off(event_id=event_id, time_budget=settings.CALL_OFF_PASS_SECONDS)
        if run.left:
            countdown = max(1.0, run.next_due_in)
            if redis.set(queued_key, "1", nx=True, ex=int(countdown) + 60):
                call_off_refunds.apply_async((event_id,), countdown=countdown)
    finally:
        with contextlib.suppress(LockError):
            lock.release()
    return run.left


@shared_task(bind=True, acks_late=True, max_retries=3, retry_backoff=5, ignore_result=True)
def reconcile_payment(self, payment_id: int) -> str:
    try:
        return services.reconcile_payment(payment_id=payment_id)
    except RETRYABLE as error:
        raise self.retry(exc=error) from error


# Buyer emails: any failure (an SMTP outage, a refused header, a template error) gives the claim
# back and retries with exponential backoff and full jitter; when the retries are spent the failure
# is recorded for ops (admin: Email failures, with a "send again" action), never dropped.
EMAIL_MAX_RETRIES = 10
EMAIL_RETRY_BACKOFF = 10  # seconds: the first retry within 10 s, then doubling ...
EMAIL_RETRY_BACKOFF_MAX = selectors.EMAIL_RETRY_BACKOFF_MAX  # ... up to 10 minutes: about 50 minutes in all


def _retry_email(task, *, intent_id: UUID, kind: str, error: Exception) -> None:
    gave_up = task.request.retries >= task.max_retries
    services.record_email_failure(
        intent_id=intent_id, kind=kind, error=f"{type(error).__name__}: {error}", gave_up=gave_up
    )
    _retry_or_give_up(task, error=error, what=f"{kind} email for intent {intent_id}")


def _retry_or_give_up(task, *, error: Exception, what: str) -> None:
    """Retry an email task with exponential backoff and full jitter, or log that it gave up."""
    retries = task.request.retries
    if retries >= task.max_retries:
        logger.error("%s not sent after %d attempts: %s", what, retries + 1, error)
        return
    countdown = get_exponential_backoff_interval(EMAIL_RETRY_BACKOFF, retries, EMAIL_RETRY_BACKOFF_MAX, True)
    logger.warning("%s failed (%s); retry in %d s", what, error, countdown)
    raise task.retry(exc=error, countdown=countdown) from error


def _mail_ticket(booking: Booking) -> None:
    """The ticket email, with the signed link to the ticket page: the confirmation, and any re-send."""
    context = {
        "booking": booking,
        "event": booking.event,
        "seats": [b.seat for b in links.active_booked_seats(booking)],
        "ticket_url": settings.SITE_URL + links.ticket_path(booking.reference),
        "gate_codes": links.gate_codes(booking),
    }
    send_mail(
        subject=f"Your tickets for {booking.event.name} — {booking.reference}",
        message=render_to_string("emails/booking_confirmed.txt", context),
        from_email=None,
        recipient_list=[booking.buyer_email],
        html_message=render_to_string("emails/booking_confirmed.html", context),
    )


@shared_task(bind=True, acks_late=True, max_retries=EMAIL_MAX_RETRIES, ignore_result=True)
def send_booking_confirmation(self, intent_id: str) -> bool:
    """Idempotent (the claim), so acks_late: a worker lost mid-task leaves it to be delivered again."""
    pk = UUID(intent_id)  # the message carries the id as text; the services take a UUID
    booking = services.claim_confirmation_email(intent_id=pk)
    if booking is None:
        return False  # already sent, being sent, or no payment record
    try:
        _mail_ticket(booking)
    except BaseException as error:  # any failure, a shutdown or time limit too: the claim is never kept
        services.unclaim_confirmation_email(intent_id=pk)
        if not isinstance(error, Exception):
            raise
        _retry_email(self, intent_id=pk, kind=EmailFailure.Kind.CONFIRMATION, error=error)
        return False
    services.record_confirmation_sent(intent_id=pk)
    return True


@shared_task(ignore_result=True)
def resend_missing_confirmations() -> int:
    """Beat: a confirmed booking whose email was never sent (its task lost with a worker or the
    broker) gets it well within CONFIRMATION_EMAIL_DEADLINE_SECONDS."""
    intent_ids = selectors.confirmations_to_resend()
    for intent_id in intent_ids:
        send_booking_confirmation.delay(str(intent_id))
    if intent_ids:
        logger.warning("re-sending %d confirmation emails that were not sent in time", len(intent_ids))
    return len(intent_ids)


def _send_notice(task, *, intent_id: UUID, kind: str, subject: str, template: str, context: dict, to: str) -> bool:
    """One plain-text notice to the buyer: sent and recorded (`record_email_sent` clears an earlier
    failure), or retried with backoff and then recorded for ops (`_retry_email`)."""
    try:
        send_mail(subject=subject, message=render_to_string(template, context), from_email=None, recipient_list=[to])
    except Exception as error:
        _retry_email(task, intent_id=intent_id, kind=kind, error=error)
        return False
    services.record_email_sent(intent_id=intent_id, kind=kind)
    return True


@shared_task(bind=True, max_retries=EMAIL_MAX_RETRIES, ignore_result=True)
def send_refund_notice(self, intent_id: str) -> bool:
    pk = UUID(intent_id)  # the message carries the id as text; the services take a UUID
    intent = BookingIntent.objects.select_related("event").get(pk=pk)
    return _send_notice(
        self,
        intent_id=pk,
        kind=EmailFailure.Kind.REFUND_NOTICE,
        subject=f"Refund for your {intent.event.name} order",
        template="emails/refund_notice.txt",
        context={"intent": intent, "event": intent.event},
        to=intent.buyer_email,
    )


@shared_task(bind=True, max_retries=EMAIL_MAX_RETRIES, ignore_result=True)
def send_ticket_email(self, reference: str, email: str) -> bool:
    """The ticket email again, asked for by the buyer ("find my tickets") or ops: sent only when
    `email` is the buyer's of the booking `reference` (the buyer's page said the same
    either way). It never touches the confirmation's claim: that email stays sent once. Not
    acks_late: a worker lost mid-send loses one re-send, which the buyer can ask for again."""
    booking = booking_selectors.booking_of_buyer(reference=reference, email=email)
    if booking is None:
        return False
    try:
        _mail_ticket(booking)
    except Exception as error:
        _retry_or_give_up(self, error=error, what=f"ticket email again for booking {reference}")
        return False
    return True


@shared_task(bind=True, max_retries=EMAIL_MAX_RETRIES, ignore_result=True)
def send_cancellation_notice(self, cancellation_id: int) -> bool:
    """The buyer's email for one cancellation: which seats, the refund, whether any seat is still
    valid. Queued by the cancellation's announcement (outbox), so it is sent even if the broker was
    down at the cancellation; retried with backoff, then recorded for ops."""
    cancellation = Cancellation.objects.select_related("booking__event").get(pk=cancellation_id)
    booking = cancellation.booking
    cancelled = cancellation.seats.select_related("seat__section")
    return _send_notice(
        self,
        intent_id=booking.intent_id,
        kind=EmailFailure.Kind.CANCELLATION,
        subject=f"Cancelled: your booking {booking.reference} for {booking.event.name}",
        template="emails/booking_cancelled.txt",
        context={
            "booking": booking,
            "event": booking.event,
            "cancellation": cancellation,
            "seats": sorted((b.seat for b in cancelled), key=links.seat_order),  # as the ticket lists them
            "seats_left": booking.booked_seats.filter(active=True).count(),
            "ticket_url": settings.SITE_URL + links.ticket_path(booking.reference),
        },
        to=booking.buyer_email,
    )
