"""A real emulator process and a real webhook receiver, shared by the emulator tests.

The emulator runs as `manage.py razorpay_emulator` on a free port with short retry timings; the root
conftest flushes its Redis database before every test, so each test starts from an empty emulator.
"""

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import razorpay
import requests
from django.conf import settings

from devstack.emulator import Emulator, pay
from devstack.ports import free_port
from devstack.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"


class Receiver:
    """A webhook endpoint that records every request and can fail or stall the first attempts of each event."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.fail_first = 0
        self.stall_first = 0.0
        self.seen: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                event_id = self.headers.get("X-Razorpay-Event-Id", "")
                with receiver.lock:
                    receiver.seen[event_id] = receiver.seen.get(event_id, 0) + 1
                    attempt = receiver.seen[event_id]
                    status = 500 if attempt <= receiver.fail_first else 200
                    stall = receiver.stall_first if attempt == 1 else 0.0
                    receiver.requests.append(
                        {
                            "at": time.time(),
                            "event_id": event_id,
                            "signature": self.headers.get("X-Razorpay-Signature"),
                            "content_type": self.headers.get("Content-Type"),
                            "body": body,
                            "json": json.loads(body),
                            "status": status,
                            "attempt": attempt,
                        }
                    )
                if stall:
                    time.sleep(stall)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/payments/razorpay/webhook/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.seen.clear()
            self.fail_first = 0
            self.stall_first = 0.0

    def for_order(self, order_id: str) -> list[dict[str, Any]]:
        """Requests about one order, in arrival order (tests share the receiver)."""
        with self.lock:
            return [r for r in self.requests if _order_id(r["json"]) == order_id]

    def wait_for(self, order_id: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return wait_for(
            lambda: (lambda got: got if len(got) >= count else None)(self.for_order(order_id)),
            timeout=timeout,
            interval=0.05,
            what=f"{count} webhooks about {order_id}",
        )


def _order_id(envelope: dict[str, Any]) -> str | None:
    payload = envelope.get("payload", {})
    if "order" in payload:
        return payload["order"]["entity"]["id"]
    return payload.get("payment", {}).get("entity", {}).get("order_id")


class EmulatorProcess(Emulator):
    """`manage.py razorpay_emulator` as a subprocess with short retry timings, restartable on the
    same port, sharing the tests' Redis database."""

    def __init__(self, webhook_url: str) -> None:
        OUTPUT.mkdir(exist_ok=True)
        args = ["--webhook-url", webhook_url, "--webhook-timeout", "1", "--backoff-base", "0.2"]
        args += ["--backoff-max", "1.6", "--late-delay", "1", "--event-gap", "0.1", "--threads", "16"]
        super().__init__(
            {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}, OUTPUT / "emulator.log", args=args
        )

    # --- control API --------------------------------------------------------------------
    def pay(self, order_id: str, outcome: str = "success", **body: Any) -> httpx.Response:
        return pay(self.url, order_id, outcome, **body)

    def faults(self, **switches: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/_emulator/faults", json=switches, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def deliveries(self, **params: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_emulator/deliveries", params=params, timeout=10).json()["items"]


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="session")
def emulator(receiver: Receiver) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(receiver.url)
    process.start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _fresh_receiver(receiver: Receiver) -> None:
    receiver.reset()


@pytest.fixture
def client(emulator: EmulatorProcess) -> razorpay.Client:
    """The official SDK, pointed at the emulator exactly as the app points it (base_url)."""
    return razorpay.Client(auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET), base_url=emulator.url)


@pytest.fixture
def order(client: razorpay.Client) -> dict[str, Any]:
    return client.order.create({"amount": 50000, "currency": "INR", "receipt": "booking-1"}, timeout=10)
