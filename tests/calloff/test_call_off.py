"""Calling an event off from the admin: sales stop, holds end, the room closes, and the job cancels
and refunds every booking at the emulator for real while it drops and loses refund calls. Run until
done (in short passes, so it resumes), then once more: every booking refunded exactly once (one
refund per payment at the emulator, asked through the SDK), the progress says so, the audit is clean."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.admin import helpers
from django.db import connection

from apps.booking import selectors as booking_selectors
from apps.booking import services as booking_services
from apps.booking.models import Booking, BookingIntent, Cancellation, Event, Seat
from apps.core.models import AuditEntry, OutboxMessage
from apps.payments import gateway, tasks
from apps.payments import services as payment_services
from apps.payments.models import Payment, Refund
from apps.waitingroom.models import WaitingRoomConfig
from tests.cancel.helpers import faults, quiet_webhooks, real_paid_booking
from tests.factories import buyer, make_event
from tests.payments.test_audit import audit

pytestmark = pytest.mark.django_db(transaction=True)

BOOKINGS = 500
EVENTS = "/admin/booking/event/"


@pytest.fixture
def fast_job(settings):
    """The job's pace and backoff made short for a test; the breaker out of the way (the emulator
    drops calls on purpose here: an open breaker would only make the job wait its 30 s)."""
    settings.REFUND_CALLS_PER_SECOND = 400
    settings.REFUND_RETRY_BACKOFF = 0.05
    settings.REFUND_RETRY_BACKOFF_MAX = 0.4
    settings.CALL_OFF_PASS_SECONDS = 3
    settings.RAZORPAY_BREAKER_FAILURES = 1_000_000


def in_threads(fn, items, workers: int = 8) -> list:
    def run(item):
        try:
            return fn(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, items))


def run_job_until_done(event_id: int, within: float) -> list[int]:
    """Run the job's passes as a worker would (the task itself), until nothing is left."""
    left, deadline = [], time.monotonic() + within
    while not left or left[-1]:
        assert time.monotonic() < deadline, f"the job did not finish: {left}"
        left.append(tasks.call_off_refunds(event_id))
        time.sleep(0.05)
    return left


def call_off_in_admin(client, event: Event) -> str:
    asked = {"action": "call_off_events", helpers.ACTION_CHECKBOX_NAME: [event.pk]}
    page = client.post(EVENTS, asked)
    assert page.status_code == 200 and not AuditEntry.objects.filter(action="call off event").exists()
    done = client.post(EVENTS, {**asked, "apply": "1", "reason": "The venue flooded"}, follow=True)
    assert done.status_code == 200
    return page.content.decode()


def test_calling_off_500_bookings_refunds_each_exactly_once_through_dropped_calls(gateway_url, admin_client, fast_job):
    quiet_webhooks()
    event = make_event(rows=26, seats_per_row=20)
    started = time.monotonic()
    bookings = in_threads(lambda n: real_paid_booking(event, [f"{chr(65 + n // 20)}-{n % 20 + 1}"], n), range(BOOKINGS))
    made_in = time.monotonic() - started
    hold = booking_services.hold_seats(event=event, seat_labels=["Z-1"], **buyer(9999)).intent

    page = call_off_in_admin(admin_client, event)
    assert (
        f"<td>{BOOKINGS}</td>" in page
        and "₹7,50,000" in page
        and "emails every buyer" in page.replace("<strong>", "").replace("</strong>", "")
    )
    event.refresh_from_db()
    assert event.status == Event.Status.CANCELLED
    assert BookingIntent.objects.get(pk=hold.pk).status == BookingIntent.Status.RELEASED
    assert WaitingRoomConfig.objects.get(event=event).closed  # the waiting room heard the announcement
    assert not Seat.objects.filter(event=event, status__in=[Seat.Status.AVAILABLE, Seat.Status.HELD]).exists()

    faults(refund_drop_every=9, refund_lose_every=13)
    started = time.monotonic()
    passes = run_job_until_done(event.pk, within=60)
    job_took = time.monotonic() - started
    assert len(passes) >= 2 and passes[0] > 0  # the first pass stopped with work left: the next resumed it
    assert Refund.objects.filter(attempts__gt=1).count() >= BOOKINGS // 13  # dropped and lost calls asked again

    faults(reset=True, delay=3600)
    assert tasks.call_off_refunds(event.pk) == 0  # once more: nothing left, nothing asked again

    assert Booking.objects.filter(event=event, status=Booking.Status.REFUNDED).count() == BOOKINGS
    assert Cancellation.objects.filter(booking__event=event, call_off=True, refunded_at__isnull=False).count() == (
        BOOKINGS
    )
    assert Refund.objects.filter(refund_id__isnull=False).count() == BOOKINGS
    assert Seat.objects.filter(event=event).exclude(status=Seat.Status.BLOCKED).count() == 0
    emails = OutboxMessage.objects.filter(topic="booking.booking_cancelled", delivered_at__isnull=False)
    assert emails.count() == BOOKINGS  # each buyer's email queued from its cancellation's announcement

    payment_ids = list(Payment.objects.filter(intent__event=event).values_list("payment_id", flat=True))
    at_emulator = in_threads(lambda pid: gateway.client().payment.fetch_multiple_refund(pid)["items"], payment_ids)
    assert [len(refunds) for refunds in at_emulator] == [1] * BOOKINGS  # exactly one refund per payment
    assert all(refunds[0]["amount"] == 150000 for refunds in at_emulator)
    assert len({b.pk for b in bookings}) == BOOKINGS

    progress = admin_client.get(f"{EVENTS}{event.pk}/change/").content.decode()
    assert f"{BOOKINGS} refunded, 0 pending, 0 failed" in progress and "still to cancel: done" in progress
    code, output = audit()
    assert code == 0, output
    print(f"\n500 paid bookings made in {made_in:.1f} s; call-off job {job_took:.1f} s in {len(passes)} passes")


def test_progress_shows_failures_with_their_reasons(gateway_url, admin_client, fast_job, settings):
    quiet_webhooks()
    event = make_event()
    for n in range(3):
        real_paid_booking(event, [f"A-{n + 1}"], n)
    assert booking_services.call_off_event(event_id=event.pk, reason="Storm")
    assert not booking_services.call_off_event(event_id=event.pk, reason="Storm")  # once
    faults(refund_drop_every=1)
    assert tasks.call_off_refunds(event.pk) == 3
    progress = booking_selectors.call_off_progress(event)
    assert (progress.refunded, progress.pending, progress.failed, progress.to_cancel) == (0, 0, 3, 0)
    assert progress.reasons == [("Refund dropped by the refund_drop_every fault", 3)]
    page = admin_client.get(f"{EVENTS}{event.pk}/change/").content.decode()
    assert "0 refunded, 0 pending, 3 failed" in page and "3 × Refund dropped by the refund_drop_every fault" in page
    settings.REFUND_MAX_ATTEMPTS = 2
    assert run_job_until_done(event.pk, within=20)[-1] == 0  # given up after 2 attempts each: left to ops
    # (A pass asks a failed refund again within its time budget once its short backoff is over, so
    # the first pass may have asked one of them twice already: at least 2 each, none accepted.)
    assert Refund.objects.filter(attempts__gte=2, refund_id__isnull=True).count() == 3
    assert (
        not booking_selectors.call_off_progress(event).done and event.pk not in payment_services.call_offs_with_work()
    )
    settings.REFUND_MAX_ATTEMPTS = 20  # ops raise the limit once Razorpay answers again
    faults(refund_drop_every=0)
    run_job_until_done(event.pk, within=20)
    assert booking_selectors.call_off_progress(event).refunded == 3


def test_one_chain_of_passes_however_often_the_job_is_started(gateway_url, fast_job):
    """The announcement queues the first pass; the beat revives a job only when no pass is running
    or queued, so it never starts a second chain beside a live one."""
    from django_redis import get_redis_connection

    quiet_webhooks()
    event = make_event()
    real_paid_booking(event, ["A-1"], 1)
    assert booking_services.call_off_event(event_id=event.pk, reason="Storm")  # its receiver queued a pass
    assert not tasks.start_call_off_job(event.pk)  # queued already: the beat leaves it
    faults(refund_drop_every=1)
    assert tasks.call_off_refunds(event.pk) == 1  # the queued pass ran, left work, queued the next
    assert not tasks.start_call_off_job(event.pk)
    get_redis_connection("default").delete(f"calloff:{{{event.pk}}}:queued")  # as if its worker died
    assert tasks.start_call_off_job(event.pk)  # revived
    faults(refund_drop_every=0)
    run_job_until_done(event.pk, within=20)
