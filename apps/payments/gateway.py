"""The only door to Razorpay: the official SDK, with a timeout on every call and its retries on.

Razorpay's own servers in production; the project's emulator in development and tests
(RAZORPAY_API_URL). Errors become two kinds the services understand (apps.payments.errors)."""

import threading

import razorpay
import requests
from django.conf import settings
from razorpay.errors import BadRequestError, ServerError, SignatureVerificationError
from razorpay.errors import GatewayError as RazorpayGatewayError

from apps.payments.errors import GatewayRejected, GatewayUnavailable

TIMEOUT = (3.05, 10)  # connect, read


_local = threading.local()


def client() -> razorpay.Client:
    """One SDK client per thread (requests sessions are not shared across threads)."""
    key = (settings.RAZORPAY_API_URL, settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET)
    cached = getattr(_local, "client", None)
    if cached is None or _local.key != key:
        cached = razorpay.Client(
            auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET),
            base_url=settings.RAZORPAY_API_URL,
            max_retries=settings.RAZORPAY_MAX_ATTEMPTS,
            initial_delay=settings.RAZORPAY_RETRY_DELAY,
            max_delay=4,
        )
        cached.enable_retry(True)
        cached.set_app_details({"title": "surge", "version": "1"})
        _local.client, _local.key = cached, key
    return cached


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, timeout=TIMEOUT, **kwargs)
    except BadRequestError as error:
        raise GatewayRejected(str(error)) from error
    except (RazorpayGatewayError, ServerError, requests.RequestException, ValueError) as error:
        raise GatewayUnavailable(str(error) or type(error).__name__) from error


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
