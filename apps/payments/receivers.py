"""Listens to the booking core: a confirmed intent gets its ticket email, a refunded one its notice,
a booking whose ticket email is asked for again gets it again, a cancellation its refund and its
email, a called-off event the job that refunds it.
And to Celery: a task's Razorpay calls get the worker's budget."""

from celery.signals import task_postrun, task_prerun
from django.dispatch import receiver

from apps.booking.models import BookingIntent
from apps.booking.signals import booking_cancelled, event_called_off, intent_ended, ticket_email_requested
from apps.payments import gateway, services


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


@receiver(booking_cancelled, dispatch_uid="payments.cancellation_refund")
def refund_cancelled_seats(sender, cancellation_id: int, call_off: bool, **kwargs) -> None:
    """Open the refund now (database only: it exists however the broker fares); ask Razorpay from a
    task, outside any transaction. A call-off's refunds are asked by its job, at the gateway's pace."""
    from apps.payments import tasks

    services.open_cancellation_refund(cancellation_id=cancellation_id)
    if not call_off:
        tasks.refund_cancellation.delay(cancellation_id)


@receiver(booking_cancelled, dispatch_uid="payments.cancellation_email")
def email_cancellation(sender, cancellation_id: int, **kwargs) -> None:
    from apps.payments import tasks

    tasks.send_cancellation_notice.delay(cancellation_id)


@receiver(event_called_off, dispatch_uid="payments.call_off_job")
def start_call_off_job(sender, event_id: int, **kwargs) -> None:
    from apps.payments import tasks

    tasks.start_call_off_job(event_id)


@task_prerun.connect(dispatch_uid="payments.worker_budget")
def patient_gateway_in_tasks(**kwargs) -> None:
    """A task is not holding a buyer's page: its Razorpay calls may wait longer (Celery retries after)."""
    gateway.use_budget(gateway.worker_budget())


@task_postrun.connect(dispatch_uid="payments.worker_budget_end")
def back_to_request_budget(**kwargs) -> None:
    """A task run in place (eagerly, inside a request or a test) leaves the request's budget behind."""
    gateway.use_budget(None)
