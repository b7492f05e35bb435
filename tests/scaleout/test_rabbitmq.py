"""Celery on RabbitMQ (the scale-out topology's broker, a vhost of this test's own): a worker
SIGKILLed while it confirms payments from their webhooks. Its unacknowledged task goes back to
the queue the moment its connection drops (acks_late), the next worker confirms it, and every
captured payment ends in exactly one booking."""

import re
import signal
import time

import httpx
import pytest
from django.core.management import call_command
from django.db.models import Count

from apps.booking import services as booking_services
from apps.booking.models import Booking
from apps.payments.models import Payment, WebhookEvent
from apps.waitingroom import tokens
from devstack import rabbitmq
from devstack.ports import free_port
from devstack.processes import signal_tree
from tests.factories import buyer, make_event
from tests.payments.conftest import pay, worker_env
from tests.processes import celery_worker, wait_for, web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
BUYERS = 16
WEBHOOK_TASK = "apps.payments.tasks.process_webhook_event"


def tasks_in(log_path, what: str) -> list[str]:
    """Task ids of `what` ("received" or "succeeded") in a worker's INFO log."""
    text = log_path.read_text() if log_path.exists() else ""
    return re.findall(rf"Task {re.escape(WEBHOOK_TASK)}\[([0-9a-f-]+)\] {what}", text)


def test_a_worker_killed_while_confirming_leaves_its_task_to_the_next_and_each_payment_one_booking(
    emulator_for, tmp_path
):
    port = free_port()
    gateway = emulator_for(webhook_url=f"http://127.0.0.1:{port}/payments/razorpay/webhook/")
    event = make_event(rows=1, seats_per_row=BUYERS)
    intents = [
        booking_services.hold_seats(event=event, seat_labels=[f"A-{n + 1}"], owner=f"browser-{n}", **buyer(n)).intent
        for n in range(BUYERS)
    ]
    with rabbitmq.vhost("surge-test") as broker:
        env = {
            **worker_env(gateway.url),
            "CELERY_BROKER_URL": broker,
            "EMAIL_FILE_PATH": str(tmp_path / "mail"),
            "RECONCILE_EVERY_SECONDS": "3600",  # the webhooks alone confirm here
        }
        with web_server(tmp_path=tmp_path / "web", port=port, workers=2, threads=4, **env) as site:
            for n, intent in enumerate(intents):  # each buyer opens the checkout: its order
                cookies = {tokens.VISITOR_COOKIE: tokens.visitor_cookie_value(f"browser-{n}")}
                assert httpx.get(f"{site}/checkout/{intent.id}/", cookies=cookies, timeout=15).status_code == 200
            for payment in Payment.objects.filter(intent__in=intents):
                pay(gateway.url, payment.order_id)  # captured; the webhooks queue their tasks in RabbitMQ
            wait_for(lambda: WebhookEvent.objects.count() >= BUYERS, timeout=30, what="the webhooks to reach the site")

            first_log = tmp_path / "worker-1" / "celery.log"
            with celery_worker(tmp_path=tmp_path / "worker-1", **env) as first:
                # Kill it the moment a webhook task is running (received, not yet succeeded).
                def running() -> list[str]:
                    received, done = tasks_in(first_log, "received"), set(tasks_in(first_log, "succeeded"))
                    return [t for t in received if t not in done] if len(done) >= 3 else []

                in_flight = wait_for(running, timeout=60, interval=0.005, what="a webhook task in flight")
                signal_tree(first, signal.SIGKILL)
            confirmed_by_first = Booking.objects.count()
            assert confirmed_by_first < BUYERS  # it died with work left

            second_log = tmp_path / "worker-2" / "celery.log"
            with celery_worker(tmp_path=tmp_path / "worker-2", **env):
                wait_for(lambda: Booking.objects.count() == BUYERS, timeout=60, what="every booking")
                wait_for(
                    lambda: not WebhookEvent.objects.exclude(outcome=WebhookEvent.Outcome.PROCESSED).exists(),
                    timeout=60,
                    what="every webhook processed",
                )
                time.sleep(1)
            redelivered = set(in_flight) & set(tasks_in(second_log, "received"))
            print(
                f"worker 1 confirmed {confirmed_by_first} of {BUYERS} and was killed running {in_flight}; "
                f"worker 2 received it again: {sorted(redelivered)}"
            )
            assert redelivered  # RabbitMQ gave the killed worker's task to the next one

    assert Booking.objects.count() == BUYERS
    assert not Booking.objects.values("intent").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Payment.objects.filter(intent__in=intents, intent__booking__isnull=False).count() == BUYERS
    call_command("audit_bookings")
