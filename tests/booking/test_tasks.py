from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.booking import services
from apps.booking.models import BookingIntent, Seat
from booking_site.celery import app
from tests.factories import buyer, make_event
from tests.processes import celery_worker, wait_for


def test_beat_schedule_runs_the_expiry_task():
    entry = settings.CELERY_BEAT_SCHEDULE["expire-intents"]
    assert entry["task"] == "apps.booking.tasks.expire_intents_task"
    assert entry["schedule"].total_seconds() == settings.EXPIRE_INTENTS_EVERY_SECONDS == 15
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_beat_schedule_refreshes_the_hold_statistics():
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-hold-statistics"]
    assert entry["task"] == "apps.booking.tasks.refresh_hold_statistics_task"
    assert entry["schedule"].total_seconds() == settings.HOLD_STATISTICS_EVERY_SECONDS == 10
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


@pytest.mark.django_db(transaction=True)
def test_real_worker_and_beat_expire_lapsed_holds(tmp_path):
    event = make_event(rows=1, seats_per_row=5)
    past = timezone.now() - timedelta(hours=1)
    lapsed = services.hold_seats(event=event, seat_labels=["A-1"], now=past, **buyer(1)).intent
    live = services.hold_seats(event=event, seat_labels=["A-2"], **buyer(2)).intent

    # Beat (embedded) schedules the task every second; the worker process runs it.
    with celery_worker(beat=True, tmp_path=tmp_path, EXPIRE_INTENTS_EVERY_SECONDS="1"):
        wait_for(
            lambda: BookingIntent.objects.get(pk=lapsed.id).status == BookingIntent.Status.EXPIRED,
            timeout=45,
            what="beat + worker to expire the lapsed hold",
        )
    assert Seat.objects.get(event=event, label="A-1").status == Seat.Status.AVAILABLE
    assert BookingIntent.objects.get(pk=live.id).status == BookingIntent.Status.HELD
    assert "expire_intents_task" in (tmp_path / "celery.log").read_text()
