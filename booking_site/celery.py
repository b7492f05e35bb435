"""The Celery app: Redis broker, settings from Django (CELERY_*), beat schedule in settings."""

import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "booking_site.settings")

app = Celery("booking_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def log_like_the_other_processes(loglevel: int | str | None = None, **kwargs: object) -> None:
    """The worker and beat log with Django's LOGGING (booking_site/logs.py: one format, UTC)
    instead of Celery's own format, at the level of their --loglevel."""
    from django.conf import settings

    config = {**settings.LOGGING, "root": {**settings.LOGGING["root"]}}
    if loglevel:
        config["root"]["level"] = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    logging.config.dictConfig(config)
