"""/metrics: protected by its bearer token, counting where things happen, gauges at scrape time
for a fixed number of queries, and, in multiprocess mode, the sum of every gunicorn worker (which
the dashboard's p95 latencies read too)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.booking import services
from apps.booking.errors import SeatsUnavailable
from apps.ops import selectors
from apps.payments import services as payments
from apps.waitingroom import services as room
from booking_site import metrics as scrape
from tests.factories import browser, buyer, make_event
from tests.payments.conftest import pay
from tests.processes import ROOT, web_server
from tests.waitingroom.conftest import open_room

TOKEN = "test-metrics-token"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture
def token(settings, monkeypatch):
    settings.METRICS_TOKEN = TOKEN
    monkeypatch.setattr(scrape, "SCRAPE_CACHE_SECONDS", 0.0)  # each scrape reads afresh


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a scrape's text."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scraped() -> dict[tuple, float]:
    response = Client().get("/metrics", **AUTH)
    assert response.status_code == 200
    return samples(response.content.decode())


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_without_a_configured_token_the_endpoint_does_not_exist(db, settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_the_bearer_token_is_required(db, token):
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    answer = Client().get("/metrics", **AUTH)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")
    assert "surge_seats" in answer.content.decode()


def test_holds_refusals_and_bookings_are_counted(db, token):
    event = make_event(rows=1, seats_per_row=4)
    before = scraped()
    intent = services.hold_seats(event=event, seat_labels=["A-1", "A-2"], **buyer(1)).intent
    with pytest.raises(SeatsUnavailable):
        services.hold_seats(event=event, seat_labels=["A-2"], **buyer(2))
    services.confirm_intent(intent_id=intent.id)
    services.confirm_intent(intent_id=intent.id)  # a repeat confirms nothing new
    form = {"seat": ["A-4"], "name": "Asha", "email": "asha@example.com", "phone": "9876543210"}
    assert Client().post(f"/events/{event.slug}/hold/", form).status_code == 303  # timed, through the view
    after = scraped()
    assert moved(before, after, "surge_holds_total") == 2
    assert moved(before, after, "surge_request_duration_seconds_count", view="hold") == 1
    assert moved(before, after, "surge_holds_refused_total", reason="taken") == 1
    assert moved(before, after, "surge_bookings_confirmed_total") == 1


@pytest.mark.django_db(transaction=True)
def test_late_payments_refunds_and_failures_are_counted(gateway_url, token):
    event = make_event()
    past = timezone.now() - timedelta(hours=1)
    late = services.hold_seats(event=event, seat_labels=["A-8"], now=past, **buyer(1)).intent
    late_payment = payments.ensure_order(intent=late)
    services.expire_intents()
    services.hold_seats(event=event, seat_labels=["A-8"], **buyer(2))  # resold meanwhile
    failing = payments.ensure_order(intent=services.hold_seats(event=event, seat_labels=["B-1"], **buyer(3)).intent)
    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)  # no webhooks: calls below
    before = scraped()
    captured = pay(gateway_url, late_payment.order_id, "success")
    for _ in range(2):  # a repeat (webhook after the verify callback) counts nothing again
        payments.record_capture(order_id=late_payment.order_id, payment_id=captured["razorpay_payment_id"])
        payments.record_failure(order_id=failing.order_id, payment_id="pay_declined1", reason="card declined")
    after = scraped()
    assert moved(before, after, "surge_late_payments_total") == 1
    assert moved(before, after, "surge_refunds_total") == 1
    assert moved(before, after, "surge_payments_failed_total") == 1
    assert moved(before, after, "surge_bookings_confirmed_total") == 0


def test_rooms_admissions_and_status_polls_are_counted(db, token, settings):
    settings.WAITING_ROOM_RATE_LIMITS = {**settings.WAITING_ROOM_RATE_LIMITS, "join_per_ip": (6000, 1000)}
    event = make_event()
    open_room(event, capacity=5, rate_per_minute=6000)
    before = scraped()
    assert before[("surge_room_admitted_last_minute", (("event", event.slug),))] == 0
    for n in range(8):
        assert browser(f"visitor-{n}").get(f"/queue/{event.slug}/status").status_code == 200  # joins
    room.admit_visitors(event_id=event.id, single_flight=False)
    after = scraped()
    inside = after[("surge_room_inside", (("event", event.slug),))]
    assert inside == 5  # the room's capacity
    assert after[("surge_room_waiting", (("event", event.slug),))] == 3
    assert after[("surge_room_admitted_last_minute", (("event", event.slug),))] == 5  # polls admit too
    assert after[("surge_room_rate_per_minute", (("event", event.slug),))] == 6000
    assert moved(before, after, "surge_request_duration_seconds_count", view="status_poll") == 8


def test_the_gauges_give_each_events_seats(db, token):
    event = make_event(rows=2, seats_per_row=5)  # 10 seats
    other = make_event(rows=1, seats_per_row=3)
    sold = services.hold_seats(event=event, seat_labels=["A-1", "A-2", "A-3"], **buyer(1)).intent
    services.confirm_intent(intent_id=sold.id)
    services.hold_seats(event=event, seat_labels=["B-1"], **buyer(2))
    figures = scraped()

    def seats(slug: str, state: str) -> float:
        return figures[("surge_seats", (("event", slug), ("state", state)))]

    assert (seats(event.slug, "free"), seats(event.slug, "held"), seats(event.slug, "sold")) == (6, 1, 3)
    assert (seats(other.slug, "free"), seats(other.slug, "held"), seats(other.slug, "sold")) == (3, 0, 0)
    assert figures[("surge_webhook_backlog", ())] == 0
    assert figures[("surge_db_connections", ())] >= 1
    assert figures[("surge_db_max_connections", ())] > 1
    assert {"default", "confirmations", "emails", "reconciliation"} <= {
        dict(labels)["queue"] for name, labels in figures if name == "surge_celery_queue_length"
    }


def test_a_scrape_costs_the_same_queries_for_one_event_or_five(db, token):
    def queries_of_a_scrape() -> int:
        with CaptureQueriesContext(connection) as queries:
            scraped()
        return len(queries)

    make_event(rows=1, seats_per_row=2)
    one = queries_of_a_scrape()
    for _ in range(4):
        make_event(rows=1, seats_per_row=2)
    assert sum(1 for name, _ in scraped() if name == "surge_seats") == 5 * 3
    assert queries_of_a_scrape() == one
    assert one <= 6


def test_a_scrape_within_a_second_reads_nothing_again(db, settings):
    settings.METRICS_TOKEN = TOKEN
    make_event(rows=1, seats_per_row=2)
    scraped()
    with CaptureQueriesContext(connection) as queries:
        scraped()
    assert len(queries) == 0


@pytest.mark.django_db(transaction=True)
def test_multiprocess_mode_sums_every_gunicorn_worker(tmp_path, monkeypatch):
    """Two real gunicorn workers share PROMETHEUS_MULTIPROC_DIR: status polls answered by both
    add up in one scrape, whichever worker answers it."""
    event = make_event(rows=1, seats_per_row=2)
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    poll = f"/queue/{event.slug}/status"
    with web_server(
        tmp_path=tmp_path, workers=2, threads=4, PROMETHEUS_MULTIPROC_DIR=str(multiproc), METRICS_TOKEN=TOKEN
    ) as url:
        polls = 0
        with ThreadPoolExecutor(8) as pool:
            # New connections, eight at a time, until both workers have answered some.
            while len(_pids_with_histograms(multiproc)) < 2 and polls < 400:
                list(pool.map(lambda _: httpx.get(url + poll), range(8)))
                polls += 8
        assert len(_pids_with_histograms(multiproc)) == 2, "both workers answered polls"
        answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        refused = httpx.get(f"{url}/metrics")
    assert refused.status_code == 401
    assert answer.status_code == 200
    figures = samples(answer.text)
    assert figures[("surge_request_duration_seconds_count", (("view", "status_poll"),))] == polls
    assert figures[("surge_seats", (("event", event.slug), ("state", "free")))] == 2
    # The dashboard's p95 reads the same files: every worker's polls.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc))
    assert selectors._duration_buckets()["status_poll"][-1] == (float("inf"), polls)


def _pids_with_histograms(directory: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[-1] for path in directory.glob("histogram_*.db")}


def test_the_sample_alert_rules_parse_and_use_our_metrics():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert set(alerts) == {
        "SurgeAdmissionStalled",
        "SurgeCapturedPaymentWithoutBooking",
        "SurgeWebhookBacklog",
        "SurgePostgresPoolSaturated",
    }
    exposed = (ROOT / "booking_site" / "metrics.py").read_text() + (ROOT / "apps" / "core" / "metrics.py").read_text()
    for rule in alerts.values():
        assert rule["expr"] and rule["annotations"]["summary"]
        for name in {word for word in _words(rule["expr"]) if word.startswith("surge_")}:
            assert f'"{name}"' in exposed, f"{rule['alert']} uses {name}, which /metrics does not expose"


def _words(expr: str) -> list[str]:
    return "".join(c if c.isalnum() or c == "_" else " " for c in expr).split()
