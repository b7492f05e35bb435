"""Listens to the booking core: a confirmed intent gets its ticket email, a refunded one its notice,
a booking whose ticket email is asked for again gets it again.
And to Celery: a task's Razorpay calls get the worker's budget."""

from celery.signals import task_postrun, task_prerun
from django.dispatch import receiver

from apps.booking.models import BookingIntent
from apps.booking.signals import intent_ended, ticket_email_requested
from apps.payments import gateway


@receiver(intent_ended, dispatch_uid="payments.emails")
def queue_buyer_emails(sender, endings, **kwargs) -> None:
    from apps.payments import tasks

    for ending in endings:
        if ending.status == BookingIntent.Status.CONFIRMED:
            tasks.send_booking_confirmation.delay(str(ending.intent_id))
        elif ending.status == BookingIntent.Status.REFUNDED:
            tasks.send_refund_notice.delay(str(ending.intent_id))


@receiver(ticket_email_requested, dispatch_uid="payments.ticket_email")
def queue_ticket_email(sender, reference: str, email: str, **kwargs) -> None:
    """Asked for again (find my tickets, the admin): the sending task checks that they match."""
    from apps.payments import tasks

    tasks.send_ticket_email.delay(reference, email)


@task_prerun.connect(dispatch_uid="payments.worker_budget")
def patient_gateway_in_tasks(**kwargs) -> None:
    """A task is not holding a buyer's page: its Razorpay calls may wait longer (Celery retries after)."""
    gateway.use_budget(gateway.worker_budget())


@task_postrun.connect(dispatch_uid="payments.worker_budget_end")
def back_to_request_budget(**kwargs) -> None:
    """A task run in place (eagerly, inside a request or a test) leaves the request's budget behind."""
    gateway.use_budget(None)
