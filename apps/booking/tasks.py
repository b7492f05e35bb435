"""Celery tasks of the booking core: thin, they call services."""

from celery import shared_task

from apps.booking import services


@shared_task(acks_late=True, ignore_result=True)  # idempotent: a repeat expires nothing twice
def expire_intents_task() -> int:
    return services.expire_intents()


@shared_task(ignore_result=True)
def refresh_hold_statistics_task() -> list[str]:
    return services.refresh_hold_statistics()
