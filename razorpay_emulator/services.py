"""What Razorpay does to orders, payments and refunds: validation, state changes, and the events they raise.

Every write validates first, then changes state under the order's lock, then hands the resulting events
(snapshots taken at each transition, as Razorpay's payloads are) to the webhook queue after the lock is
released.
"""

import copy
import hashlib
import hmac
import json
import re
import time
from typing import Any

from .config import EmulatorConfig
from .errors import ApiError, not_found, validation_error
from .store import Store, new_id, now
from .webhooks import Event, Webhooks

CURRENCIES = frozenset({"INR", "USD", "EUR", "GBP", "SGD", "AED", "AUD", "CAD", "JPY", "MYR"})
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{10,}$")

# Failure reasons a test or the load generator can ask for, as Razorpay reports them.
FAILURES: dict[str, dict[str, str]] = {
    "payment_cancelled": {
        "code": "BAD_REQUEST_ERROR",
        "description": "Payment processing cancelled by user",
        "source": "customer",
        "step": "payment_authentication",
    },
    "card_declined": {
        "code": "BAD_REQUEST_ERROR",
        "description": "Your payment has been declined by your bank.",
        "source": "bank",
        "step": "payment_authorization",
    },
    "insufficient_funds": {
        "code": "BAD_REQUEST_ERROR",
        "description": "Payment failed because of insufficient balance.",
        "source": "customer",
        "step": "payment_authorization",
    },
    "payment_timed_out": {
        "code": "BAD_REQUEST_ERROR",
        "description": "Payment was not completed on time.",
        "source": "customer",
        "step": "payment_authentication",
    },
    "gateway_technical_error": {
        "code": "GATEWAY_ERROR",
        "description": "Payment failed due to a technical error at the bank.",
        "source": "gateway",
        "step": "payment_authorization",
    },
}


def payment_signature(*, key_secret: str, order_id: str, payment_id: str) -> str:
    """Checkout's signature: hex HMAC-SHA256 of `order_id|payment_id` keyed with the API secret."""
    return hmac.new(key_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


def _check_fields(data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise validation_error(f"{', '.join(extra)} is/are not required and should not be sent", extra[0])


def _int_field(data: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise validation_error(f"The {name} field is required.", name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise validation_error(f"The {name} must be an integer.", name)
    if isinstance(value, str):
        if not value.isdigit():
            raise validation_error(f"The {name} must be an integer.", name)
        value = int(value)
    return value


def _check_amount(amount: int, currency: str = "INR") -> None:
    if amount < 100:
        raise validation_error(f"The amount must be at least {currency} 1.00", "amount")


def _check_notes(notes: Any) -> dict[str, str] | list[Any]:
    if notes in (None, [], {}):
        return []
    if not isinstance(notes, dict):
        raise validation_error("The notes must be an array.", "notes")
    if len(notes) > 15:
        raise validation_error("The notes may not have more than 15 items.", "notes")
    for k, v in notes.items():
        if isinstance(v, dict | list) or len(str(v)) > 256:
            raise validation_error(f"The notes.{k} may not be greater than 256 characters.", "notes")
    return {str(k): v for k, v in notes.items()}


def _snapshot(entity: dict[str, Any]) -> dict[str, Any]:
    """Webhook payloads are the entity as it was when the event happened."""
    return copy.deepcopy(_public(entity))


class Emulator:
    """The emulated account: one API key pair, one webhook endpoint, state in Redis."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = Store(config.redis_url, config.prefix)
        self.webhooks = Webhooks(config, self.store)

    # --- orders -----------------------------------------------------------
    def create_order(self, data: dict[str, Any]) -> dict[str, Any]:
        _check_fields(
            data,
            {"amount", "currency", "receipt", "notes", "partial_payment", "payment", "payment_capture", "method"},
        )
        amount = _int_field(data, "amount", required=True)
        currency = data.get("currency")
        if currency is None:
            raise validation_error("The currency field is required.", "currency")
        if not isinstance(currency, str) or currency not in CURRENCIES:
            raise validation_error("Currency is not supported", "currency")
        assert amount is not None
        _check_amount(amount, currency)
        receipt = data.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise validation_error("The receipt may not be greater than 40 characters.", "receipt")
        notes = _check_notes(data.get("notes"))
        partial = data.get("partial_payment", False)
        if partial not in (True, False, 0, 1, "0", "1", "true", "false"):
            raise validation_error("The partial payment field must be true or false.", "partial_payment")
        capture = "automatic"
        payment_opts = data.get("payment")
        if payment_opts is not None:
            if not isinstance(payment_opts, dict) or payment_opts.get("capture") not in ("automatic", "manual"):
                raise validation_error("The payment.capture must be one of automatic, manual.", "payment.capture")
            capture = payment_opts["capture"]
        elif "payment_capture" in data:
            if data["payment_capture"] not in (0, 1, True, False, "0", "1"):
                raise validation_error("The payment capture must be 0 or 1.", "payment_capture")
            capture = "automatic" if data["payment_capture"] in (1, True, "1") else "manual"
        order = {
            "id": new_id("order_"),
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": notes,
            "created_at": now(),
        }
        pipe = self.store.r.pipeline(transaction=False)
        self.store.put(pipe, "order", {**order, "_capture": capture})
        pipe.zadd(self.store.key("orders"), {order["id"]: time.time()})
        pipe.execute()
        return order

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.store.get("order", order_id)
        if order is None:
            raise not_found()
        return order

    def get_order(self, order_id: str) -> dict[str, Any]:
        return _public(self._order(order_id))

    def list_orders(self, params: dict[str, str]) -> dict[str, Any]:
        count = min(max(_int_field(params, "count", required=False) or 10, 1), 100)
        skip = _int_field(params, "skip", required=False) or 0
        lo = _int_field(params, "from", required=False)
        hi = _int_field(params, "to", required=False)
        ids = self.store.r.zrevrangebyscore(
            self.store.key("orders"),
            hi if hi is not None else "+inf",
            lo if lo is not None else "-inf",
            start=skip,
            num=count if "receipt" not in params else 100_000,
        )
        orders = [_public(o) for o in self.store.get_many("order", ids)]
        if "receipt" in params:
            orders = [o for o in orders if o["receipt"] == params["receipt"]][:count]
        return {"entity": "collection", "count": len(orders), "items": orders}

    def order_payments(self, order_id: str) -> dict[str, Any]:
        self._order(order_id)
        ids = self.store.r.lrange(self.store.key("order", order_id, "payments"), 0, -1)
        payments = [_public(p) for p in self.store.get_many("payment", ids)]
        payments.reverse()  # newest first, as Razorpay lists them
        return {"entity": "collection", "count": len(payments), "items": payments}

    # --- paying (what the checkout modal does) ---------------------------------------
    def pay(self, order_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Make one payment attempt on an order, as a buyer in the modal would.

        Answers (200) the object checkout hands to `handler` on success, `{"error": ...}` (the object
        `payment.failed` listeners get) on failure, or `{"status": "pending", ...}` for a late payment.
        """
        outcome = body.get("outcome", "success")
        if outcome not in ("success", "failure", "late"):
            raise validation_error("outcome must be one of success, failure, late", "outcome")
        key_id = body.get("key_id")
        if key_id is not None and key_id != self.config.key_id:
            raise ApiError("The api key provided is invalid", status=401)
        reason = body.get("reason", "payment_cancelled")
        if reason not in FAILURES:
            raise validation_error(f"reason must be one of {', '.join(FAILURES)}", "reason")
        method = body.get("method") or "card"
        if method not in ("card", "netbanking", "wallet", "upi", "emi"):
            raise validation_error("Invalid payment method given", "method")
        delay = body.get("delay_seconds")
        if delay is None:
            delay = self.webhooks.faults()["late_delay"]
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
            raise validation_error("delay_seconds must be a number of seconds", "delay_seconds")
        capture_flag = body.get("capture")
        if capture_flag not in (None, True, False):
            raise validation_error("capture must be true or false", "capture")

        events: list[Event] = []
        with self.store.locked(order_id):
            order = self._order(order_id)
            if order["status"] == "paid":
                raise ApiError("Order has already been paid", source="business", reason="order_already_paid")
            auto_capture = order.get("_capture", "automatic") == "automatic" if capture_flag is None else capture_flag
            payment = self._new_payment(order, body, method)
            order["attempts"] += 1
            order["status"] = "attempted"
            if outcome == "success":
                self._authorize(payment, events)
                if auto_capture:
                    self._capture(order, payment, events)
            elif outcome == "failure":
                failure = FAILURES[reason]
                payment.update(
                    status="failed",
                    error_code=failure["code"],
                    error_description=failure["description"],
                    error_source=failure["source"],
                    error_step=failure["step"],
                    error_reason=reason,
                )
                events.append(Event("payment.failed", {"payment": _snapshot(payment)}))
            else:
                payment["_auto_capture"] = auto_capture
            pipe = self.store.r.pipeline()
            self.store.put(pipe, "payment", payment)
            self.store.put(pipe, "order", order)
            pipe.rpush(self.store.key("order", order_id, "payments"), payment["id"])
            if outcome == "late":
                pipe.zadd(self.store.key("late"), {payment["id"]: time.time() + delay})
            pipe.execute()
        self.webhooks.enqueue(events, order_id=order_id, payment_id=payment["id"])

        if outcome == "success":
            return 200, self._handler_response(order_id, payment["id"])
        if outcome == "failure":
            error = {k: payment[f"error_{k}"] for k in ("code", "description", "source", "step", "reason")}
            error["metadata"] = {"order_id": order_id, "payment_id": payment["id"]}
            return 200, {"error": error}
        return 200, {"status": "pending", "razorpay_payment_id": payment["id"], "razorpay_order_id": order_id}

    def _handler_response(self, order_id: str, payment_id: str) -> dict[str, str]:
        return {
            "razorpay_payment_id": payment_id,
            "razorpay_order_id": order_id,
            "razorpay_signature": payment_signature(
                key_secret=self.config.key_secret, order_id=order_id, payment_id=payment_id
            ),
        }

    def _new_payment(self, order: dict[str, Any], body: dict[str, Any], method: str) -> dict[str, Any]:
        notes = body.get("notes")
        return {
            "id": new_id("pay_"),
            "entity": "payment",
            "amount": order["amount"],
            "currency": order["currency"],
            "status": "created",
            "order_id": order["id"],
            "invoice_id": None,
            "international": False,
            "method": method,
            "amount_refunded": 0,
            "refund_status": None,
            "captured": False,
            "description": body.get("description"),
            "card_id": new_id("card_") if method in ("card", "emi") else None,
            "bank": "HDFC" if method == "netbanking" else None,
            "wallet": "paytm" if method == "wallet" else None,
            "vpa": "success@razorpay" if method == "upi" else None,
            "email": body.get("email") or "void@razorpay.com",
            "contact": body.get("contact") or "+919000090000",
            "notes": notes if isinstance(notes, dict) and notes else [],
            "fee": None,
            "tax": None,
            "error_code": None,
            "error_description": None,
            "error_source": None,
            "error_step": None,
            "error_reason": None,
            "acquirer_data": {"auth_code": None},
            "created_at": now(),
        }

    def _authorize(self, payment: dict[str, Any], events: list[Event]) -> None:
        payment["status"] = "authorized"
        payment["acquirer_data"] = {"auth_code": str(100000 + int.from_bytes(payment["id"][-3:].encode()) % 900000)}
        events.append(Event("payment.authorized", {"payment": _snapshot(payment)}))

    def _capture(self, order: dict[str, Any], payment: dict[str, Any], events: list[Event]) -> None:
        tax = round(payment["amount"] * 0.02 * 0.18)
        payment.update(status="captured", captured=True, fee=round(payment["amount"] * 0.02) + tax, tax=tax)
        events.append(Event("payment.captured", {"payment": _snapshot(payment)}))
        if order["status"] != "paid":
            order.update(status="paid", amount_paid=payment["amount"], amount_due=order["amount"] - payment["amount"])
            events.append(Event("order.paid", {"payment": _snapshot(payment), "order": _public(order)}))

    def complete_late_payment(self, payment_id: str) -> bool:
        """The bank finally says yes: authorize (and capture, unless the order is manual or already paid)."""
        payment = self.store.get("payment", payment_id)
        if payment is None:
            return False
        events: list[Event] = []
        with self.store.locked(payment["order_id"]):
            payment = self.store.get("payment", payment_id)
            order = self.store.get("order", payment["order_id"]) if payment else None
            if payment is None or order is None or payment["status"] != "created":
                return False
            auto_capture = payment.pop("_auto_capture", True)
            self._authorize(payment, events)
            # A second payment on an order that is already paid stays authorized (Razorpay refunds it later).
            if auto_capture and order["status"] != "paid":
                self._capture(order, payment, events)
            pipe = self.store.r.pipeline()
            self.store.put(pipe, "payment", payment)
            self.store.put(pipe, "order", order)
            pipe.execute()
        self.webhooks.enqueue(events, order_id=order["id"], payment_id=payment_id)
        return True

    # --- payments ---------------------------------------------------------
    def _payment(self, payment_id: str) -> dict[str, Any]:
        payment = self.store.get("payment", payment_id)
        if payment is None:
            raise not_found()
        return payment

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        return _public(self._payment(payment_id))

    def capture_payment(self, payment_id: str, data: dict[str, Any]) -> dict[str, Any]:
        _check_fields(data, {"amount", "currency"})
        amount = _int_field(data, "amount", required=True)
        order_id = self._payment(payment_id)["order_id"]
        events: list[Event] = []
        with self.store.locked(order_id):
            payment = self._payment(payment_id)
            order = self._order(order_id)
            if payment["status"] in ("captured", "refunded"):
                raise validation_error("This payment has already been captured")
            if payment["status"] != "authorized":
                raise validation_error("Only payments which have been authorized and not yet captured can be captured")
            if amount != payment["amount"]:
                raise validation_error("Capture amount must be equal to the amount authorized", "amount")
            if "currency" in data and data["currency"] != payment["currency"]:
                raise validation_error("The currency should be same as the payment currency", "currency")
            self._capture(order, payment, events)
            pipe = self.store.r.pipeline()
            self.store.put(pipe, "payment", payment)
            self.store.put(pipe, "order", order)
            pipe.execute()
        self.webhooks.enqueue(events, order_id=order_id, payment_id=payment_id)
        return _public(payment)

    # --- refunds ----------------------------------------------------------
    def refund_payment(self, payment_id: str, data: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        """Refund all or part of a captured payment; a repeated idempotency key returns the first refund."""
        _check_fields(data, {"amount", "speed", "notes", "receipt"})
        amount = _int_field(data, "amount", required=False)
        speed = data.get("speed", "normal")
        if speed not in ("normal", "optimum"):
            raise validation_error("The selected speed is invalid.", "speed")
        notes = _check_notes(data.get("notes"))
        receipt = data.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise validation_error("The receipt may not be greater than 40 characters.", "receipt")
        order_id = self._payment(payment_id)["order_id"]
        faults = self.webhooks.faults()
        call = self.store.r.incr(self.store.key("refund_calls"))
        if faults["refund_drop_every"] and call % faults["refund_drop_every"] == 0:
            raise ApiError("Refund dropped by the refund_drop_every fault", status=502, code="SERVER_ERROR")

        idem_key = None
        if idempotency_key is not None:
            if not _IDEMPOTENCY_KEY.match(idempotency_key):
                raise validation_error("The X-Refund-Idempotency header is invalid.", "X-Refund-Idempotency")
            idem_key = self.store.key("idem", idempotency_key)
            fingerprint = hashlib.sha256(json.dumps([payment_id, data], sort_keys=True).encode()).hexdigest()
            if not self.store.r.set(idem_key, json.dumps({"fp": fingerprint, "refund_id": None}), nx=True, ex=86400):
                seen = json.loads(self.store.r.get(idem_key) or "{}")
                if seen.get("fp") != fingerprint:
                    raise validation_error(
                        "Different request body sent for the same idempotency key", "X-Refund-Idempotency"
                    )
                if seen.get("refund_id") is None:
                    raise ApiError("A request with the same idempotency key is still being processed", status=409)
                return _public(self.store.get("refund", seen["refund_id"]) or {})

        events: list[Event] = []
        try:
            with self.store.locked(order_id):
                payment = self._payment(payment_id)
                if payment["status"] == "refunded":
                    raise validation_error("The payment has been fully refunded already")
                if payment["status"] != "captured":
                    raise validation_error("Only captured payments can be refunded")
                remaining = payment["amount"] - payment["amount_refunded"]
                amount = remaining if amount is None else amount
                _check_amount(amount, payment["currency"])
                if amount > remaining:
                    raise validation_error("The refund amount provided is greater than amount captured", "amount")
                refund = {
                    "id": new_id("rfnd_"),
                    "entity": "refund",
                    "amount": amount,
                    "currency": payment["currency"],
                    "payment_id": payment_id,
                    "notes": notes,
                    "receipt": receipt,
                    "acquirer_data": {"arn": None},
                    "created_at": now(),
                    "batch_id": None,
                    "status": "pending",
                    "speed_processed": "normal",
                    "speed_requested": speed,
                }
                payment["amount_refunded"] += amount
                payment["refund_status"] = "full" if payment["amount_refunded"] == payment["amount"] else "partial"
                if payment["refund_status"] == "full":
                    payment["status"] = "refunded"
                events.append(Event("refund.created", {"refund": _snapshot(refund), "payment": _public(payment)}))
                refund["status"] = "processed"
                refund["acquirer_data"] = {"arn": f"ARN{int(time.time() * 1000)}"}
                events.append(Event("refund.processed", {"refund": _snapshot(refund), "payment": _public(payment)}))
                pipe = self.store.r.pipeline()
                self.store.put(pipe, "payment", payment)
                self.store.put(pipe, "refund", refund)
                pipe.rpush(self.store.key("payment", payment_id, "refunds"), refund["id"])
                if idem_key:
                    pipe.set(idem_key, json.dumps({"fp": fingerprint, "refund_id": refund["id"]}), ex=86400)
                pipe.execute()
        except Exception:
            if idem_key:
                self.store.r.delete(idem_key)
            raise
        self.webhooks.enqueue(events, order_id=order_id, payment_id=payment_id)
        if faults["refund_lose_every"] and call % faults["refund_lose_every"] == 0:
            raise ApiError("Refund made, answer lost by the refund_lose_every fault", status=504, code="SERVER_ERROR")
        return refund

    def get_refund(self, refund_id: str) -> dict[str, Any]:
        refund = self.store.get("refund", refund_id)
        if refund is None:
            raise not_found()
        return refund

    def payment_refunds(self, payment_id: str) -> dict[str, Any]:
        self._payment(payment_id)
        ids = self.store.r.lrange(self.store.key("payment", payment_id, "refunds"), 0, -1)
        refunds = self.store.get_many("refund", ids)
        refunds.reverse()
        return {"entity": "collection", "count": len(refunds), "items": refunds}


def _public(entity: dict[str, Any]) -> dict[str, Any]:
    """Drop the emulator's own bookkeeping fields (leading underscore) from an entity."""
    return {k: v for k, v in entity.items() if not k.startswith("_")}
