"""Contract tests: the official `razorpay` SDK against the running emulator, as the app uses it."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import razorpay
import requests
from django.conf import settings
from razorpay.errors import BadRequestError, ServerError, SignatureVerificationError

from devstack.waits import wait_for

ORDER_FIELDS = {
    "id", "entity", "amount", "amount_paid", "amount_due", "currency", "receipt",
    "offer_id", "status", "attempts", "notes", "created_at",
}  # fmt: skip
PAYMENT_FIELDS = {
    "id", "entity", "amount", "currency", "status", "order_id", "invoice_id", "international", "method",
    "amount_refunded", "refund_status", "captured", "description", "card_id", "bank", "wallet", "vpa",
    "email", "contact", "notes", "fee", "tax", "error_code", "error_description", "error_source",
    "error_step", "error_reason", "acquirer_data", "created_at",
}  # fmt: skip


def test_order_create_fetch_and_list(client):
    order = client.order.create({"amount": 50000, "currency": "INR", "receipt": "rcpt-1", "notes": {"intent": "7"}})
    assert set(order) == ORDER_FIELDS
    assert order["id"].startswith("order_") and len(order["id"]) == 20
    assert (order["entity"], order["status"], order["attempts"]) == ("order", "created", 0)
    assert (order["amount"], order["amount_paid"], order["amount_due"]) == (50000, 0, 50000)
    assert order["notes"] == {"intent": "7"}
    assert client.order.fetch(order["id"]) == order
    assert client.order.payments(order["id"]) == {"entity": "collection", "count": 0, "items": []}
    listed = client.order.all({"receipt": "rcpt-1"})
    assert listed["entity"] == "collection" and [o["id"] for o in listed["items"]] == [order["id"]]


def test_successful_payment_moves_order_to_paid_and_signature_verifies(client, emulator, order):
    response = emulator.pay(order["id"], outcome="success")
    assert response.status_code == 200
    handed = response.json()
    assert set(handed) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert handed["razorpay_order_id"] == order["id"]
    assert client.utility.verify_payment_signature(handed) is True
    for tampered in (
        {**handed, "razorpay_payment_id": "pay_AAAAAAAAAAAAAA"},
        {**handed, "razorpay_signature": handed["razorpay_signature"].upper()},
    ):
        with pytest.raises(SignatureVerificationError):
            client.utility.verify_payment_signature(tampered)
    other_secret = razorpay.Client(auth=(settings.RAZORPAY_KEY_ID, "not-the-secret"), base_url=emulator.url)
    with pytest.raises(SignatureVerificationError):
        other_secret.utility.verify_payment_signature(handed)

    fetched = client.order.fetch(order["id"])
    assert (fetched["status"], fetched["attempts"], fetched["amount_paid"], fetched["amount_due"]) == (
        "paid",
        1,
        50000,
        0,
    )
    payments = client.order.payments(order["id"])
    assert payments["count"] == 1
    payment = payments["items"][0]
    assert set(payment) == PAYMENT_FIELDS
    assert payment["id"] == handed["razorpay_payment_id"]
    assert (payment["status"], payment["captured"], payment["amount"]) == ("captured", True, 50000)
    assert client.payment.fetch(payment["id"]) == payment
    # A paid order takes no further payments.
    again = emulator.pay(order["id"], outcome="success")
    assert again.status_code == 400 and again.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_failed_payment(client, emulator, order):
    response = emulator.pay(order["id"], outcome="failure", reason="card_declined")
    assert response.status_code == 200
    error = response.json()["error"]
    payment_id = error["metadata"]["payment_id"]
    assert error == {
        "code": "BAD_REQUEST_ERROR",
        "description": "Your payment has been declined by your bank.",
        "source": "bank",
        "step": "payment_authorization",
        "reason": "card_declined",
        "metadata": {"order_id": order["id"], "payment_id": payment_id},
    }
    payment = client.payment.fetch(payment_id)
    assert (payment["status"], payment["captured"], payment["error_reason"]) == ("failed", False, "card_declined")
    assert client.order.fetch(order["id"])["status"] == "attempted"
    # The buyer retries in the modal and succeeds: two attempts, one captured payment.
    emulator.pay(order["id"], outcome="success")
    fetched = client.order.fetch(order["id"])
    assert (fetched["status"], fetched["attempts"]) == ("paid", 2)
    assert [p["status"] for p in client.order.payments(order["id"])["items"]] == ["captured", "failed"]


def test_manual_capture(client, emulator, order):
    payment_id = emulator.pay(order["id"], outcome="success", capture=False).json()["razorpay_payment_id"]
    payment = client.payment.fetch(payment_id)
    assert (payment["status"], payment["captured"]) == ("authorized", False)
    assert client.order.fetch(order["id"])["status"] == "attempted"
    with pytest.raises(BadRequestError, match="equal to the amount authorized"):
        client.payment.capture(payment_id, 100, {"currency": "INR"})
    captured = client.payment.capture(payment_id, 50000, {"currency": "INR"})
    assert (captured["status"], captured["captured"]) == ("captured", True)
    assert captured["fee"] > captured["tax"] > 0
    assert client.order.fetch(order["id"])["status"] == "paid"
    with pytest.raises(BadRequestError, match="already been captured"):
        client.payment.capture(payment_id, 50000, {"currency": "INR"})


def test_order_level_manual_capture(client, emulator):
    order = client.order.create({"amount": 20000, "currency": "INR", "payment": {"capture": "manual"}})
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    assert client.payment.fetch(payment_id)["status"] == "authorized"


def test_capture_refused_unless_authorized(client, emulator, order):
    error = emulator.pay(order["id"], outcome="failure").json()["error"]
    with pytest.raises(BadRequestError, match="authorized"):
        client.payment.capture(error["metadata"]["payment_id"], 50000, {"currency": "INR"})


def test_partial_then_full_refund(client, emulator, order):
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    partial = client.payment.refund(payment_id, {"amount": 20000, "notes": {"why": "one seat"}})
    assert partial["id"].startswith("rfnd_")
    assert (partial["entity"], partial["amount"], partial["payment_id"], partial["status"]) == (
        "refund", 20000, payment_id, "processed",
    )  # fmt: skip
    payment = client.payment.fetch(payment_id)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("captured", 20000, "partial")
    with pytest.raises(BadRequestError, match="greater than amount captured"):
        client.payment.refund(payment_id, {"amount": 40000})
    rest = client.payment.refund(payment_id, {})
    assert rest["amount"] == 30000
    payment = client.payment.fetch(payment_id)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("refunded", 50000, "full")
    assert client.refund.fetch(partial["id"]) == partial
    assert [r["id"] for r in client.payment.fetch_multiple_refund(payment_id)["items"]] == [rest["id"], partial["id"]]
    with pytest.raises(BadRequestError, match="fully refunded already"):
        client.payment.refund(payment_id, {"amount": 100})
    assert client.order.fetch(order["id"])["status"] == "paid"


def test_refund_idempotency_header(client, emulator, order):
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    headers = {"X-Refund-Idempotency": "refund-intent-42"}
    first = client.payment.refund(payment_id, {"amount": 10000}, headers=dict(headers))
    again = client.payment.refund(payment_id, {"amount": 10000}, headers=dict(headers))
    assert again == first
    assert client.payment.fetch(payment_id)["amount_refunded"] == 10000
    with pytest.raises(BadRequestError, match="idempotency"):
        client.payment.refund(payment_id, {"amount": 20000}, headers=dict(headers))
    with pytest.raises(BadRequestError):
        client.payment.refund(payment_id, {"amount": 100}, headers={"X-Refund-Idempotency": "short"})


def test_refund_refused_for_uncaptured_payment(client, emulator, order):
    payment_id = emulator.pay(order["id"], outcome="success", capture=False).json()["razorpay_payment_id"]
    with pytest.raises(BadRequestError, match="captured"):
        client.payment.refund(payment_id, {"amount": 1000})


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"currency": "INR"}, "amount", "The amount field is required."),
        ({"amount": 99, "currency": "INR"}, "amount", "The amount must be at least INR 1.00"),
        ({"amount": "ten", "currency": "INR"}, "amount", "The amount must be an integer."),
        ({"amount": 1000}, "currency", "The currency field is required."),
        ({"amount": 1000, "currency": "XYZ"}, "currency", "Currency is not supported"),
        ({"amount": 1000, "currency": "INR", "receipt": "r" * 41}, "receipt", "40 characters"),
        ({"amount": 1000, "currency": "INR", "notes": {str(i): "x" for i in range(16)}}, "notes", "15 items"),
        ({"amount": 1000, "currency": "INR", "colour": "red"}, "colour", "not required and should not be sent"),
    ],
)
def test_validation_errors_look_like_razorpay(client, emulator, data, field, message):
    with pytest.raises(BadRequestError, match=message.replace(".", r"\.")):
        client.order.create(data)
    raw = requests.post(f"{emulator.url}/v1/orders", json=data, auth=client.auth, timeout=10)
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert (error["code"], error["field"], error["reason"]) == ("BAD_REQUEST_ERROR", field, "input_validation_failed")
    assert set(error) >= {"code", "description", "source", "step", "reason", "metadata", "field"}


def test_unknown_ids_answer_400(client, emulator):
    for call in (
        lambda: client.order.fetch("order_DoesNotExist00"),
        lambda: client.order.payments("order_DoesNotExist00"),
        lambda: client.payment.fetch("pay_DoesNotExist000"),
        lambda: client.payment.capture("pay_DoesNotExist000", 100, {"currency": "INR"}),
        lambda: client.refund.fetch("rfnd_DoesNotExist00"),
    ):
        with pytest.raises(BadRequestError, match="The id provided does not exist"):
            call()
    raw = requests.get(f"{emulator.url}/v1/orders/order_DoesNotExist00", auth=client.auth, timeout=10)
    assert raw.status_code == 400 and raw.json()["error"]["description"] == "The id provided does not exist"
    assert emulator.pay("order_DoesNotExist00", outcome="success").status_code == 400


def test_bad_credentials_answer_401(emulator):
    for auth in ((settings.RAZORPAY_KEY_ID, "wrong-secret"), ("rzp_test_someoneelse", settings.RAZORPAY_KEY_SECRET)):
        client = razorpay.Client(auth=auth, base_url=emulator.url)
        with pytest.raises(BadRequestError, match="The api key provided is invalid"):
            client.order.create({"amount": 1000, "currency": "INR"})
        raw = requests.get(f"{emulator.url}/v1/orders", auth=auth, timeout=10)
        assert raw.status_code == 401 and raw.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    missing = requests.get(f"{emulator.url}/v1/orders", timeout=10)
    assert missing.status_code == 401 and "api key" in missing.json()["error"]["description"]


def test_every_answer_is_json(client, emulator):
    for response in (
        requests.post(f"{emulator.url}/v1/orders", data=b"{not json", auth=client.auth, timeout=10),
        requests.get(f"{emulator.url}/v1/nothing-here", auth=client.auth, timeout=10),
        requests.delete(f"{emulator.url}/v1/orders", auth=client.auth, timeout=10),
    ):
        assert response.status_code >= 400
        assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"


def test_late_payment_is_captured_after_the_delay(client, emulator, order):
    answer = emulator.pay(order["id"], outcome="late", delay_seconds=0.5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "pending" and "razorpay_signature" not in body
    payment = client.payment.fetch(body["razorpay_payment_id"])
    assert (payment["status"], client.order.fetch(order["id"])["status"]) == ("created", "attempted")
    wait_for(lambda: client.payment.fetch(payment["id"])["status"] == "captured", timeout=5)
    assert client.order.fetch(order["id"])["status"] == "paid"


def test_late_payment_on_an_order_paid_meanwhile_stays_authorized(client, emulator, order):
    late_id = emulator.pay(order["id"], outcome="late", delay_seconds=0.5).json()["razorpay_payment_id"]
    emulator.pay(order["id"], outcome="success")
    wait_for(lambda: client.payment.fetch(late_id)["status"] == "authorized", timeout=5)
    assert client.order.fetch(order["id"])["amount_paid"] == 50000


def test_concurrent_payments_on_one_order_capture_once(client, emulator, order):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: emulator.pay(order["id"], outcome="success"), range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 7  # the order's lock serialises them
    payments = client.order.payments(order["id"])["items"]
    assert [p["status"] for p in payments] == ["captured"]
    assert client.order.fetch(order["id"])["amount_paid"] == order["amount"]


def test_control_api_allows_cross_origin_calls(emulator, order):
    preflight = requests.options(f"{emulator.url}/_emulator/orders/{order['id']}/pay", timeout=5)
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]


def test_fault_refund_drop_every_fails_every_nth_refund_call_before_refunding(client, emulator, order):
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    emulator.faults(refund_drop_every=2)
    assert client.payment.refund(payment_id, {"amount": 100})["status"] == "processed"  # call 1
    with pytest.raises(ServerError, match="refund_drop_every"):  # call 2: dropped, nothing refunded
        client.payment.refund(payment_id, {"amount": 100}, headers={"X-Refund-Idempotency": "drop-key-0001"})
    assert client.payment.fetch(payment_id)["amount_refunded"] == 100
    # Call 3 with the same key goes through: the dropped call left no trace of it.
    again = client.payment.refund(payment_id, {"amount": 100}, headers={"X-Refund-Idempotency": "drop-key-0001"})
    assert again["amount"] == 100 and client.payment.fetch(payment_id)["amount_refunded"] == 200
    bad = requests.post(f"{emulator.url}/_emulator/faults", json={"refund_drop_every": -1}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "refund_drop_every"


def test_fault_refund_lose_every_refunds_then_loses_the_answer(client, emulator, order):
    """The timeout case: the refund is made, the answer lost; asking again with the same key
    returns the refund made, never a second one."""
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    emulator.faults(refund_lose_every=1)
    headers = {"X-Refund-Idempotency": "lose-key-0001"}
    with pytest.raises(ServerError, match="answer lost"):
        client.payment.refund(payment_id, {"amount": 500}, headers=dict(headers))
    assert client.payment.fetch(payment_id)["amount_refunded"] == 500
    emulator.faults(refund_lose_every=0)
    first = client.payment.refund(payment_id, {"amount": 500}, headers=dict(headers))
    assert client.payment.fetch_multiple_refund(payment_id)["count"] == 1
    assert first["amount"] == 500 and client.payment.fetch(payment_id)["amount_refunded"] == 500
