"""Celery tasks of the plumbing: thin, they call the outbox."""

from celery import shared_task

from apps.core import outbox


@shared_task(acks_late=True, ignore_result=True)
def relay_outbox() -> int:
    """Beat: deliver the announcements that are due (idempotent: each delivery claims its row)."""
    return outbox.relay()
