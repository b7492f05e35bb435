"""Payments tests run the real thing: the emulator as a separate process reached through the
official SDK (the `emulator` and `gateway_url` fixtures of tests/conftest.py), the site on a
live server receiving the emulator's webhooks, Celery workers as real processes."""

import hashlib
import hmac
import json
import time
import uuid

from django.conf import settings

from devstack.emulator import pay as emulator_pay


def worker_env(emulator: str) -> dict[str, str]:
    return {
        "RAZORPAY_API_URL": emulator,
        "RECONCILE_AFTER_SECONDS": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    }


def pay(emulator: str, order_id: str, outcome: str = "success", **extra) -> dict:
    """What the Checkout modal would do when the buyer pays (the emulator's scripted path)."""
    return emulator_pay(emulator, order_id, outcome, **extra).json()


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
