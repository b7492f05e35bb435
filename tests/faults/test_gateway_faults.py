"""A hung Razorpay (issue 17, part 4): the real emulator process, frozen with SIGSTOP, so the
kernel still accepts connections and nothing ever answers, exactly like a hung gateway. The
product reaches it through the official SDK, unmocked.

Each test's bound (6 s, 0.5 s, /healthz within the deadline) fails on the code before the fix,
where one call took about 31 s (a 10 s read timeout, three attempts, inside the request)."""

import signal
import threading
import time

import httpx
import pytest
from django.core.management import call_command

from apps.booking import services as booking_services
from apps.booking.models import BookingIntent
from apps.payments import circuit, orders
from apps.payments.models import Payment
from apps.waitingroom import tokens
from devstack.emulator import Emulator
from devstack.processes import signal_tree
from tests.conftest import EMULATOR_REDIS
from tests.factories import browser, buyer, make_event
from tests.processes import celery_worker, product_env, wait_for, web_server

pytestmark = pytest.mark.django_db(transaction=True)

TRY_AGAIN = "tries again in a moment"
PAUSED = "Payments are briefly unavailable"


class Gateway:
    """An emulator of this test's own, which the test can freeze and thaw."""

    def __init__(self, process: Emulator):
        self.process = process
        self.url = process.url
        self.frozen: list[int] = []

    def hang(self) -> None:
        assert self.process.proc is not None
        self.frozen = signal_tree(self.process.proc, signal.SIGSTOP)

    def resume(self) -> None:
        if self.frozen:
            signal_tree(self.frozen[0], signal.SIGCONT)
        self.frozen = []


@pytest.fixture
def gateway(settings, tmp_path):
    env = product_env(REDIS_URL=EMULATOR_REDIS)
    process = Emulator(env, tmp_path / "emulator.log", args=["--backoff-base", "0.2"]).start()
    hung = Gateway(process)
    settings.RAZORPAY_API_URL = process.url
    try:
        yield hung
    finally:
        hung.resume()
        process.stop()


def hold(event, n: int, label: str) -> BookingIntent:
    return booking_services.hold_seats(event=event, seat_labels=[label], owner=f"browser-{n}", **buyer(n)).intent


def timed_get(client, url: str):
    started = time.monotonic()
    response = client.get(url)
    return response, time.monotonic() - started


def audit_clean() -> None:
    call_command("audit_bookings")  # exits 1 on any violation


def test_checkout_with_a_hung_gateway_answers_within_the_deadline_and_the_worker_makes_the_order(gateway, tmp_path):
    event = make_event()
    intent = hold(event, 1, "A-1")
    gateway.hang()
    response, took = timed_get(browser("browser-1"), f"/checkout/{intent.id}/")
    assert took < 6.5, f"checkout took {took:.1f} s with the gateway hung"
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    body = response.content.decode()
    assert TRY_AGAIN in body and 'http-equiv="refresh"' in body
    assert BookingIntent.objects.get(pk=intent.id).status == BookingIntent.Status.HELD
    assert not Payment.objects.exists()

    # A reload while the worker is on it does not tie up another thread on Razorpay.
    again, took = timed_get(browser("browser-1"), f"/checkout/{intent.id}/")
    assert took < 0.5 and again.status_code == 503 and TRY_AGAIN in again.content.decode()

    # The gateway comes back: the queued task, in a real worker, makes the one order.
    gateway.resume()
    with celery_worker(tmp_path=tmp_path, RAZORPAY_API_URL=gateway.url):
        wait_for(lambda: Payment.objects.filter(intent=intent).exists(), timeout=30, what="the background order")
    payment = Payment.objects.get(intent=intent)
    page = browser("browser-1").get(f"/checkout/{intent.id}/")
    assert page.status_code == 200 and payment.order_id in page.content.decode()
    assert Payment.objects.count() == 1
    audit_clean()


def test_breaker_opens_after_repeated_failures_and_then_answers_at_once(gateway, settings):
    settings.RAZORPAY_BREAKER_FAILURES = 2
    settings.RAZORPAY_BREAKER_OPEN_SECONDS = 3
    event = make_event()
    intents = [hold(event, n, f"A-{n}") for n in range(1, 4)]
    gateway.hang()
    for n, intent in enumerate(intents[:2], start=1):
        response, took = timed_get(browser(f"browser-{n}"), f"/checkout/{intent.id}/")
        assert response.status_code == 503 and took < 6.5
    assert circuit.is_open()

    response, took = timed_get(browser("browser-3"), f"/checkout/{intents[2].id}/")
    assert took < 0.5, f"an open circuit still waited {took:.2f} s"  # a call to the frozen gateway takes 5 s
    assert response.status_code == 503 and int(response["Retry-After"]) >= 1
    assert PAUSED in response.content.decode()

    # The gateway recovers; once the circuit's time is up one probe closes it.
    gateway.resume()
    time.sleep(settings.RAZORPAY_BREAKER_OPEN_SECONDS + 0.2)
    response = browser("browser-3").get(f"/checkout/{intents[2].id}/")
    assert response.status_code == 200 and Payment.objects.filter(intent=intents[2]).exists()
    assert not circuit.is_open()
    audit_clean()


def test_breaker_steps_aside_when_redis_is_down(gateway, settings):
    """Redis is no hard dependency of payments: the breaker unreachable, calls go through."""
    event = make_event()
    intent = hold(event, 1, "A-1")
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}  # nothing listens
    }
    assert circuit.enter() == circuit.Pass()
    assert orders.order_for_checkout(intent=intent).order_id.startswith("order_")


def test_healthz_stays_fast_while_buyers_are_stuck_on_a_hung_gateway(gateway, tmp_path):
    """Twelve buyers at once against one gunicorn worker of four threads: before the fix every
    thread was held about 31 s and /healthz waited behind them."""
    event = make_event()
    intents = [hold(event, n, f"{'BC'[(n - 1) // 10]}-{(n - 1) % 10 + 1}") for n in range(1, 13)]
    with web_server(
        tmp_path=tmp_path, workers=1, threads=4, RAZORPAY_API_URL=gateway.url, RAZORPAY_BREAKER_FAILURES="3"
    ) as site:
        assert httpx.get(f"{site}/healthz", timeout=5).status_code == 200
        gateway.hang()
        buyers: dict[int, tuple[int, float]] = {}
        probes: list[float] = []
        done = threading.Event()

        def buy(n: int, intent: BookingIntent) -> None:
            cookies = {tokens.VISITOR_COOKIE: tokens.visitor_cookie_value(f"browser-{n}")}
            started = time.monotonic()
            try:
                status = httpx.get(f"{site}/checkout/{intent.id}/", cookies=cookies, timeout=40).status_code
            except httpx.TimeoutException:
                status = 0
            buyers[n] = (status, time.monotonic() - started)

        def probe() -> None:
            while not done.is_set():
                started = time.monotonic()
                try:
                    httpx.get(f"{site}/healthz", timeout=15).raise_for_status()
                    probes.append(time.monotonic() - started)
                except httpx.TimeoutException:
                    probes.append(15.0)
                done.wait(0.25)

        threads = [threading.Thread(target=buy, args=(n, i)) for n, i in enumerate(intents, start=1)]
        prober = threading.Thread(target=probe)
        for thread in threads:
            thread.start()
        time.sleep(0.2)  # the buyers first: they take every web thread
        prober.start()
        for thread in threads:
            thread.join(60)
        time.sleep(1)  # the circuit is open now: /healthz is answered at once
        done.set()
        prober.join(20)
    assert max(probes) < 6.5, f"/healthz waited {max(probes):.1f} s (probes: {probes})"
    assert min(probes[-3:]) < 0.5, probes
    assert len(buyers) == 12
    assert all(status == 503 and took < 12 for status, took in buyers.values()), buyers
    assert circuit.is_open()
    assert BookingIntent.objects.filter(status=BookingIntent.Status.HELD).count() == 12
    audit_clean()
