"""Celery tasks of the booking core: thin, they call services."""

from celery import shared_task

from apps.booking import services


@shared_task(ignore_result=True)
def expire_intents_task() -> int:
    return services.expire_intents()
