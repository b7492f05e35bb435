"""Payments tests run the real thing: the emulator as a separate process reached through the
official SDK, the site on a live server receiving the emulator's webhooks, Celery workers as
real processes."""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from django.conf import settings

from tests.processes import ROOT, product_env

EMULATOR_REDIS = os.environ.get("TEST_EMULATOR_REDIS_URL", "redis://127.0.0.1:6379/11")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def emulator(live_server, tmp_path_factory):
    """The Razorpay emulator on a free port, delivering webhooks to the live server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("emulator") / "emulator.log", "w")  # noqa: SIM115
    env = product_env(
        REDIS_URL=EMULATOR_REDIS,
        RAZORPAY_EMULATOR_ENABLED="true",
        RAZORPAY_EMULATOR_WEBHOOK_URL=f"{live_server.url}/payments/razorpay/webhook/",
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "razorpay_emulator", "--port", str(port), "--backoff-base", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/v1/orders/order_none", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"emulator did not start; see {log.name}") from None
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture
def gateway_url(emulator, settings):
    """Point the app (this process: live server and direct service calls) at the emulator."""
    settings.RAZORPAY_API_URL = emulator
    settings.RAZORPAY_CHECKOUT_JS = f"{emulator}/v1/checkout.js"
    # A clean emulator per test: no fault switches, no deliveries left over from another test.
    httpx.post(f"{emulator}/_emulator/reset", timeout=5)
    httpx.post(f"{emulator}/_emulator/faults", json={"reset": True}, timeout=5)
    return emulator


def worker_env(emulator: str) -> dict[str, str]:
    return {
        "RAZORPAY_API_URL": emulator,
        "RECONCILE_AFTER_SECONDS": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    }


def pay(emulator: str, order_id: str, outcome: str = "success", **extra) -> dict:
    """What the Checkout modal would do when the buyer pays (the emulator's scripted path)."""
    response = httpx.post(f"{emulator}/_emulator/orders/{order_id}/pay", json={"outcome": outcome, **extra}, timeout=10)
    return response.json()


def signed_webhook(event: str, *, payment: dict | None = None, order: dict | None = None, refund: dict | None = None):
    """A webhook exactly as Razorpay signs it (HMAC-SHA256 of the raw body with the webhook secret)."""
    contains, payload = [], {}
    for name, entity in (("payment", payment), ("order", order), ("refund", refund)):
        if entity is not None:
            contains.append(name)
            payload[name] = {"entity": entity}
    body = json.dumps(
        {
            "entity": "event",
            "account_id": "acc_test",
            "event": event,
            "contains": contains,
            "payload": payload,
            "created_at": int(time.time()),
        }
    ).encode()
    signature = hmac.new(settings.RAZORPAY_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": signature,
        "X-Razorpay-Event-Id": f"evt_{uuid.uuid4().hex[:14]}",
    }
    return body, headers
