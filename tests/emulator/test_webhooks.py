"""Webhook delivery against a real receiver: signatures, envelopes, retries, and each fault switch."""

import time

import requests
from django.conf import settings
from razorpay.errors import SignatureVerificationError

from devstack.waits import wait_for

SUCCESS_EVENTS = ["payment.authorized", "payment.captured", "order.paid"]


def verify(client, request) -> bool:
    return client.utility.verify_webhook_signature(
        request["body"], request["signature"], settings.RAZORPAY_WEBHOOK_SECRET
    )


def test_success_delivers_signed_events_in_order(client, emulator, receiver, order):
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    got = receiver.wait_for(order["id"], 3)
    time.sleep(0.3)
    assert [r["json"]["event"] for r in receiver.for_order(order["id"])] == SUCCESS_EVENTS
    assert len({r["event_id"] for r in got}) == 3 and all(r["event_id"].startswith("evt_") for r in got)
    for request in got:
        assert request["content_type"] == "application/json"
        assert verify(client, request) is True
        envelope = request["json"]
        assert envelope["entity"] == "event" and envelope["account_id"].startswith("acc_")
        assert isinstance(envelope["created_at"], int)
        assert envelope["payload"]["payment"]["entity"]["id"] == payment_id
    authorized, captured, paid = (r["json"] for r in got)
    assert authorized["contains"] == ["payment"]
    assert authorized["payload"]["payment"]["entity"]["status"] == "authorized"  # a snapshot, not today's state
    assert captured["payload"]["payment"]["entity"]["status"] == "captured"
    assert paid["contains"] == ["payment", "order"] and paid["payload"]["order"]["entity"]["status"] == "paid"
    # A tampered body or a signature made with another secret is rejected by the SDK.
    tampered = got[0]["body"].replace('"authorized"', '"captured"')
    for body, secret in ((tampered, settings.RAZORPAY_WEBHOOK_SECRET), (got[0]["body"], "other-secret")):
        try:
            client.utility.verify_webhook_signature(body, got[0]["signature"], secret)
        except SignatureVerificationError:
            continue
        raise AssertionError("tampered webhook accepted")


def test_failure_and_refund_events(client, emulator, receiver, order):
    failed = emulator.pay(order["id"], outcome="failure").json()["error"]
    request = receiver.wait_for(order["id"], 1)[0]
    assert request["json"]["event"] == "payment.failed"
    entity = request["json"]["payload"]["payment"]["entity"]
    assert (entity["id"], entity["status"], entity["error_reason"]) == (
        failed["metadata"]["payment_id"], "failed", "payment_cancelled",
    )  # fmt: skip
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    refund = client.payment.refund(payment_id, {"amount": 1000})
    got = receiver.wait_for(order["id"], 6)
    refund_events = [r["json"] for r in got if r["json"]["event"].startswith("refund.")]
    assert [e["event"] for e in refund_events] == ["refund.created", "refund.processed"]
    assert all(e["contains"] == ["refund", "payment"] for e in refund_events)
    assert [e["payload"]["refund"]["entity"]["status"] for e in refund_events] == ["pending", "processed"]
    assert refund_events[1]["payload"]["refund"]["entity"]["id"] == refund["id"]
    assert refund_events[1]["payload"]["payment"]["entity"]["refund_status"] == "partial"


def test_manual_capture_events(client, emulator, receiver, order):
    payment_id = emulator.pay(order["id"], outcome="success", capture=False).json()["razorpay_payment_id"]
    assert [r["json"]["event"] for r in receiver.wait_for(order["id"], 1)] == ["payment.authorized"]
    client.payment.capture(payment_id, order["amount"], {"currency": "INR"})
    assert [r["json"]["event"] for r in receiver.wait_for(order["id"], 3)] == SUCCESS_EVENTS


def test_retries_until_the_receiver_accepts(emulator, receiver, order):
    receiver.fail_first = 2
    emulator.pay(order["id"], outcome="success")
    got = receiver.wait_for(order["id"], 9)
    assert {r["json"]["event"]: sum(1 for x in got if x["event_id"] == r["event_id"]) for r in got} == dict.fromkeys(
        SUCCESS_EVENTS, 3
    )
    deliveries = wait_for(
        lambda: (lambda d: d if all(x["delivered"] for x in d) else None)(emulator.deliveries(order_id=order["id"]))
    )
    for delivery in deliveries:
        assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
        gaps = [b["at"] - a["at"] for a, b in zip(delivery["attempts"], delivery["attempts"][1:], strict=False)]
        assert gaps[0] >= 0.18 and gaps[1] >= 0.38  # exponential backoff from 0.2 s


def test_a_receiver_timeout_is_retried_with_the_same_event_id(emulator, receiver, order):
    receiver.stall_first = 1.5  # the emulator in the tests waits 1 s for an answer
    emulator.pay(order["id"], outcome="success", capture=False)
    got = receiver.wait_for(order["id"], 2)
    assert got[0]["event_id"] == got[1]["event_id"] and got[0]["body"] == got[1]["body"]
    delivery = wait_for(
        lambda: (lambda d: d if d[0]["delivered"] else None)(emulator.deliveries(order_id=order["id"]))
    )[0]
    assert delivery["attempts"][0]["status"] is None and "timed out" in delivery["attempts"][0]["error"]
    assert delivery["attempts"][1]["status"] == 200


def test_fault_duplicate(emulator, receiver, order):
    emulator.faults(duplicate=3)
    emulator.pay(order["id"], outcome="success")
    got = receiver.wait_for(order["id"], 9)
    time.sleep(0.3)
    assert len(receiver.for_order(order["id"])) == 9
    by_event: dict[str, set[str]] = {}
    for r in got:
        by_event.setdefault(r["json"]["event"], set()).add(r["event_id"])
    assert all(len(ids) == 1 for ids in by_event.values())  # copies share the event id
    assert sorted(d["copy"] for d in emulator.deliveries(order_id=order["id"])) == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_fault_reverse(emulator, receiver, order):
    emulator.faults(reverse=True)
    emulator.pay(order["id"], outcome="success")
    receiver.wait_for(order["id"], 3)
    assert [r["json"]["event"] for r in receiver.for_order(order["id"])] == list(reversed(SUCCESS_EVENTS))


def test_fault_delay(emulator, receiver, order):
    emulator.faults(delay=1.0)
    started = time.time()
    emulator.pay(order["id"], outcome="success", capture=False)
    time.sleep(0.7)
    assert receiver.for_order(order["id"]) == []
    got = receiver.wait_for(order["id"], 1)
    assert got[0]["at"] - started >= 1.0


def test_fault_drop_first(emulator, receiver, order):
    emulator.faults(drop_first=2)
    emulator.pay(order["id"], outcome="success", capture=False)
    got = receiver.wait_for(order["id"], 1)
    delivery = wait_for(
        lambda: (lambda d: d if d[0]["delivered"] else None)(emulator.deliveries(order_id=order["id"]))
    )[0]
    assert [a["status"] for a in delivery["attempts"]] == [None, None, 200]
    assert "drop_first" in delivery["attempts"][0]["error"]
    time.sleep(0.2)
    assert len(receiver.for_order(order["id"])) == len(got) == 1  # dropped attempts never reached the receiver


def test_fault_late_delay_applies_to_late_payments(client, emulator, receiver, order):
    emulator.faults(late_delay=0.6)
    started = time.time()
    payment_id = emulator.pay(order["id"], outcome="late").json()["razorpay_payment_id"]
    got = receiver.wait_for(order["id"], 3)
    assert [r["json"]["event"] for r in got] == SUCCESS_EVENTS
    assert got[0]["at"] - started >= 0.6
    assert client.payment.fetch(payment_id)["status"] == "captured"


def test_faults_show_validate_and_reset(emulator):
    url = f"{emulator.url}/_emulator/faults"
    defaults = requests.get(url, timeout=5).json()
    assert defaults == {
        "duplicate": 1,
        "reverse": False,
        "delay": 0.0,
        "drop_first": 0,
        "late_delay": 1.0,
        "refund_drop_every": 0,
        "refund_lose_every": 0,
    }
    assert emulator.faults(duplicate=2, reverse=True)["duplicate"] == 2
    assert requests.get(url, timeout=5).json()["reverse"] is True
    bad = requests.post(url, json={"duplicate": 0}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "duplicate"
    assert requests.post(url, json={"explode": True}, timeout=5).status_code == 400
    assert emulator.faults(reset=True) == defaults


def test_state_and_pending_deliveries_survive_a_restart(client, emulator, receiver, order):
    emulator.faults(delay=1.5)
    payment_id = emulator.pay(order["id"], outcome="success").json()["razorpay_payment_id"]
    emulator.restart()
    assert client.order.fetch(order["id"])["status"] == "paid"
    assert client.payment.fetch(payment_id)["status"] == "captured"
    assert emulator.faults()["delay"] == 1.5
    got = receiver.wait_for(order["id"], 3)
    assert sorted(r["json"]["event"] for r in got) == sorted(SUCCESS_EVENTS)


def test_reset_clears_state(client, emulator, order):
    assert requests.post(f"{emulator.url}/_emulator/reset", timeout=5).json()["deleted"] > 0
    assert client.order.all()["count"] == 0
