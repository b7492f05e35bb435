"""Item 6 of the security issue, "lost emails": a CR/LF in an event's name made every confirmation
email of that event fail for good. Names are refused at every door, and any failed send is
released, retried with backoff, and recorded for ops when the retries run out."""

import email
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.booking import services as booking_services
from apps.booking.errors import InvalidRequest
from apps.booking.models import Booking, Event
from apps.payments import models as payment_models
from apps.payments import services, tasks
from apps.payments.models import Payment
from tests.factories import buyer, make_event
from tests.payments.conftest import pay, worker_env
from tests.processes import celery_worker, wait_for

INJECTED = "Summer Drop\r\nBcc: everyone@example.com"


@pytest.mark.django_db
def test_admin_refuses_an_event_name_with_crlf(ops):
    form = {
        "slug": "summer-drop",
        "name": INJECTED,
        "venue": "Hall",
        "description": "",
        "starts_at_0": "2030-01-01",
        "starts_at_1": "20:00:00",
        "sale_opens_at_0": "2029-12-01",
        "sale_opens_at_1": "10:00:00",
        "status": "DRAFT",  # on sale needs seats first (services.check_can_go_on_sale)
        "max_seats_per_buyer": "6",
        "hold_minutes": "8",
        "time_zone": "Asia/Kolkata",
        "sections-TOTAL_FORMS": "0",
        "sections-INITIAL_FORMS": "0",
        "sections-MIN_NUM_FORMS": "0",
        "sections-MAX_NUM_FORMS": "1000",
    }
    response = ops.post("/admin/booking/event/add/", form)
    assert response.status_code == 200  # the form again, with its error
    assert "line break" in response.content.decode() or "control character" in response.content.decode()
    assert not Event.objects.exists()
    # The same form with a clean name goes through: the check is on the name, not the form.
    assert ops.post("/admin/booking/event/add/", {**form, "name": "Summer Drop"}).status_code == 302
    existing = Event.objects.get()
    response = ops.post(f"/admin/booking/event/{existing.pk}/change/", {**form, "name": "Summer\nDrop"})
    assert response.status_code == 200 and Event.objects.get().name == "Summer Drop"


@pytest.mark.django_db
def test_create_event_command_and_service_refuse_an_event_name_with_crlf():
    with pytest.raises(CommandError):
        call_command(
            "create_event", "--slug=drop", f"--name={INJECTED}", "--rows=1", "--seats-per-row=2", "--price=10000"
        )
    with pytest.raises(InvalidRequest):
        booking_services.create_event(slug="drop2", name="Drop\u2028Two", starts_at=timezone.now() + timedelta(days=1))
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_database_refuses_an_event_name_with_crlf_written_around_the_model():
    event = make_event()
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.filter(pk=event.pk).update(name=INJECTED)
    assert Event.objects.get(pk=event.pk).name == event.name


def read_mails(folder: Path) -> list[email.message.Message]:
    found = []
    for path in folder.glob("*.log"):
        for chunk in path.read_text().split("\n" + "-" * 79 + "\n"):
            if chunk.strip():
                found.append(email.message_from_string(chunk))
    return found


@pytest.mark.django_db(transaction=True)
def test_a_failed_confirmation_send_is_released_and_retried(gateway_url, tmp_path):
    """The mail path fails once with ValueError (what the CR/LF header raised): the real worker must
    release its claim and send again after a backoff, and the ticket email arrives exactly once."""
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)
    event = make_event()
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer()).intent
    payment = services.ensure_order(intent=intent)
    answer = pay(gateway_url, payment.order_id)
    folder = tmp_path / "mail"
    with celery_worker(
        tmp_path=tmp_path,
        queues="default,confirmations,emails",
        **{
            **worker_env(gateway_url),
            "EMAIL_BACKEND": "tests.security.flaky_filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(folder),
        },
    ):
        # The confirmation email is queued when the booking is confirmed (here by the verify path).
        settlement = services.verify_checkout(
            intent_id=intent.id,
            order_id=payment.order_id,
            payment_id=answer["razorpay_payment_id"],
            signature=answer["razorpay_signature"],
        )
        assert settlement.outcome == "confirmed"
        wait_for(lambda: (folder / "failed-once").exists(), what="the first, failing send")
        wait_for(lambda: read_mails(folder), timeout=40, what="the retried confirmation email")
    mails = read_mails(folder)
    assert len(mails) == 1 and Booking.objects.get().reference in mails[0]["Subject"]
    assert Payment.objects.get().confirmation_sent_at is not None
    failure = payment_models.EmailFailure.objects.get(intent=intent)
    assert failure.attempts == 1 and failure.sent_at is not None and failure.gave_up_at is None


@pytest.mark.django_db
def test_a_confirmation_that_keeps_failing_is_recorded_for_ops_and_shown_in_the_admin(ops, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.security.mail.AlwaysFails"}}
    event = make_event()
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], **buyer()).intent
    Payment.objects.create(
        intent=intent, order_id="order_mail", payment_id="pay_mail", amount_paise=intent.amount_paise, status="captured"
    )
    booking_services.confirm_intent(intent_id=intent.id)
    task = tasks.send_booking_confirmation

    task.apply(args=[str(intent.id)], retries=task.max_retries)  # the last attempt the task is allowed

    assert Payment.objects.get().confirmation_sent_at is None  # the claim is released, never kept by a failure
    failure = payment_models.EmailFailure.objects.get(intent=intent)
    assert failure.gave_up_at is not None and "linefeed" in failure.last_error
    page = ops.get("/admin/payments/emailfailure/").content.decode()
    assert intent.buyer_email in page and "gave up" in page.lower()
