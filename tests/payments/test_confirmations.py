"""Issue 17: a confirmed booking's email is sent within the deadline or flagged. The claim on it is
a lease given back on any failure; a sweep re-sends what was lost; the audit shows what is late."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from apps.booking.models import Booking
from apps.core.models import OutboxMessage
from apps.payments import selectors, services, tasks
from apps.payments.models import EmailFailure, Payment
from tests.factories import make_event
from tests.faults.stand_ins import mails
from tests.payments.test_audit import audit, paid_booking
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.django_db


class Interrupted(BaseEmailBackend):
    """A send stopped by something that is not an Exception (a worker's shutdown, say)."""

    def send_messages(self, email_messages):
        raise KeyboardInterrupt


def age(booking: Booking, seconds: float) -> None:
    Booking.objects.filter(pk=booking.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(seconds=seconds), delivered_at=timezone.now())


def test_the_claim_is_given_back_on_a_failure_that_is_not_an_exception(settings):
    booking = paid_booking(make_event(), ["A-1"], 1)
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.Interrupted"}}
    with pytest.raises(KeyboardInterrupt):
        tasks.send_booking_confirmation.apply(args=[str(booking.intent_id)], throw=True)
    payment = Payment.objects.get()
    assert payment.confirmation_claimed_at is None and payment.confirmation_sent_at is None


def test_a_dead_senders_claim_lapses_and_a_sent_email_is_never_claimed_again():
    booking = paid_booking(make_event(), ["A-1"], 1)
    now = timezone.now()
    assert services.claim_confirmation_email(intent_id=booking.intent_id, now=now) is not None
    assert services.claim_confirmation_email(intent_id=booking.intent_id, now=now) is None  # one sender at a time
    # The worker holding the claim was killed mid-send: the lease lapses.
    later = now + timedelta(seconds=settings.CONFIRMATION_EMAIL_CLAIM_SECONDS + 1)
    assert services.claim_confirmation_email(intent_id=booking.intent_id, now=later) is not None
    services.record_confirmation_sent(intent_id=booking.intent_id)
    much_later = later + timedelta(hours=1)
    assert services.claim_confirmation_email(intent_id=booking.intent_id, now=much_later) is None


def test_the_sweep_resends_a_lost_confirmation_before_the_deadline_and_nothing_else():
    event = make_event()
    lost = paid_booking(event, ["A-1"], 1)  # its task was lost with a worker
    fresh = paid_booking(event, ["A-2"], 2)  # its task may still be in the queue
    sent = paid_booking(event, ["A-3"], 3)
    retrying = paid_booking(event, ["A-4"], 4)  # in its own retry chain
    half = settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS / 2
    for booking in (lost, sent, retrying):
        age(booking, half + 1)
    services.record_confirmation_sent(intent_id=sent.intent_id)
    services.record_email_failure(
        intent_id=retrying.intent_id, kind=EmailFailure.Kind.CONFIRMATION, error="x", gave_up=False
    )

    assert selectors.confirmations_to_resend() == [lost.intent_id]
    assert fresh.intent_id not in selectors.confirmations_to_resend()


@pytest.mark.django_db(transaction=True)
def test_the_sweep_task_sends_the_lost_email_through_a_real_worker(tmp_path):
    """The sweep queues the lost email on the real broker; a real worker sends it (no eager mode)."""
    lost = paid_booking(make_event(), ["A-1"], 1)
    age(lost, settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS / 2 + 1)
    assert tasks.resend_missing_confirmations() == 1
    outbox_dir = tmp_path / "mail"
    env = {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(outbox_dir)}
    with celery_worker(queues="emails", tmp_path=tmp_path, **env):
        wait_for(lambda: mails(outbox_dir), timeout=60, what="the re-sent confirmation email")
        wait_for(lambda: not selectors.confirmations_to_resend(), timeout=30, what="the email recorded as sent")
    sent = mails(outbox_dir)
    assert len(sent) == 1 and lost.reference in sent[0]["Subject"]


def test_audit_flags_a_confirmation_not_sent_past_the_deadline():
    booking = paid_booking(make_event(), ["A-1"], 1)
    assert audit()[0] == 0  # not late yet
    age(booking, settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS + 1)
    code, out = audit()
    assert code == 1 and "confirmed bookings without a sent confirmation past the deadline" in out
    services.record_confirmation_sent(intent_id=booking.intent_id)
    assert audit()[0] == 0


def test_audit_flags_an_announcement_not_delivered_past_the_deadline():
    booking = paid_booking(make_event(), ["A-1"], 1)
    services.record_confirmation_sent(intent_id=booking.intent_id)
    OutboxMessage.objects.update(
        delivered_at=None,
        created_at=timezone.now() - timedelta(seconds=settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS + 1),
    )
    code, out = audit()
    assert code == 1 and "announcements not delivered past the deadline" in out
