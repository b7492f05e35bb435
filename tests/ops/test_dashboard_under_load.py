"""The dashboard and /metrics under a running CI-sized drop: 300 arrivals joining a room and 300
buyers racing for 100 seats over HTTP against the live server (real threads, real PostgreSQL and
Redis), holds confirmed meanwhile; and, all along, the test thread asks for the dashboard's JSON
and /metrics, counting each request's queries. Each costs at most one query (its refresh, once a
second), none when served from the second's cache; the staff check's user lookup is the admin's,
not the dashboard's, and is counted apart. The figures move during the drop."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.booking import services
from apps.booking.errors import BookingError
from apps.booking.models import BookingIntent, Event
from tests.factories import make_event, read_seat_map
from tests.ops.test_metrics import AUTH, TOKEN
from tests.waitingroom.conftest import open_room

pytestmark = pytest.mark.django_db(transaction=True)

BUYERS, ARRIVALS, ROWS, PER_ROW = 300, 300, 5, 20  # 100 seats


def arrive(base: str, slug: str) -> int:
    """A visitor joins the line (the first status call) and polls once more."""
    with httpx.Client(base_url=base, timeout=20) as http:
        codes = [http.get(f"/queue/{slug}/status").status_code for _ in range(2)]
    return max(codes)


def buy(base: str, slug: str, i: int) -> int:
    """A buyer opens the seat page and reads its availability (its cookies), and holds one seat, as
    seatmap.js does."""
    row, number = divmod(i % (ROWS * PER_ROW), PER_ROW)
    with httpx.Client(base_url=base, timeout=20) as http:
        read_seat_map(http, slug)
        answer = http.post(
            f"/events/{slug}/hold/",
            data={"seat": f"{chr(65 + row)}-{number + 1}", "name": f"Buyer {i}", "email": f"b{i}@x.test"}
            | {"phone": "+919800000000"},
            headers={"Accept": "application/json", "X-CSRFToken": http.cookies["csrftoken"], "Referer": base + "/"},
        )
    return answer.status_code


def confirm_some(event_id: int, stop: threading.Event) -> int:
    """Payments landing meanwhile: held intents become bookings (the service payments calls)."""
    confirmed = 0
    try:
        while not stop.is_set():
            for intent_id in BookingIntent.objects.filter(event_id=event_id, status="HELD").values_list(
                "id", flat=True
            )[:5]:
                try:
                    confirmed += bool(services.confirm_intent(intent_id=intent_id)[1])
                except BookingError:
                    pass
            stop.wait(0.2)
    finally:
        close_old_connections()
    return confirmed


def test_dashboard_and_metrics_cost_at_most_one_query_under_a_drop(live_server, settings):
    settings.METRICS_TOKEN = TOKEN
    unlimited = (100_000, 10_000)
    settings.WAITING_ROOM_RATE_LIMITS = {name: unlimited for name in settings.WAITING_ROOM_RATE_LIMITS}
    lobby = make_event(rows=1, seats_per_row=10)
    open_room(lobby, capacity=50, rate_per_minute=1200)
    sale = make_event(rows=ROWS, seats_per_row=PER_ROW)
    Event.objects.filter(pk=sale.pk).update(max_held_seats_per_ip=1000)  # every buyer comes from 127.0.0.1
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("ops", password="x", is_staff=True))  # noqa: S106
    base = live_server.url

    before = staff.get("/admin/ops/dashboard/figures.json").json()
    costs: list[tuple[str, int, int]] = []  # (what, dashboard queries, staff-check queries)
    seen = []
    with ThreadPoolExecutor(8) as crowd:
        load = [crowd.submit(arrive, base, lobby.slug) for _ in range(ARRIVALS)]
        load += [crowd.submit(buy, base, sale.slug, i) for i in range(BUYERS)]
        stop = threading.Event()
        with ThreadPoolExecutor(1) as payer:
            confirmer = payer.submit(confirm_some, sale.id, stop)
            started = time.monotonic()
            while not all(f.done() for f in load) or time.monotonic() - started < 4:
                assert time.monotonic() - started < 120, "the drop did not finish"
                with CaptureQueriesContext(connection) as queries:
                    answer = staff.get("/admin/ops/dashboard/figures.json")
                assert answer.status_code == 200
                seen.append(answer.json())
                auth = sum('"auth_user"' in q["sql"] for q in queries.captured_queries)
                costs.append(("dashboard", len(queries) - auth, auth))
                with CaptureQueriesContext(connection) as queries:
                    assert Client().get("/metrics", **AUTH).status_code == 200
                costs.append(("metrics", len(queries), 0))
                time.sleep(0.15)
            stop.set()
            confirmed = confirmer.result()
    outcomes = [f.result() for f in load]
    took = time.monotonic() - started
    refreshes = sum(cost == 1 for _, cost, _ in costs)
    print(f"drop of {took:.1f} s: {len(costs)} requests measured, {refreshes} refreshed; {confirmed} confirmed")

    assert all(code < 500 for code in outcomes)
    assert all(cost <= 1 for _, cost, _ in costs), costs
    assert all(auth <= 1 for _, _, auth in costs)  # the admin's staff check: the user, nothing else
    assert sum(cost == 0 for _, cost, _ in costs) > sum(cost == 1 for _, cost, _ in costs) > 1  # cached, refreshed
    assert confirmed > 0

    # The figures moved during the drop, as the crowd did.
    time.sleep(1.1)
    after = staff.get("/admin/ops/dashboard/figures.json").json()
    lobby_now = next(e for e in after["events"] if e["id"] == lobby.id)
    sale_now = next(e for e in after["events"] if e["id"] == sale.id)
    assert before["totals"]["holds"] == 0 and sale_now["holds"] > 50
    assert sale_now["seats_held"] + sale_now["seats_sold"] > 50
    assert sale_now["sales"] == confirmed
    assert lobby_now["admitted"] > 0 and lobby_now["waiting"] + lobby_now["inside"] > 0
    assert any((e["per_minute"]["holds"] or 0) > 0 for f in seen for e in f["events"] if e["id"] == sale.id)
    assert after["latency_p95_s"]["hold"] is not None and after["latency_p95_s"]["status_poll"] is not None
    assert after["latency_counts"]["hold"] - before["latency_counts"]["hold"] == BUYERS
    assert len({f["at_ms"] for f in seen}) > 2  # refreshed along the way, not one frozen answer
