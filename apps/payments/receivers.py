"""Listens to the booking core: a confirmed intent gets its ticket email, a refunded one its notice."""

from django.dispatch import receiver

from apps.booking.models import BookingIntent
from apps.booking.signals import intent_ended


@receiver(intent_ended, dispatch_uid="payments.emails")
def queue_buyer_emails(sender, endings, **kwargs) -> None:
    from apps.payments import tasks

    for ending in endings:
        if ending.status == BookingIntent.Status.CONFIRMED:
            tasks.send_booking_confirmation.delay(str(ending.intent_id))
        elif ending.status == BookingIntent.Status.REFUNDED:
            tasks.send_refund_notice.delay(str(ending.intent_id))
