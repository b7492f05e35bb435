"""The emulator's HTTP surface as a plain WSGI app: Razorpay's `/v1` API, checkout assets, control API.

No framework: routing is a table of regular expressions, so a request costs little more than its Redis
round trips and the emulator never becomes the bottleneck of a load run.
"""

import base64
import hmac
import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs

import redis

from .errors import ApiError, validation_error
from .services import Emulator

log = logging.getLogger("razorpay_emulator")

ASSETS = Path(__file__).resolve().parent / "assets"
JSON_TYPE = "application/json; charset=utf-8"
CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
]
_ID = r"([A-Za-z0-9_]+)"
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{3,8}$")

Response = tuple[int, str, bytes, list[tuple[str, str]]]
StartResponse = Callable[..., Any]

STATUS_TEXT = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
STATUS_TEXT.update({405: "Method Not Allowed", 409: "Conflict", 500: "Internal Server Error"})


def _json(status: int, body: Any, extra: list[tuple[str, str]] | None = None) -> Response:
    return status, JSON_TYPE, json.dumps(body).encode(), extra or []


class Request:
    """The few parts of a WSGI environ the emulator needs."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"]
        self.path: str = environ.get("PATH_INFO") or "/"
        self.query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    def data(self) -> dict[str, Any]:
        """The body as a dict: JSON (what the SDK sends) or a form (what curl -d sends)."""
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = self.environ["wsgi.input"].read(length) if length else b""
        if not raw.strip():
            return {}
        if "application/x-www-form-urlencoded" in (self.environ.get("CONTENT_TYPE") or ""):
            return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        try:
            data = json.loads(raw)
        except ValueError:
            raise validation_error("The request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise validation_error("The request body must be a JSON object")
        return data


class EmulatorApp:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.config = emulator.config
        self.checkout_js = (
            (ASSETS / "checkout.js").read_text().replace("__RZPEMU_KEY_ID__", json.dumps(self.config.key_id)).encode()
        )
        self.modal_template = Template((ASSETS / "modal.html").read_text())
        self.assets = {
            "modal.css": ("text/css; charset=utf-8", (ASSETS / "modal.css").read_bytes()),
            "modal.js": ("text/javascript; charset=utf-8", (ASSETS / "modal.js").read_bytes()),
        }
        e = emulator
        # (method, pattern, needs API auth, handler(request, *groups) -> Response)
        self.routes: list[tuple[str, re.Pattern[str], bool, Callable[..., Response]]] = [
            ("GET", re.compile(r"^/(?:_emulator/health)?$"), False, lambda r: (200, "text/plain", b"ok", [])),
            ("POST", re.compile(r"^/v1/orders$"), True, lambda r: _json(200, e.create_order(r.data()))),
            ("GET", re.compile(r"^/v1/orders$"), True, lambda r: _json(200, e.list_orders(r.query))),
            ("GET", re.compile(rf"^/v1/orders/{_ID}$"), True, lambda r, i: _json(200, e.get_order(i))),
            ("GET", re.compile(rf"^/v1/orders/{_ID}/payments$"), True, lambda r, i: _json(200, e.order_payments(i))),
            ("GET", re.compile(rf"^/v1/payments/{_ID}$"), True, lambda r, i: _json(200, e.get_payment(i))),
            (
                "POST",
                re.compile(rf"^/v1/payments/{_ID}/capture$"),
                True,
                lambda r, i: _json(200, e.capture_payment(i, r.data())),
            ),
            (
                "POST",
                re.compile(rf"^/v1/payments/{_ID}/refund$"),
                True,
                lambda r, i: _json(200, e.refund_payment(i, r.data(), r.header("X-Refund-Idempotency"))),
            ),
            ("GET", re.compile(rf"^/v1/payments/{_ID}/refunds$"), True, lambda r, i: _json(200, e.payment_refunds(i))),
            ("GET", re.compile(rf"^/v1/refunds/{_ID}$"), True, lambda r, i: _json(200, e.get_refund(i))),
            ("GET", re.compile(r"^/v1/checkout\.js$"), False, self.serve_checkout_js),
            ("GET", re.compile(r"^/_emulator/checkout/modal$"), False, self.serve_modal),
            ("GET", re.compile(r"^/_emulator/checkout/(modal\.css|modal\.js)$"), False, self.serve_asset),
            ("POST", re.compile(rf"^/_emulator/orders/{_ID}/pay$"), False, lambda r, i: _json(*e.pay(i, r.data()))),
            ("GET", re.compile(r"^/_emulator/faults$"), False, lambda r: _json(200, e.webhooks.faults())),
            ("POST", re.compile(r"^/_emulator/faults$"), False, lambda r: _json(200, e.webhooks.set_faults(r.data()))),
            (
                "GET",
                re.compile(r"^/_emulator/deliveries$"),
                False,
                lambda r: _json(200, e.webhooks.list_deliveries(r.query)),
            ),
            ("POST", re.compile(r"^/_emulator/reset$"), False, lambda r: _json(200, {"deleted": e.store.reset()})),
        ]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            status, content_type, body, headers = self.dispatch(request)
        except ApiError as exc:
            status, content_type, body, headers = _json(exc.status, exc.body())
        except (redis.RedisError, TimeoutError):
            log.exception("Redis failed during %s %s", request.method, request.path)
            status, content_type, body, headers = _json(
                500, ApiError("The server encountered an error", status=500, code="SERVER_ERROR").body()
            )
        except Exception:
            log.exception("Unexpected error during %s %s", request.method, request.path)
            status, content_type, body, headers = _json(
                500, ApiError("The server encountered an error", status=500, code="SERVER_ERROR").body()
            )
        if not request.path.startswith("/v1/") or request.path == "/v1/checkout.js":
            headers = headers + CORS
        start_response(
            f"{status} {STATUS_TEXT.get(status, 'Unknown')}",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    def dispatch(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return 204, "text/plain", b"", []
        path_matched = False
        for method, pattern, needs_auth, handler in self.routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            path_matched = True
            if method != request.method:
                continue
            if needs_auth:
                self.authenticate(request)
            return handler(request, *match.groups())
        if request.path.startswith("/v1/"):
            self.authenticate(request)
        if path_matched:
            raise ApiError("The requested HTTP method is invalid for this URL", status=405)
        raise ApiError("The requested URL was not found on the server.", status=404)

    def authenticate(self, request: Request) -> None:
        """HTTP Basic with key id and secret, as Razorpay's API does; anything else is a 401."""
        header = request.header("Authorization") or ""
        if not header.startswith("Basic "):
            raise ApiError("Please provide your api key for authentication purposes.", status=401)
        try:
            key_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ApiError("The api key provided is invalid", status=401) from None
        good_key = hmac.compare_digest(key_id.encode(), self.config.key_id.encode())
        good_secret = hmac.compare_digest(secret.encode(), self.config.key_secret.encode())
        if not (good_key and good_secret):
            raise ApiError("The api key provided is invalid", status=401)

    # --- checkout ---------------------------------------------------------------
    def serve_checkout_js(self, request: Request) -> Response:
        return 200, "text/javascript; charset=utf-8", self.checkout_js, [("Cache-Control", "no-cache")]

    def serve_asset(self, request: Request, name: str) -> Response:
        content_type, body = self.assets[name]
        return 200, content_type, body, [("Cache-Control", "no-cache")]

    def serve_modal(self, request: Request) -> Response:
        """The modal page inside checkout's iframe: it checks the key and the order before offering to pay."""
        try:
            options = json.loads(request.query.get("options") or "{}")
        except ValueError:
            options = {}
        if not isinstance(options, dict):
            options = {}
        prefill = options.get("prefill") if isinstance(options.get("prefill"), dict) else {}
        theme = options.get("theme") if isinstance(options.get("theme"), dict) else {}
        order_id = str(options.get("order_id") or "")
        message, status_class, payable = "", "info", True
        amount = ""
        if options.get("key") != self.config.key_id:
            message, status_class, payable = (
                "Authentication failed: the key is not valid for this account.",
                "error",
                False,
            )
        else:
            try:
                order = self.emulator.get_order(order_id)
            except ApiError:
                message, status_class, payable = "The id provided does not exist", "error", False
            else:
                amount = f"{order['currency']} {order['amount'] / 100:,.2f}"
                if order["status"] == "paid":
                    message, status_class, payable = "This order has already been paid.", "error", False
        notes = options.get("notes") if isinstance(options.get("notes"), dict) else {}
        colour = str(theme.get("color") or "")
        values = {
            "order_id": order_id,
            "key": str(options.get("key") or ""),
            "origin": request.query.get("origin", ""),
            "email": str(prefill.get("email") or ""),
            "contact": str(prefill.get("contact") or ""),
            "method": str(prefill.get("method") or ""),
            "notes": json.dumps(notes),
            "escape": "false" if options.get("escape") is False else "true",
            "theme": colour if _COLOUR.match(colour) else "#3399cc",
            "name": str(options.get("name") or "Checkout"),
            "description": str(options.get("description") or ""),
            "amount": amount,
            "message": message,
            "status_class": status_class,
        }
        page = self.modal_template.substitute(
            {k: html.escape(v) for k, v in values.items()}, actions_hidden="" if payable else "hidden"
        )
        return 200, "text/html; charset=utf-8", page.encode(), [("Cache-Control", "no-store")]
