"""The broker is down when a payment is confirmed: nothing the confirmation promised is lost.

Real parts only: a private redis-server (broker, cache and waiting room at once, as in production
where CELERY_BROKER_URL defaults to REDIS_URL) that the test stops and starts again, the verify
callback's confirmation in a process of its own, a real Celery worker with beat, the emulator."""

import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pytest
from django.core.management import call_command

from apps.booking import services as booking_services
from apps.booking.models import Booking, BookingIntent
from apps.core.models import OutboxMessage
from apps.payments import selectors, services
from apps.waitingroom import queue
from apps.waitingroom.contract import RoomKeys
from devstack.redis_server import RedisServer
from tests.factories import buyer, make_event
from tests.faults.stand_ins import mails
from tests.payments.conftest import pay, worker_env
from tests.processes import ROOT, celery_worker, product_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def stopped_at_the_end(server: RedisServer):
    try:
        yield
    finally:
        if server.running():
            server.stop()


def confirm_in_a_process_of_its_own(env: dict[str, str], intent_id, order_id: str, answer: dict) -> list[str]:
    """What the web process does on the verify callback, twice (the buyer's page retries)."""
    code = f"""
from apps.payments import services
from apps.booking import services as booking
for _ in range(2):
    settlement = services.verify_checkout(intent_id="{intent_id}", order_id="{order_id}",
        payment_id="{answer["razorpay_payment_id"]}", signature="{answer["razorpay_signature"]}")
    print("outcome", settlement.outcome)
print("created", booking.confirm_intent(intent_id="{intent_id}")[1])
"""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith(("outcome", "created"))]


@pytest.mark.parametrize("relay", ["on", "off (control)"])
def test_broker_down_at_confirmation_loses_neither_the_email_nor_the_freed_slot(gateway_url, tmp_path, relay):
    """With the relay off (the control: only the after-commit send, as before the outbox), the
    harness sees the email and the slot lost; with it on, both happen once the broker is back."""
    server = RedisServer(tmp_path)
    server.start()
    env = {
        **worker_env(gateway_url),
        "REDIS_URL": server.url,  # the broker (CELERY_BROKER_URL defaults to it), cache and waiting room
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "OUTBOX_RELAY_EVERY_SECONDS": "0.5" if relay == "on" else "3600",
        "CONFIRMATION_EMAIL_DEADLINE_SECONDS": "120" if relay == "on" else "3600",  # the control: no sweep either
    }
    event = make_event()
    room = server.client()
    room.hset(RoomKeys.of(event.id).cfg, mapping={"mode": "always", "capacity": 10, "rate": 600, "session_s": 600})
    queue.join(room, event.id, "visitor-1", int(time.time() * 1000))
    assert "visitor-1" in queue.admit(room, event.id, int(time.time() * 1000)).admitted
    intent = booking_services.hold_seats(event=event, seat_labels=["A-1"], owner="visitor-1", **buyer()).intent
    payment = services.ensure_order(intent=intent)
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)  # no webhooks: the callback
    answer = pay(gateway_url, payment.order_id)

    with celery_worker(beat=True, tmp_path=tmp_path, **env), stopped_at_the_end(server):
        room.set("kept", "across the restart")
        server.stop()  # the broker (and the rest of Redis) goes down ...
        assert not server.answers()
        said = confirm_in_a_process_of_its_own(product_env(**env), intent.id, payment.order_id, answer)
        # ... while the payment is confirmed, and confirmed again by a retry.
        assert said == ["outcome confirmed", "outcome confirmed", "created False"]
        assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.CONFIRMED
        message = OutboxMessage.objects.get()
        assert message.delivered_at is None and message.attempts == 1
        assert "payments" in message.last_error and "waitingroom" in message.last_error  # both receivers failed
        time.sleep(2)
        assert not mails(tmp_path / "mail")

        server.start()  # the broker is back: the relay delivers what the confirmation announced
        assert room.get("kept") == b"across the restart"  # so a freed slot below is not a lost one
        if relay != "on":
            time.sleep(8)
            assert not mails(tmp_path / "mail") and room.zscore(RoomKeys.of(event.id).inside, "visitor-1")
            return
        wait_for(lambda: mails(tmp_path / "mail"), timeout=60, what="the confirmation email")
        wait_for(
            lambda: room.zscore(RoomKeys.of(event.id).inside, "visitor-1") is None, timeout=10, what="the freed slot"
        )
        wait_for(lambda: OutboxMessage.objects.get().delivered_at is not None, timeout=10, what="the delivery")
        time.sleep(1.5)  # room for a (wrong) second email

    booking = Booking.objects.get(intent=intent)
    sent = mails(tmp_path / "mail")
    assert len(sent) == 1 and booking.reference in sent[0]["Subject"]
    assert payment.__class__.objects.get(pk=payment.pk).confirmation_sent_at is not None
    assert not any(selectors.invariant_violations().values())
    call_command("audit_bookings")  # exits 1 on any violation
