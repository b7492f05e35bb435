"""The drop dashboard (apps/ops): staff only, page and JSON; every figure right after a small
scripted sale (real holds, a real payment through the emulator, a failed one, a late one refunded,
a room with people inside and waiting, a webhook waiting, two gates); one statement per refresh,
served from the cache within a second; /metrics shows the same figures."""

import time
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.booking import services
from apps.booking.models import BookedSeat
from apps.booking.tickets import code_of
from apps.ops import selectors
from apps.payments import gateway
from apps.payments import services as payments
from apps.waitingroom import services as room
from booking_site import metrics as scrape
from tests.factories import browser, buyer, make_event
from tests.ops.test_metrics import AUTH, TOKEN, samples
from tests.payments.conftest import pay, signed_webhook
from tests.waitingroom.conftest import open_room

PAGE = "/admin/ops/dashboard/"
JSON = "/admin/ops/dashboard/figures.json"
PRICE = 150000  # make_event's price of a seat, paise


def staff_client() -> Client:
    user = User.objects.create_user("ops", password="x", is_staff=True)  # noqa: S106
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_and_non_staff_are_sent_to_the_login(db):
    make_event(rows=1, seats_per_row=2)
    buyer_account = User.objects.create_user("someone", password="x")  # noqa: S106
    signed_in = Client()
    signed_in.force_login(buyer_account)
    for client in (Client(), signed_in):
        for url in (PAGE, JSON, f"{PAGE}1/"):
            answer = client.get(url)
            assert answer.status_code == 302, url
            assert answer["Location"].startswith("/admin/login/"), url


def test_the_page_renders_for_staff_with_its_charts_and_the_admin_and_the_event_link_to_it(db):
    event = make_event(rows=1, seats_per_row=4)
    client = staff_client()
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-chart="people"' in html and "uPlot.iife.min.js" in html and "js/dashboard.js" in html
    assert f'href="{PAGE}{event.id}/"' in html  # each event on sale has its own
    assert 'data-figure="seats_free">4<' in html
    one = client.get(f"{PAGE}{event.id}/")
    assert one.status_code == 200 and event.name in one.content.decode()
    assert client.get(f"{PAGE}999999/").status_code == 404
    assert PAGE in client.get("/admin/").content.decode()
    superuser = User.objects.create_superuser("boss", password="x")  # noqa: S106
    client.force_login(superuser)
    change = client.get(f"/admin/booking/event/{event.id}/change/")
    assert f'href="{PAGE}{event.id}/"' in change.content.decode()  # from the event's own page


def test_bad_input_is_a_clear_400_and_an_unknown_event_a_404(db):
    client = staff_client()
    assert client.get(JSON, {"event": "abc"}).status_code == 400
    assert client.get(JSON, {"event": "-1"}).status_code == 400
    assert client.get(JSON, {"event": "999999"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_every_figure_is_right_after_a_scripted_sale(gateway_url, settings):
    settings.METRICS_TOKEN = TOKEN
    event = make_event(rows=2, seats_per_row=5)  # A-1..A-5, B-1..B-5
    client = staff_client()
    open_room(event, capacity=3, rate_per_minute=6000)
    first = client.get(JSON, {"event": event.id}).json()  # the baseline the rates step from
    assert first["window_s"] is None and first["events"][0]["per_minute"]["holds"] is None
    time.sleep(1.1)  # past the cache's second

    for n in range(5):  # five arrivals poll (and join); three are let in
        assert browser(f"visitor-{n}").get(f"/queue/{event.slug}/status").status_code == 200
    room.admit_visitors(event_id=event.id, single_flight=False)

    httpx.post(f"{gateway_url}/_emulator/faults", json={"drop_first": 1000}, timeout=5)  # webhooks: by hand
    paid = services.hold_seats(event=event, seat_labels=["A-1", "A-2"], **buyer(1)).intent
    order = payments.ensure_order(intent=paid)
    captured = pay(gateway_url, order.order_id, "success")
    payments.record_capture(order_id=order.order_id, payment_id=captured["razorpay_payment_id"])
    past = timezone.now() - timedelta(hours=1)
    late = services.hold_seats(event=event, seat_labels=["A-5"], now=past, **buyer(2)).intent
    late_order = payments.ensure_order(intent=late)
    services.expire_intents()
    services.hold_seats(event=event, seat_labels=["A-5"], **buyer(4))  # resold meanwhile: the late one is refunded
    late_capture = pay(gateway_url, late_order.order_id, "success")
    late_payment = gateway.fetch_payment(late_capture["razorpay_payment_id"])
    settings.RAZORPAY_API_URL = "http://127.0.0.1:9"  # Razorpay unreachable: the refund stays requested (pending)
    payments.record_capture(order_id=late_order.order_id, payment_id=late_payment["id"], remote=late_payment)
    settings.RAZORPAY_API_URL = gateway_url
    failing = payments.ensure_order(intent=services.hold_seats(event=event, seat_labels=["B-1"], **buyer(3)).intent)
    payments.record_failure(order_id=failing.order_id, payment_id="pay_declined1", reason="card declined")
    services.hold_seats(event=event, seat_labels=["B-2"], **buyer(5))
    body, headers = signed_webhook("payment.captured", payment=gateway.fetch_payment(captured["razorpay_payment_id"]))
    webhook_headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    webhook_headers.pop("HTTP_CONTENT_TYPE")
    delivered = Client().post("/payments/razorpay/webhook/", body, content_type="application/json", **webhook_headers)
    assert delivered.status_code == 200
    booked = {s.seat.label: s for s in BookedSeat.objects.select_related("seat", "booking")}
    for label, gate in (("A-1", "north"), ("A-2", "south")):
        code = code_of(booked[label], reference=booked[label].booking.reference).text
        assert services.check_in(event=event, code=code, gate=gate).outcome == "admitted"
    time.sleep(1.1)

    figures = client.get(JSON, {"event": event.id}).json()
    shown = figures["events"][0]
    assert shown["id"] == event.id
    assert (shown["waiting"], shown["inside"], shown["admitted"], shown["admitted_last_minute"]) == (2, 3, 3, 3)
    assert shown["rate_per_minute"] == 6000
    assert (shown["seats_free"], shown["seats_held"], shown["seats_sold"]) == (5, 3, 2)
    assert (shown["holds"], shown["sales"]) == (5, 1)
    assert shown["captured_paise"] == 3 * PRICE  # and the late A-5
    assert shown["refunded_paise"] == PRICE  # the late payment, on its way back
    assert shown["revenue_paise"] == 2 * PRICE
    assert (shown["payments_failed"], shown["late_payments"], shown["refunds_pending"]) == (1, 1, 1)
    assert shown["checkins"] == 2 and shown["checkins_by_gate"] == {"north": 1, "south": 1}
    window = figures["window_s"]
    assert window and window >= 1
    for name, moved in (("admitted", 3), ("holds", 5), ("sales", 1), ("payments_failed", 1), ("late_payments", 1)):
        assert shown["per_minute"][name] == round(moved * 60 / window, 1), name
    assert figures["webhook_backlog"] == 1 and figures["webhook_backlog_age_s"] >= 0
    assert figures["unbooked_payments"] == 0
    assert set(figures["celery_queues"]) == {"default", "confirmations", "emails", "reconciliation"}
    assert figures["db_connections"] >= figures["db_connections_active"] >= 1
    assert figures["db_max_connections"] > 1 and figures["db_pool_max_size"] == 80
    assert figures["latency_p95_s"]["status_poll"] > 0  # the five polls, within the window
    assert figures["latency_counts"]["status_poll"] >= 5
    assert figures["totals"]["holds"] == 5 and figures["totals"]["revenue_paise"] == 2 * PRICE

    page = client.get(f"{PAGE}{event.id}/").content.decode()
    assert 'data-figure="revenue_paise" data-format="rupees">₹3,000<' in page  # en-IN, from apps.core.money

    # /metrics shows the same refresh's figures (one selector: they cannot disagree).
    scraped = samples(Client().get("/metrics", **AUTH).content.decode())
    by_event = (("event", event.slug),)
    assert scraped[("surge_admissions_total", by_event)] == 3
    assert scraped[("surge_event_holds_total", by_event)] == 5
    assert scraped[("surge_event_bookings_total", by_event)] == 1
    assert scraped[("surge_revenue_paise", by_event)] == 2 * PRICE
    assert scraped[("surge_refunds_pending", by_event)] == 1
    assert scraped[("surge_checkins_total", (("event", event.slug), ("gate", "north")))] == 1
    assert scraped[("surge_webhook_backlog", ())] == 1


def test_a_refresh_is_one_statement_and_a_second_within_the_second_none(db):
    for _ in range(3):
        event = make_event(rows=2, seats_per_row=3)
        services.hold_seats(event=event, seat_labels=["A-1"], **buyer(event.id))
    with CaptureQueriesContext(connection) as queries:
        figures = selectors.drop_figures()
    assert len(queries) == 1
    assert len(figures.events) == 3 and figures.totals.seats_held == 3
    with CaptureQueriesContext(connection) as queries:
        assert selectors.drop_figures().at_ms == figures.at_ms
    assert len(queries) == 0


def test_while_one_process_refreshes_the_others_serve_the_last_figures(db):
    make_event(rows=1, seats_per_row=2)
    kept = selectors.drop_figures()
    time.sleep(1.05)
    assert cache.add(selectors._lock_key(selectors.ALL), 1, timeout=5)  # another process is refreshing
    with CaptureQueriesContext(connection) as queries:
        assert selectors.drop_figures().at_ms == kept.at_ms
    assert len(queries) == 0
    cache.delete(selectors._lock_key(selectors.ALL))
    assert selectors.drop_figures().at_ms > kept.at_ms


def test_figures_cached_by_another_release_are_a_miss_not_an_error(db):
    make_event(rows=1, seats_per_row=2)
    kept = selectors.drop_figures().as_json()
    cache.set(selectors._cache_key(selectors.ALL), {**kept, "a_field_since_removed": 1}, timeout=60)
    with CaptureQueriesContext(connection) as queries:
        assert selectors.drop_figures().events[0].seats_free == 2
    assert len(queries) == 1  # refreshed


def test_p95_reads_the_buckets_as_prometheus_does():
    inf = float("inf")
    assert selectors.quantile(0.95, []) is None
    assert selectors.quantile(0.95, [(0.1, 0.0), (inf, 0.0)]) is None
    # 100 requests: 90 under 10 ms, 10 between 10 and 50 ms: the 95th is halfway through the second.
    assert selectors.quantile(0.95, [(0.01, 90.0), (0.05, 100.0), (inf, 100.0)]) == pytest.approx(0.03)
    assert selectors.quantile(0.95, [(0.01, 1.0), (inf, 100.0)]) == 0.01  # in +Inf: the largest bound


def test_the_admit_script_counts_every_admission_and_a_paused_room_is_not_admitting(db):
    event = make_event(rows=1, seats_per_row=4)
    open_room(event, capacity=10, rate_per_minute=6000)
    for n in range(4):
        assert browser(f"v-{n}").get(f"/queue/{event.slug}/status").status_code == 200
    room.admit_visitors(event_id=event.id, single_flight=False)
    room.admit_visitors(event_id=event.id, single_flight=False)  # nobody left: counts nothing
    figures = selectors.drop_figures(max_age=0).events[0]
    assert (figures.admitted, figures.admitting) == (4, True)
    open_room(event, paused=True)  # ops paused it: waiting without admissions is no stall
    assert selectors.drop_figures(max_age=0).events[0].admitting is False
    open_room(event, paused=False, mode="off")
    assert selectors.drop_figures(max_age=0).events[0].admitting is False


def test_scrape_and_dashboard_share_one_refresh(db, settings, monkeypatch):
    settings.METRICS_TOKEN = TOKEN
    make_event(rows=1, seats_per_row=2)
    monkeypatch.setattr(scrape, "SCRAPE_CACHE_SECONDS", 1.0)
    client = staff_client()
    at = client.get(JSON).json()["at_ms"]
    with CaptureQueriesContext(connection) as queries:
        assert Client().get("/metrics", **AUTH).status_code == 200
    assert len(queries) == 0
    assert selectors.drop_figures().at_ms == at


def test_rates_step_from_the_newest_snapshot_at_least_a_minute_old():
    def keep(at_ms: int) -> int | None:
        baseline = selectors._history("test", {"at_ms": at_ms, "events": {}, "buckets": {}})
        return None if baseline is None else baseline["at_ms"]

    t0 = 1_700_000_000_000
    assert keep(t0) is None  # the first refresh: nothing to step from
    assert keep(t0 + 30_000) == t0  # none a minute old yet: the oldest
    assert keep(t0 + 61_000) == t0
    assert keep(t0 + 95_000) == t0 + 30_000  # the newest at least a minute old
    assert keep(t0 + 10 * 60_000) is None  # nobody watched for five minutes: afresh
    assert keep(t0 + 10 * 60_000 + 1) == t0 + 10 * 60_000
    assert keep(t0 + 11 * 60_000 + 1) == t0 + 10 * 60_000 + 1


def test_a_broker_that_is_not_redis_gives_no_queue_depths_and_no_error(db, settings):
    settings.CELERY_BROKER_URL = "amqp://guest@127.0.0.1:5672//"
    make_event(rows=1, seats_per_row=2)
    assert selectors.drop_figures(max_age=0).celery_queues == {}
