"""Signed webhook deliveries, at least once, with retries and switchable faults.

Each event becomes one delivery record per copy (more than one under the `duplicate` fault) and a member
of a Redis sorted set scored by due time. Worker threads claim a due member with a lease (its score is
pushed past the delivery timeout), POST it, then either drop it (2xx) or push it back with exponential
backoff. A worker that dies mid-delivery leaves the lease to expire, so the delivery is attempted again:
duplicates are possible, losses are not, which is what Razorpay promises.
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .config import EmulatorConfig
from .errors import validation_error
from .store import Store, new_id, now

log = logging.getLogger("razorpay_emulator.webhooks")

CONTAINS = {
    "payment.authorized": ["payment"],
    "payment.captured": ["payment"],
    "payment.failed": ["payment"],
    "order.paid": ["payment", "order"],
    "refund.created": ["refund", "payment"],
    "refund.processed": ["refund", "payment"],
    "refund.failed": ["refund", "payment"],
}

# No proxy: deliveries go to a local app, whatever http_proxy says.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Event:
    """One webhook event: its name and the entities it carries, snapshotted when it happened."""

    name: str
    entities: dict[str, dict[str, Any]]


def webhook_signature(*, secret: str, body: str) -> str:
    """X-Razorpay-Signature: hex HMAC-SHA256 of the raw body, keyed with the webhook secret."""
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


class Webhooks:
    def __init__(self, config: EmulatorConfig, store: Store) -> None:
        self.config = config
        self.store = store

    # --- fault switches ---------------------------------------------------------
    def default_faults(self) -> dict[str, Any]:
        return {
            "duplicate": 1,
            "reverse": False,
            "delay": 0.0,
            "drop_first": 0,
            "late_delay": self.config.late_delay,
            # Refund calls (services.refund_payment), counted from when either is set: every Nth
            # answers 502 before refunding anything; every Nth refunds, then answers 504 (the answer
            # lost, as a timeout would). 0: off.
            "refund_drop_every": 0,
            "refund_lose_every": 0,
        }

    def faults(self) -> dict[str, Any]:
        raw = self.store.r.get(self.store.key("faults"))
        return {**self.default_faults(), **(json.loads(raw) if raw else {})}

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """Merge the given switches into the current ones; `{"reset": true}` first restores the defaults."""
        current = self.default_faults() if body.get("reset") else self.faults()
        for name, value in body.items():
            if name == "reset":
                continue
            if name not in current:
                raise validation_error(f"{name} is not a fault switch", name)
            if name == "reverse":
                if not isinstance(value, bool):
                    raise validation_error("reverse must be true or false", name)
            elif name in ("duplicate", "drop_first", "refund_drop_every", "refund_lose_every"):
                if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "duplicate" else 0):
                    raise validation_error(f"{name} must be a whole number", name)
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise validation_error(f"{name} must be a number of seconds", name)
            current[name] = value
        self.store.r.set(self.store.key("faults"), json.dumps(current))
        if body.get("reset") or {"refund_drop_every", "refund_lose_every"} & body.keys():
            self.store.r.delete(self.store.key("refund_calls"))  # "every Nth" counts from now
        return current

    # --- enqueueing -------------------------------------------------------------
    def enqueue(self, events: list[Event], *, order_id: str, payment_id: str) -> None:
        """Queue one outcome's events, in order (or reversed, delayed, duplicated, as the faults say)."""
        if not events or not self.config.webhook_url:
            return
        faults = self.faults()
        ordered = list(reversed(events)) if faults["reverse"] else events
        created = time.time()
        pipe = self.store.r.pipeline()
        for position, event in enumerate(ordered):
            event_id = new_id("evt_")
            envelope = {
                "entity": "event",
                "account_id": self.config.account_id,
                "event": event.name,
                "contains": CONTAINS[event.name],
                "payload": {name: {"entity": entity} for name, entity in event.entities.items()},
                "created_at": now(),
            }
            body = json.dumps(envelope, separators=(",", ":"))
            due = created + faults["delay"] + position * self.config.event_gap
            for copy_number in range(1, faults["duplicate"] + 1):
                delivery = {
                    "id": new_id("whd_"),
                    "event_id": event_id,
                    "event": event.name,
                    "order_id": order_id,
                    "payment_id": payment_id,
                    "copy": copy_number,
                    "created_at": created,
                    "next_attempt_at": due,
                    "attempts": [],
                    "delivered": False,
                    "delivered_at": None,
                    "gave_up": False,
                    "drop_first": faults["drop_first"],
                    "url": self.config.webhook_url,
                    "signature": webhook_signature(secret=self.config.webhook_secret, body=body),
                    "body": body,
                }
                pipe.set(self.store.key("delivery", delivery["id"]), json.dumps(delivery))
                pipe.zadd(self.store.key("queue"), {delivery["id"]: due})
                pipe.rpush(self.store.key("deliveries"), delivery["id"])
                pipe.rpush(self.store.key("order", order_id, "deliveries"), delivery["id"])
        pipe.execute()

    def list_deliveries(self, params: dict[str, str]) -> dict[str, Any]:
        """Deliveries in the order they were queued, the last `count`, filtered by order, payment or event."""
        raw_count = params.get("count") or "100"
        if not raw_count.isdigit():
            raise validation_error("count must be a whole number", "count")
        count = min(max(int(raw_count), 1), 10_000)
        if params.get("order_id"):
            ids = self.store.r.lrange(self.store.key("order", params["order_id"], "deliveries"), -count, -1)
        else:
            ids = self.store.r.lrange(self.store.key("deliveries"), -count, -1)
        items = self.store.get_many("delivery", ids)
        if params.get("payment_id"):
            items = [d for d in items if d["payment_id"] == params["payment_id"]]
        if params.get("event"):
            items = [d for d in items if d["event"] == params["event"]]
        if params.get("body") not in ("1", "true"):
            for d in items:
                d.pop("body", None)
        return {"entity": "collection", "count": len(items), "items": items}

    # --- delivering -------------------------------------------------------------
    def deliver_next(self) -> bool:
        """Claim one due delivery and attempt it; False when nothing is due."""
        delivery_id = self.store.claim_due("queue", lease=self.config.webhook_timeout + 10)
        if delivery_id is None:
            return False
        self.attempt(delivery_id)
        return True

    def attempt(self, delivery_id: str) -> None:
        r, key, queue = self.store.r, self.store.key("delivery", delivery_id), self.store.key("queue")
        raw = r.get(key)
        record = json.loads(raw) if raw else None
        if record is None or record["delivered"] or record["gave_up"]:
            r.zrem(queue, delivery_id)
            return
        number = len(record["attempts"]) + 1
        started = time.time()
        if number <= record["drop_first"]:
            status, error = None, "dropped by the drop_first fault (as if the receiver timed out)"
        else:
            status, error = self._post(record)
        record["attempts"].append(
            {"at": started, "status": status, "error": error, "ms": round((time.time() - started) * 1000, 1)}
        )
        pipe = r.pipeline()
        if status is not None and 200 <= status < 300:
            record.update(delivered=True, delivered_at=time.time(), next_attempt_at=None)
            pipe.zrem(queue, delivery_id)
        else:
            due = time.time() + min(self.config.backoff_base * 2 ** (number - 1), self.config.backoff_max)
            if due - record["created_at"] > self.config.retry_for_seconds:
                record.update(gave_up=True, next_attempt_at=None)
                pipe.zrem(queue, delivery_id)
            else:
                record["next_attempt_at"] = due
                pipe.zadd(queue, {delivery_id: due})
        pipe.set(key, json.dumps(record))
        pipe.execute()

    def _post(self, record: dict[str, Any]) -> tuple[int | None, str | None]:
        url = record["url"]
        if not url.startswith(("http://", "https://")):
            return None, f"not an http(s) URL: {url}"
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=record["body"].encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Razorpay-Signature": record["signature"],
                "X-Razorpay-Event-Id": record["event_id"],
                "User-Agent": "Razorpay-Webhook/v1 (emulator)",
            },
        )
        try:
            with _opener.open(request, timeout=self.config.webhook_timeout) as response:
                response.read()
                return response.status, None
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, None
        except (OSError, ValueError) as exc:  # URLError, timeouts and refused connections are OSErrors
            return None, f"{type(exc).__name__}: {exc}"
