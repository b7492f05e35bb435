import os

import httpx
import pytest
from django.conf import settings
from django_redis import get_redis_connection

from apps.booking.selectors import forget_event
from devstack.emulator import Emulator
from tests.factories import make_event
from tests.processes import product_env


@pytest.fixture(autouse=True)
def clean_redis():
    """Every test starts with an empty Redis database of its own (never the dev one)."""
    assert settings.REDIS_URL.rstrip("/").rsplit("/", 1)[-1] not in ("", "0"), "tests must not use Redis db 0"
    get_redis_connection("default").flushdb()
    forget_event()  # and the process's memo of events, whose rows the last test rolled back
    yield


@pytest.fixture
def event(db):
    return make_event()


@pytest.fixture
def hold_variant(monkeypatch):
    """hold_variant(name, edits): make hold_seats run a copy of booking_hold_seats() with a guard
    taken out or a pause put in (tests/concurrency/hold_variants.py), for the rest of the test."""
    from apps.booking import services
    from tests.concurrency import hold_variants

    made = []

    def install(name: str, edits: list[tuple[str, str, int]]) -> str:
        function = hold_variants.install(name, edits)
        made.append(function)
        monkeypatch.setattr(services, "HOLD_FUNCTION", function)
        return function

    yield install
    for function in made:
        hold_variants.drop(function)


EMULATOR_REDIS = os.environ.get("TEST_EMULATOR_REDIS_URL", "redis://127.0.0.1:6379/11")


@pytest.fixture(scope="session")
def emulator(live_server, tmp_path_factory):
    """The Razorpay emulator on a free port, delivering webhooks to the live server."""
    env = product_env(
        REDIS_URL=EMULATOR_REDIS, RAZORPAY_EMULATOR_WEBHOOK_URL=f"{live_server.url}/payments/razorpay/webhook/"
    )
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with Emulator(env, log, args=["--backoff-base", "0.2"]) as process:
        yield process.url


@pytest.fixture
def gateway_url(emulator, settings):
    """Point the app (this process: live server and direct service calls) at the emulator."""
    settings.RAZORPAY_API_URL = emulator
    settings.RAZORPAY_CHECKOUT_JS = f"{emulator}/v1/checkout.js"
    # A clean emulator per test: no fault switches, no deliveries left over from another test.
    httpx.post(f"{emulator}/_emulator/reset", timeout=5)
    httpx.post(f"{emulator}/_emulator/faults", json={"reset": True}, timeout=5)
    yield emulator
    # And none outliving it: a webhook retried into a later test (one without database access, say)
    # fails there, and Django's test client re-raises any request's exception, whatever its thread.
    httpx.post(f"{emulator}/_emulator/reset", timeout=5)


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the whole run (Playwright allows one sync driver at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def emulator_for(tmp_path):
    """emulator_for(webhook_url=None): an emulator process of the test's own (its state in the
    emulator's Redis db, so it survives a restart on the same port)."""
    started: list[Emulator] = []

    def start(webhook_url: str | None = None) -> Emulator:
        args = ["--backoff-base", "0.2", "--backoff-max", "1"]
        if webhook_url:
            args += ["--webhook-url", webhook_url]
        process = Emulator(product_env(REDIS_URL=EMULATOR_REDIS), tmp_path / "emulator.log", args=args).start()
        httpx.post(f"{process.url}/_emulator/reset", timeout=5)
        httpx.post(f"{process.url}/_emulator/faults", json={"reset": True}, timeout=5)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc is not None and process.proc.poll() is None:
            httpx.post(f"{process.url}/_emulator/faults", json={"reset": True}, timeout=5)  # shared with others
        process.stop()
