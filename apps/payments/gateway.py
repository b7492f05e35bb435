"""The only door to Razorpay: the official SDK, behind a deadline and a circuit breaker.

Razorpay's own servers in production; the project's emulator in development and tests
(RAZORPAY_API_URL). Errors become two kinds the services understand (apps.payments.errors).

A call made inside a web request gets a short total deadline (RAZORPAY_REQUEST_DEADLINE, retries
included) and at most one retry, so a hung Razorpay frees the web thread within seconds; a call
made by a Celery task (`worker_budget`, set for every task) is more patient and Celery retries it.
Every call goes through the shared circuit breaker (apps.payments.circuit)."""

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import razorpay
import requests
from django.conf import settings
from razorpay.errors import BadRequestError, ServerError, SignatureVerificationError
from razorpay.errors import GatewayError as RazorpayGatewayError

from apps.payments import circuit
from apps.payments.errors import GatewayRejected, GatewaySlow, GatewayUnavailable


@dataclass(frozen=True)
class Budget:
    """How long one call may take: per attempt (connect, read), how many attempts, and a total
    deadline in seconds (None: the attempts alone bound it)."""

    timeout: tuple[float, float]
    attempts: int
    deadline: float | None


def request_budget() -> Budget:
    return Budget(
        settings.RAZORPAY_REQUEST_TIMEOUT, settings.RAZORPAY_REQUEST_ATTEMPTS, settings.RAZORPAY_REQUEST_DEADLINE
    )


def worker_budget() -> Budget:
    return Budget(settings.RAZORPAY_WORKER_TIMEOUT, settings.RAZORPAY_MAX_ATTEMPTS, None)


# None: the request budget, the safe default for any code that does not say otherwise.
_budget: ContextVar[Budget | None] = ContextVar("razorpay_budget", default=None)


def use_budget(budget: Budget | None) -> None:
    """The budget of the calls this thread makes from now on (Celery tasks: `worker_budget()`)."""
    _budget.set(budget)


_local = threading.local()


def client() -> razorpay.Client:
    """One SDK client per thread (requests sessions are not shared across threads). The SDK's
    own retries are off: `_call` retries within the budget."""
    key = (settings.RAZORPAY_API_URL, settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET)
    cached = getattr(_local, "client", None)
    if cached is None or _local.key != key:
        cached = razorpay.Client(
            auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET), base_url=settings.RAZORPAY_API_URL
        )
        cached.enable_retry(False)
        cached.set_app_details({"title": "surge", "version": "1"})
        _local.client, _local.key = cached, key
    return cached


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    passed = circuit.enter()  # raises PaymentsPaused while the circuit is open
    try:
        result = _attempts(_budget.get() or request_budget(), fn, *args, **kwargs)
    except GatewayUnavailable:
        circuit.failed(passed)
        raise
    except GatewayRejected:
        circuit.succeeded(passed)  # Razorpay answered, if only to refuse
        raise
    circuit.succeeded(passed)
    return result


def _attempts(budget: Budget, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Connection errors and timeouts are tried again while the budget lasts (as the SDK would:
    a duplicate order is never paid, a capture or refund is idempotent); Razorpay's own errors are not."""
    started = time.monotonic()
    delay = settings.RAZORPAY_RETRY_DELAY
    last: requests.RequestException | None = None
    for attempt in range(budget.attempts):
        connect, read = budget.timeout
        if budget.deadline is not None:
            left = budget.deadline - (time.monotonic() - started)
            if left < 0.1:
                break
            connect, read = min(connect, left), min(read, left)
        try:
            return fn(*args, timeout=(connect, read), **kwargs)
        except BadRequestError as error:
            raise GatewayRejected(str(error)) from error
        except (requests.ConnectionError, requests.Timeout) as error:
            last = error
        except (RazorpayGatewayError, ServerError, requests.RequestException, ValueError) as error:
            raise GatewayUnavailable(str(error) or type(error).__name__) from error
        if attempt + 1 < budget.attempts:
            pause = delay * 2**attempt
            if budget.deadline is not None:
                pause = min(pause, max(0.0, budget.deadline - (time.monotonic() - started) - 0.1))
            time.sleep(pause)
    reason = f"{type(last).__name__}: {last}" if last is not None else "deadline spent"
    if last is None or isinstance(last, requests.Timeout):
        raise GatewaySlow(f"no answer in {time.monotonic() - started:.1f} s ({reason})") from last
    raise GatewayUnavailable(reason) from last


def create_order(*, amount_paise: int, currency: str, receipt: str, notes: dict) -> dict:
    data = {"amount": amount_paise, "currency": currency, "receipt": receipt[:40], "notes": notes}
    return _call(client().order.create, data)


def order_payments(order_id: str) -> list[dict]:
    return _call(client().order.payments, order_id).get("items", [])


def fetch_payment(payment_id: str) -> dict:
    return _call(client().payment.fetch, payment_id)


def capture(payment_id: str, amount_paise: int, currency: str) -> dict:
    return _call(client().payment.capture, payment_id, amount_paise, {"currency": currency})


def refund(payment_id: str, amount_paise: int, idempotency_key: str, notes: dict) -> dict:
    return _call(
        client().payment.refund,
        payment_id,
        {"amount": amount_paise, "notes": notes},
        headers={"X-Refund-Idempotency": idempotency_key},
    )


def payment_signature_valid(*, order_id: str, payment_id: str, signature: str) -> bool:
    try:
        return bool(
            client().utility.verify_payment_signature(
                {"razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}
            )
        )
    except SignatureVerificationError:
        return False


def webhook_signature_valid(*, body: str, signature: str) -> bool:
    """Constant-time check (the SDK uses hmac.compare_digest) of the raw body's HMAC."""
    try:
        return bool(client().utility.verify_webhook_signature(body, signature, settings.RAZORPAY_WEBHOOK_SECRET))
    except SignatureVerificationError:
        return False
