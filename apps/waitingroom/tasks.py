"""Celery tasks of the waiting room: thin, they call services."""

from celery import shared_task

from apps.waitingroom import services


@shared_task(ignore_result=True)
def admit_task() -> int:
    """Every second from beat; status polls also admit, so the line moves without beat."""
    return services.admit_all()
