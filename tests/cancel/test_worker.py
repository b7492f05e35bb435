"""The same paths through a real Celery worker process: a cancellation's announcement queues its
refund and its email, the worker asks the emulator and sends the mail; a call-off's announcement
starts the job, which the worker runs to the end."""

import pytest

from apps.booking import services as booking_services
from apps.booking.models import Booking
from tests.cancel.helpers import emulator_refunds, quiet_webhooks, real_paid_booking
from tests.factories import make_event
from tests.payments.conftest import worker_env
from tests.payments.test_flow import mails
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_refunds_and_emails_a_cancellation_and_runs_a_call_off(gateway_url, tmp_path):
    quiet_webhooks()
    event, other = make_event(), make_event()
    booking = real_paid_booking(event, ["A-1", "A-2"], 1)
    called_off = [real_paid_booking(other, [f"A-{n}"], 10 + n) for n in range(1, 4)]
    env = worker_env(gateway_url)
    with celery_worker(tmp_path=tmp_path, **env, EMAIL_FILE_PATH=str(tmp_path / "mail")) as worker:
        booking_services.cancel_booking(booking_id=booking.pk, reason="Buyer asked")
        wait_for(
            lambda: Booking.objects.get(pk=booking.pk).status == Booking.Status.REFUNDED,
            what="the refund",
            process=worker,
        )
        assert [r["amount"] for r in emulator_refunds(booking)] == [300000]
        wait_for(
            lambda: any(
                m["Subject"].startswith(f"Cancelled: your booking {booking.reference}") for m in mails(tmp_path)
            ),
            what="the email",
        )

        assert booking_services.call_off_event(event_id=other.pk, reason="Storm")
        wait_for(
            lambda: Booking.objects.filter(event=other, status=Booking.Status.REFUNDED).count() == 3,
            what="the call-off job",
            process=worker,
        )
        assert all(len(emulator_refunds(b)) == 1 for b in called_off)
        cancelled = lambda: [m for m in mails(tmp_path) if m["Subject"].startswith("Cancelled:")]  # noqa: E731
        wait_for(lambda: len(cancelled()) == 4, what="every buyer's cancellation email")
