"""One log format for every process: gunicorn, the Celery worker and beat, the emulator, manage.py.

Every line reads `2026-12-01T07:26:34.123Z logger [pid] [LEVEL] message`, in UTC whatever the
machine's or the settings' zone. UTC rather than TIME_ZONE (an event's zone, Asia/Kolkata by
default): Django sets the process's zone to TIME_ZONE once settings load, so a gunicorn master
(before Django) and its workers (after) would otherwise stamp lines in two zones; the database
and Celery (CELERY_TIMEZONE) keep time in UTC too, so log lines and rows compare as they are.
`[pid] [LEVEL] message` is gunicorn's own format, so its lines read as they did.

This module imports no Django: gunicorn's configuration loads it before any settings exist.
"""

import logging
import time
from collections.abc import Iterable
from typing import Any

from gunicorn import glogging

FORMAT = "%(asctime)s %(name)s [%(process)d] [%(levelname)s] %(message)s"


class Formatter(logging.Formatter):
    """ISO 8601 in UTC with milliseconds and a Z."""

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self, fmt: str = FORMAT, datefmt: str | None = None, **kwargs: Any) -> None:
        super().__init__(fmt, datefmt, **kwargs)

    @staticmethod
    def converter(seconds: float | None = None) -> time.struct_time:
        return time.gmtime(seconds)


class RoutineTasksAtDebug(logging.Filter):
    """Celery's lines about a routine task (received, succeeded, sent by beat) become DEBUG.

    Celery logs every task it receives and finishes at INFO; a task beat sends every second (the
    waiting room's admit) would fill the worker's log with two lines a second. Put on the loggers
    that write them (celery.worker.strategy, celery.app.trace, celery.worker.request, celery.beat);
    failures and retries keep their level.
    """

    def __init__(self, tasks: Iterable[str] = ()) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._about_routine_task(record):
            return True
        return _at_debug(record)

    def _about_routine_task(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)  # the worker's lines carry the task in `data`
        if isinstance(data, dict):
            return data.get("name") in self.tasks
        args = record.args if isinstance(record.args, tuple) else ()  # beat: (entry name, task name)
        return any(arg in self.tasks for arg in args if isinstance(arg, str))


class ConflictsAtDebug(logging.Filter):
    """django.request's line about a 409 answer becomes DEBUG.

    Django logs every 4xx answer at WARNING. A 409 is a buyer losing a race for a seat, or acting on
    a hold or payment that has moved on: on a hot seat at a drop's first second, one buyer wins and
    thousands get a 409 each, a line apiece that no operator acts on, written on the hold's hot path.
    surge_holds_refused_total counts the refusals by reason instead. Put on the django.request
    logger; every other 4xx and every 5xx keep their level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or getattr(record, "status_code", None) != 409:
            return True
        return _at_debug(record)


def _at_debug(record: logging.LogRecord) -> bool:
    """Demote the record to DEBUG; keep it only if its logger writes DEBUG."""
    record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
    return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def logging_config(*, level: str, routine_tasks: Iterable[str] = ()) -> dict[str, Any]:
    """The dictConfig of every Python process (Django's LOGGING; Celery applies it too)."""
    routine = {"filters": ["routine_tasks"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": Formatter}},
        "filters": {
            "routine_tasks": {"()": RoutineTasksAtDebug, "tasks": list(routine_tasks)},
            "conflicts": {"()": ConflictsAtDebug},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Through the root's handler only: Django's own console handler (DEBUG=true) would
            # print each line a second time, in another format.
            "django": {"handlers": [], "level": "INFO"},
            "django.server": {"level": "WARNING"},
            "django.request": {"filters": ["conflicts"]},
            "axes.apps": {"level": "WARNING"},  # its version banner, at every manage.py command
            "celery.worker.strategy": routine,
            "celery.app.trace": routine,
            "celery.worker.request": routine,  # an admit that expired before a busy worker took it
            "celery.beat": routine,
        },
    }


class GunicornLogger(glogging.Logger):
    """gunicorn's own lines (its error log, and the access log when one is kept) in FORMAT.

    gunicorn formats them itself, before any Django settings exist, in the machine's local time.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setFormatter(Formatter())
