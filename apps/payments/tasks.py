"""Celery tasks of payments: thin, idempotent, on their own queues (settings.CELERY_TASK_ROUTES)."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from apps.booking import links
from apps.booking.models import BookingIntent
from apps.payments import gateway, selectors, services

logger = logging.getLogger(__name__)

RETRYABLE = (gateway.GatewayUnavailable, OSError)


@shared_task(bind=True, acks_late=True, max_retries=8, retry_backoff=2, retry_backoff_max=300, ignore_result=True)
def process_webhook_event(self, webhook_id: int) -> str:
    try:
        return services.process_webhook(webhook_id=webhook_id)
    except RETRYABLE as error:
        raise self.retry(exc=error) from error


@shared_task(ignore_result=True)
def reconcile_payments() -> int:
    """Beat: fan out one task per stuck order, so one slow order never blocks the others."""
    ids = services.payments_to_reconcile()
    for payment_id in ids:
        reconcile_payment.delay(payment_id)
    for webhook_id in selectors.stale_webhook_ids():
        process_webhook_event.delay(webhook_id)
    return len(ids)


@shared_task(bind=True, acks_late=True, max_retries=3, retry_backoff=5, ignore_result=True)
def reconcile_payment(self, payment_id: int) -> str:
    try:
        return services.reconcile_payment(payment_id=payment_id)
    except RETRYABLE as error:
        raise self.retry(exc=error) from error


@shared_task(bind=True, max_retries=10, retry_backoff=10, retry_backoff_max=600, ignore_result=True)
def send_booking_confirmation(self, intent_id: str) -> bool:
    booking = services.claim_confirmation_email(intent_id=intent_id)
    if booking is None:
        return False  # already sent (or no payment record)
    context = {
        "booking": booking,
        "event": booking.event,
        "seats": [b.seat for b in booking.booked_seats.all()],
        "ticket_url": settings.SITE_URL + links.ticket_path(booking.reference),
    }
    try:
        send_mail(
            subject=f"Your tickets for {booking.event.name} — {booking.reference}",
            message=render_to_string("emails/booking_confirmed.txt", context),
            from_email=None,
            recipient_list=[booking.buyer_email],
            html_message=render_to_string("emails/booking_confirmed.html", context),
        )
    except OSError as error:
        services.unclaim_confirmation_email(intent_id=intent_id)
        raise self.retry(exc=error) from error
    return True


@shared_task(bind=True, max_retries=10, retry_backoff=10, retry_backoff_max=600, ignore_result=True)
def send_refund_notice(self, intent_id: str) -> bool:
    intent = BookingIntent.objects.select_related("event").get(pk=intent_id)
    context = {"intent": intent, "event": intent.event}
    try:
        send_mail(
            subject=f"Refund for your {intent.event.name} order",
            message=render_to_string("emails/refund_notice.txt", context),
            from_email=None,
            recipient_list=[intent.buyer_email],
        )
    except OSError as error:
        raise self.retry(exc=error) from error
    return True
