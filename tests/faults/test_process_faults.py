"""The product's processes fail (issue 17): a Celery worker killed mid-send, gunicorn killed
between a capture and its verify, PostgreSQL unreachable, the emulator killed during checkout.

Real processes only (gunicorn, Celery with beat, the emulator, PostgreSQL, Redis), each test
ending with the audit: every captured payment has a booking or a refund, no seat sold twice,
every confirmed booking's email sent, nothing pending, the site answers.

PostgreSQL's outage is simulated at the connection: the processes reach it through a TCP
forwarder (tests/faults/stand_ins.py) that the test cuts (live connections closed, new ones
refused) and restores. A private cluster was not used: the test's own database (the fixtures,
the audit) lives in the shared one, and a second migrated cluster per test costs more than the
outage it would show."""

import os
import re
import signal
import time

import httpx
import pytest
from django.core.management import call_command
from django.db import connection

from apps.booking import services as booking_services
from apps.booking.models import Booking, BookingIntent
from apps.core.models import OutboxMessage
from apps.payments import services
from apps.payments.models import Payment, WebhookEvent
from apps.waitingroom import tokens
from devstack.ports import free_port
from devstack.processes import signal_tree
from tests.factories import browser, buyer, make_event
from tests.faults.stand_ins import SmtpSink, TcpForwarder, mails
from tests.payments.conftest import pay, worker_env
from tests.processes import celery_worker, wait_for, web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TRY_AGAIN = "please try again shortly"  # GatewayUnavailable's message
NO_WEBHOOKS = {"drop_first": 1000}  # the session emulator's webhooks would confirm in the live server
VERIFY = "/checkout/{}/pay/verify/"


def hold(event, n: int = 1, label: str = "A-1") -> BookingIntent:
    return booking_services.hold_seats(event=event, seat_labels=[label], owner=f"browser-{n}", **buyer(n)).intent


def owner_cookies(n: int = 1) -> dict[str, str]:
    return {tokens.VISITOR_COOKIE: tokens.visitor_cookie_value(f"browser-{n}")}


def audit_clean(site: str | None = None) -> None:
    """The audit command (exits 1 on any violation), plus nothing left pending, plus the site answers."""
    call_command("audit_bookings")
    assert not OutboxMessage.objects.filter(delivered_at__isnull=True).exists(), "an announcement is undelivered"
    assert not Payment.objects.filter(intent__booking__isnull=False, confirmation_sent_at__isnull=True).exists()
    assert not WebhookEvent.objects.exclude(outcome=WebhookEvent.Outcome.PROCESSED).exists()
    if site is not None:
        assert httpx.get(f"{site}/healthz", timeout=5).status_code == 200


def confirm_in_process(intent: BookingIntent, answer: dict) -> Booking:
    """The verify callback's confirmation, here: the email task goes to the broker after commit."""
    settlement = services.verify_checkout(
        intent_id=intent.id,
        order_id=answer["razorpay_order_id"],
        payment_id=answer["razorpay_payment_id"],
        signature=answer["razorpay_signature"],
    )
    assert settlement.outcome == services.Settlement.Outcome.CONFIRMED
    return settlement.booking


# --- 1. The worker killed (SIGKILL) while it sends a confirmation email ------------------------


@pytest.mark.parametrize("sweep", ["on", "off (control)"])
def test_worker_killed_mid_send_the_email_is_sent_once_by_the_next_worker(gateway_url, tmp_path, settings, sweep):
    """The mail server hangs inside the message; the worker is killed there, its claim on the
    email left behind. The next worker's sweep finds the claim lapsed and sends the one email.
    The control (the sweep off, as before it existed): the email is never sent and the audit says so."""
    settings.CONFIRMATION_EMAIL_DEADLINE_SECONDS = 6  # the audit here uses the workers' deadline
    event = make_event()
    intent = hold(event)
    payment = services.ensure_order(intent=intent)
    httpx.post(f"{gateway_url}/_emulator/faults", json=NO_WEBHOOKS, timeout=5)
    answer = pay(gateway_url, payment.order_id)

    with SmtpSink() as smtp:
        smtp.hang_next.set()
        with celery_worker(tmp_path=tmp_path / "first", **{**worker_env(gateway_url), **smtp.env()}) as first:
            booking = confirm_in_process(intent, answer)
            assert smtp.hanging.wait(30), "the worker never reached the mail server"
            os.kill(first.pid, signal.SIGKILL)  # a solo worker: the task runs in this process
            first.wait(5)
        payment.refresh_from_db()
        assert payment.confirmation_claimed_at is not None and payment.confirmation_sent_at is None
        assert not smtp.delivered

        env = {
            **worker_env(gateway_url),
            **smtp.env(),
            "CONFIRMATION_EMAIL_DEADLINE_SECONDS": "6" if sweep == "on" else "3600",
            "CONFIRMATION_EMAIL_CLAIM_SECONDS": "2",  # the dead worker's claim lapses (< half the deadline)
        }
        with celery_worker(beat=True, tmp_path=tmp_path / "second", **env):
            if sweep != "on":
                time.sleep(10)
                assert not smtp.delivered
                with pytest.raises(SystemExit):
                    call_command("audit_bookings")  # "confirmed bookings without a sent confirmation"
                return
            wait_for(lambda: smtp.delivered, timeout=30, what="the confirmation email")
            time.sleep(3)  # room for a (wrong) second email: two more sweeps
        assert len(smtp.delivered) == 1 and booking.reference.encode() in smtp.delivered[0]
    audit_clean()


# --- 2. gunicorn killed between a payment's capture and its verify -----------------------------


@pytest.mark.parametrize("confirmed_by", ["webhook", "reconciliation"])
def test_gunicorn_killed_between_capture_and_verify_loses_nothing(emulator_for, tmp_path, confirmed_by):
    """The buyer pays; the site is killed (SIGKILL, master and workers) before the callback
    arrives, so the verify is lost; gunicorn comes back on its port. The webhook's retries (or,
    with every webhook dropped, reconciliation) confirm the booking; the buyer's retried verify
    sees it confirmed; one booking, one email."""
    port = free_port()
    gateway = emulator_for(webhook_url=f"http://127.0.0.1:{port}/payments/razorpay/webhook/")
    faults = {"delay": 2.0} if confirmed_by == "webhook" else NO_WEBHOOKS
    httpx.post(f"{gateway.url}/_emulator/faults", json=faults, timeout=5)
    event = make_event()
    intent = hold(event)
    env = {
        **worker_env(gateway.url),
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "RECONCILE_EVERY_SECONDS": "1" if confirmed_by == "reconciliation" else "3600",
    }
    site_env = {"RAZORPAY_API_URL": gateway.url}

    with celery_worker(beat=True, tmp_path=tmp_path / "worker", **env):
        with web_server(tmp_path=tmp_path / "web-1", port=port, workers=2, threads=4, **site_env) as site:
            page = httpx.get(f"{site}/checkout/{intent.id}/", cookies=owner_cookies(), timeout=10)
            assert page.status_code == 200
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            cookies = {"csrftoken": page.cookies["csrftoken"], **owner_cookies()}
            payment = Payment.objects.get(intent=intent)
            answer = pay(gateway.url, payment.order_id)  # captured at Razorpay ...
            signal_tree(
                int(_gunicorn_master(tmp_path / "web-1")), signal.SIGKILL
            )  # ... and the site dies before the callback

            def verify(base: str) -> httpx.Response:
                return httpx.post(
                    base + VERIFY.format(intent.id),
                    data=answer,
                    cookies=cookies,
                    headers={"X-CSRFToken": token, "Accept": "application/json"},
                    timeout=15,
                )

            with pytest.raises(httpx.TransportError):
                verify(site)  # the buyer's callback finds nobody
            assert not Booking.objects.exists()

        with web_server(tmp_path=tmp_path / "web-2", port=port, workers=2, threads=4, **site_env) as site:
            wait_for(lambda: Booking.objects.filter(intent=intent).exists(), timeout=40, what=f"the {confirmed_by}")
            again = verify(site)  # the page's retry, on the restarted site
            assert again.status_code == 200 and again.json()["status"] == "confirmed"
            wait_for(lambda: mails(tmp_path / "mail"), timeout=30, what="the confirmation email")
            time.sleep(1.5)  # room for a (wrong) second email
            booking = Booking.objects.get()
            assert len(mails(tmp_path / "mail")) == 1 and booking.reference in mails(tmp_path / "mail")[0]["Subject"]
            if confirmed_by == "webhook":
                assert WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.PROCESSED).exists()
            else:
                assert not WebhookEvent.objects.exists()
            audit_clean(site)


def _gunicorn_master(logs) -> int:
    """The gunicorn master's pid, from its own log line (`Starting gunicorn`, then `Listening`)."""
    text = (logs / "gunicorn.log").read_text()
    return int(re.search(r"\[(\d+)\] \[INFO\] Listening at", text).group(1))


# --- 3. PostgreSQL unreachable for about 20 s --------------------------------------------------


def test_database_outage_fails_the_email_task_then_the_sweep_sends_it_and_the_site_says_503(
    gateway_url, tmp_path, settings
):
    """The worker and a gunicorn reach PostgreSQL through the forwarder, which is cut for 20 s.
    A confirmation made meanwhile (by a process that still reaches the database) queues its
    email; the worker's task fails on the database. The site answers 503 with Retry-After, not
    500. Once the database is back the sweep sends the email, once."""
    forwarder = TcpForwarder(int(connection.settings_dict["PORT"] or 5432))
    forwarder.start()
    db = connection.settings_dict
    through = f"postgres://{db['USER']}@127.0.0.1:{forwarder.port}/{db['NAME']}"
    env = {"DATABASE_URL": through, "DB_POOL_TIMEOUT": "2"}
    worker = {
        **worker_env(gateway_url),
        **env,
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "CONFIRMATION_EMAIL_DEADLINE_SECONDS": "6",
        "CONFIRMATION_EMAIL_CLAIM_SECONDS": "2",
    }
    event = make_event()
    intent = hold(event)
    payment = services.ensure_order(intent=intent)
    httpx.post(f"{gateway_url}/_emulator/faults", json=NO_WEBHOOKS, timeout=5)
    answer = pay(gateway_url, payment.order_id)
    page = f"/checkout/{intent.id}/"  # reads the hold (the event page may come from the cache)

    def get(base: str) -> httpx.Response:
        return httpx.get(base + page, cookies=owner_cookies(), timeout=15)

    try:
        with (
            celery_worker(beat=True, tmp_path=tmp_path, **worker),
            web_server(tmp_path=tmp_path, workers=1, threads=4, RAZORPAY_API_URL=gateway_url, **env) as site,
        ):
            assert get(site).status_code == 200
            forwarder.stop()
            down_at = time.monotonic()
            booking = confirm_in_process(intent, answer)
            log = tmp_path / "celery.log"
            wait_for(
                lambda: re.search(
                    r"send_booking_confirmation\[.*\] raised unexpected: (Operational|PoolTimeout)", log.read_text()
                ),
                timeout=20,
                what="the email task failing on the database",
            )
            started = time.monotonic()
            response = get(site)
            took = time.monotonic() - started
            assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0, response.status_code
            assert took < 5, f"the 503 took {took:.1f} s"
            time.sleep(max(0.0, 20 - (time.monotonic() - down_at)))
            assert not mails(tmp_path / "mail")

            forwarder.start()
            wait_for(lambda: mails(tmp_path / "mail"), timeout=40, what="the confirmation email after the outage")
            # Confirmed now: the checkout sends its owner to the ticket.
            wait_for(lambda: get(site).status_code == 302, timeout=20, what="the site")
            time.sleep(3)  # room for a (wrong) second email: two more sweeps
            sent = mails(tmp_path / "mail")
            assert len(sent) == 1 and booking.reference in sent[0]["Subject"]
            audit_clean(site)
    finally:
        forwarder.stop()


# --- 4. The emulator killed (not hung) during checkout -----------------------------------------


def test_gateway_process_killed_during_checkout_answers_503_fast_then_the_buyer_pays(emulator_for, tmp_path, settings):
    gateway = emulator_for()
    settings.RAZORPAY_API_URL = gateway.url
    event = make_event()
    intent = hold(event)
    signal_tree(gateway.proc, signal.SIGKILL)
    gateway.proc.wait(5)

    buyer_browser = browser("browser-1")
    started = time.monotonic()
    response = buyer_browser.get(f"/checkout/{intent.id}/")
    took = time.monotonic() - started
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert took < 2, f"checkout took {took:.1f} s with the gateway gone"
    assert TRY_AGAIN in response.content.decode() and 'http-equiv="refresh"' in response.content.decode()
    assert not Payment.objects.exists()

    gateway.start()  # the same port, its state kept in Redis
    page = wait_for(
        lambda: (r := buyer_browser.get(f"/checkout/{intent.id}/")).status_code == 200 and r,
        timeout=20,
        what="the checkout page with an order",
    )
    payment = Payment.objects.get(intent=intent)
    assert payment.order_id in page.content.decode()
    answer = pay(gateway.url, payment.order_id)
    with celery_worker(tmp_path=tmp_path, **worker_env(gateway.url), EMAIL_FILE_PATH=str(tmp_path / "mail")):
        verify = buyer_browser.post(VERIFY.format(intent.id), data=answer, HTTP_ACCEPT="application/json")
        assert verify.status_code == 200 and verify.json()["status"] == "confirmed"
        wait_for(lambda: mails(tmp_path / "mail"), timeout=30, what="the confirmation email")
    assert len(mails(tmp_path / "mail")) == 1
    audit_clean()
