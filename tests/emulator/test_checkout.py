"""The checkout modal in real headless Chromium: a page on another origin loads the emulator's checkout.js."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page

from devstack.ports import free_port
from tests.emulator.conftest import OUTPUT

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout test page</title></head>
<body>
<button id="buy">Pay now</button>
<script src="%(emulator)s/v1/checkout.js"></script>
<script>
window.results = [];
document.getElementById("buy").addEventListener("click", function () {
  var params = new URLSearchParams(location.search);
  var rzp = new Razorpay({
    key: params.get("key"), order_id: params.get("order"), amount: 50000, currency: "INR",
    name: "Surge", description: "2 seats, Gold", prefill: {email: "buyer@example.com", contact: "+919812345678"},
    notes: {booking: "b-1"}, theme: {color: "#7c3aed"},
    handler: function (response) { window.results.push({kind: "success", response: response}); },
    modal: {ondismiss: function () { window.results.push({kind: "dismiss"}); }}
  });
  rzp.on("payment.failed", function (response) { window.results.push({kind: "failed", response: response}); });
  rzp.open();
});
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def site(emulator) -> Iterator[str]:
    """A tiny shop page on its own origin, as the app's payment page would be."""
    html = (PAGE % {"emulator": emulator.url}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    yield page
    context.close()


def open_modal(page: Page, site: str, order_id: str, key: str | None = None) -> None:
    page.goto(f"{site}?order={order_id}&key={key or settings.RAZORPAY_KEY_ID}")
    page.click("#buy")
    page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-title").wait_for()


def results(page: Page, count: int) -> list[dict[str, Any]]:
    page.wait_for_function(f"window.results.length >= {count}", timeout=10_000)
    return page.evaluate("window.results")


def test_pay_successfully(client, emulator, site, page, order):
    open_modal(page, site, order["id"])
    modal = page.frame_locator("#rzp-emu-frame")
    assert modal.locator("#rzp-emu-amount").inner_text() == "INR 500.00"
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "checkout-modal.png"))
    modal.get_by_role("button", name="Pay successfully").click()
    [result] = results(page, 1)
    assert result["kind"] == "success"
    response = result["response"]
    assert set(response) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert response["razorpay_order_id"] == order["id"]
    assert client.utility.verify_payment_signature(response) is True
    assert page.locator("#rzp-emu-container").count() == 0  # the modal closed itself
    payment = client.payment.fetch(response["razorpay_payment_id"])
    assert (payment["status"], payment["email"], payment["contact"]) == (
        "captured",
        "buyer@example.com",
        "+919812345678",
    )
    assert payment["notes"] == {"booking": "b-1"}


def test_fail_then_close(client, emulator, site, page, order):
    open_modal(page, site, order["id"])
    modal = page.frame_locator("#rzp-emu-frame")
    modal.locator("#rzp-emu-pay-failure").click()
    [failed] = results(page, 1)
    assert failed["kind"] == "failed"
    error = failed["response"]["error"]
    assert (error["code"], error["source"], error["step"], error["reason"]) == (
        "BAD_REQUEST_ERROR", "customer", "payment_authentication", "payment_cancelled",
    )  # fmt: skip
    assert error["description"] and error["metadata"]["order_id"] == order["id"]
    assert client.payment.fetch(error["metadata"]["payment_id"])["status"] == "failed"
    page.screenshot(path=str(OUTPUT / "checkout-failed.png"))
    # The modal stays open to offer a retry; closing it runs modal.ondismiss.
    assert modal.locator("#rzp-emu-pay-success").is_enabled()
    modal.locator("#rzp-emu-close").click()
    assert [r["kind"] for r in results(page, 2)] == ["failed", "dismiss"]
    assert page.locator("#rzp-emu-container").count() == 0


def test_wrong_key_or_unknown_order_cannot_pay(site, page, order):
    open_modal(page, site, order["id"], key="rzp_test_notours")
    modal = page.frame_locator("#rzp-emu-frame")
    assert "key is not valid" in modal.locator("#rzp-emu-status").inner_text()
    assert not modal.locator("#rzp-emu-pay-success").is_visible()
    open_modal(page, site, "order_DoesNotExist00")
    assert "does not exist" in page.frame_locator("#rzp-emu-frame").locator("#rzp-emu-status").inner_text()
    page.screenshot(path=str(OUTPUT / "checkout-unknown-order.png"))


def test_late_payment_leaves_the_buyer_waiting(client, emulator, site, page, order):
    open_modal(page, site, order["id"])
    modal = page.frame_locator("#rzp-emu-frame")
    modal.locator("#rzp-emu-pay-late").click()
    modal.get_by_text("Waiting for your bank").wait_for()
    modal.locator("#rzp-emu-close").click()
    assert [r["kind"] for r in results(page, 1)] == ["dismiss"]  # no handler call
    payments = client.order.payments(order["id"])["items"]
    assert [p["status"] for p in payments] == ["created"]
    assert json.loads(json.dumps(payments[0]))["order_id"] == order["id"]
