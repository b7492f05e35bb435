"""PostgreSQL behind PgBouncer in transaction mode (Debian's pgbouncer, devstack.pgbouncer): real
gunicorn processes with DB_BEHIND_PGBOUNCER set, real buyers racing over HTTP. The hold's
guarantees hold there (one winner per seat, the per-buyer limit across tabs, which rests on
transaction-level advisory locks), and a PgBouncer restart mid-traffic costs 503s, never a 500 or
a seat held twice. A control shows the harness is really in transaction mode: a session-level lock
taken through it is inherited by another client."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from apps.booking.models import IntentSeat, Seat
from devstack.pgbouncer import PgBouncer
from tests.factories import make_event, read_seat_map
from tests.processes import web_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bouncer(tmp_path):
    upstream = int(connection.settings_dict["PORT"] or 5432)
    with PgBouncer(tmp_path / "pgbouncer", upstream_port=upstream, pool_size=6) as running:
        yield running


def through(bouncer: PgBouncer) -> dict[str, str]:
    """A product process's settings for PostgreSQL behind PgBouncer."""
    return {"DATABASE_URL": bouncer.url(connection.settings_dict["NAME"]), "DB_BEHIND_PGBOUNCER": "true"}


class Buyer:
    """A browser: opens the seat page and reads its availability (its cookies), then holds as
    seatmap.js does."""

    def __init__(self, base: str, slug: str, n: int, *, email: str | None = None):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.slug, self.n, self.email = slug, n, email or f"buyer{n}@surge.test"

    def read_map(self) -> httpx.Response:
        """The seat page, then its availability (the answer returned: a 503 while the database is away)."""
        return read_seat_map(self.http, self.slug)

    def open(self) -> "Buyer":
        self.read_map().raise_for_status()
        return self

    def hold(self, seat: str) -> httpx.Response:
        return self.http.post(
            f"/events/{self.slug}/hold/",
            data={"seat": seat, "name": f"Buyer {self.n}", "email": self.email, "phone": "+919800000000"},
            headers={"Accept": "application/json", "X-CSRFToken": self.http.cookies["csrftoken"]},
        )


def race(calls) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_holds_race_through_pgbouncer_one_winner_per_seat_and_the_limit_across_tabs(bouncer, tmp_path):
    event = make_event(rows=2, seats_per_row=20, max_seats_per_buyer=2)
    with web_server(tmp_path=tmp_path, workers=2, threads=8, **through(bouncer)) as base:
        buyers = [Buyer(base, event.slug, n).open() for n in range(40)]
        answers = race([lambda b=b: b.hold("A-3") for b in buyers])
        assert sorted(r.status_code for r in answers) == [201] + [409] * 39, [
            r.text for r in answers if r.status_code >= 500
        ]

        # One buyer in ten tabs, each tab a seat of its own: the limit (2) across tabs.
        tabs = [Buyer(base, event.slug, 100 + n, email="tabs@surge.test").open() for n in range(10)]
        answers = race([lambda t=t, n=n: t.hold(f"B-{n + 1}") for n, t in enumerate(tabs)])
        assert sorted(r.status_code for r in answers)[:2] == [201, 201]
        assert (
            all(r.status_code in (201, 409, 422) for r in answers) and sum(r.status_code == 201 for r in answers) == 2
        )

    held = Seat.objects.filter(event=event, status=Seat.Status.HELD)
    assert held.count() == 3
    assert not IntentSeat.objects.values("seat").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_pgbouncer_restarted_mid_traffic_answers_503_then_recovers_and_sells_no_seat_twice(bouncer, tmp_path):
    event = make_event(rows=10, seats_per_row=50)
    event.__class__.objects.filter(pk=event.pk).update(max_held_seats_per_ip=500)  # one test machine, many buyers
    seats = [f"{chr(65 + row)}-{n}" for row in range(10) for n in range(1, 51)]
    with web_server(tmp_path=tmp_path, workers=2, threads=8, **through(bouncer)) as base:
        answers: list[tuple[float, int, str]] = []
        stop = threading.Event()

        def keep_holding(k: int):
            """New buyers one after another (each a browser of its own, so no cap stops them),
            each after a seat of its own; every fifth after A-1."""
            turn = 0
            while not stop.is_set():
                seat = "A-1" if turn % 5 == 4 else seats[(1 + turn * 8 + k) % len(seats)]
                turn += 1
                try:
                    buyer = Buyer(base, event.slug, k * 1000 + turn)
                    reply = buyer.read_map()
                    if reply.status_code == 200:
                        reply = buyer.hold(seat)
                    answers.append((time.monotonic(), reply.status_code, reply.headers.get("Retry-After", "")))
                except (httpx.HTTPError, httpx.HTTPStatusError) as error:  # a connection cut by the restart
                    answers.append((time.monotonic(), 0, type(error).__name__))
                time.sleep(0.1)

        workers = [threading.Thread(target=keep_holding, args=(k,)) for k in range(8)]
        for w in workers:
            w.start()
        time.sleep(1.5)
        restarted_at = time.monotonic()
        bouncer.restart()
        back_at = time.monotonic()
        time.sleep(2.5)
        stop.set()
        for w in workers:
            w.join(30)

    codes = [code for _, code, _ in answers]
    print(f"restart took {back_at - restarted_at:.2f} s; answers: { {c: codes.count(c) for c in set(codes)} }")
    assert 500 not in codes and 502 not in codes and 0 not in codes
    assert all(after for _, code, after in answers if code == 503)  # 503s say when to come back
    assert any(code == 201 for t, code, _ in answers if t < restarted_at)
    assert sum(code == 201 for t, code, _ in answers if t > back_at + 0.5) >= 5  # holds work again
    # No seat twice: each seat in at most one hold, and each held seat belongs to the hold that has it.
    assert not IntentSeat.objects.values("seat").annotate(n=Count("id")).filter(n__gt=1).exists()
    held = Seat.objects.filter(event=event, status=Seat.Status.HELD)
    assert held.count() == sum(code == 201 for code in codes)
    assert all(IntentSeat.objects.filter(seat=s, intent_id=s.intent_id).exists() for s in held)
    call_command("audit_bookings")  # and the invariants hold: no seat twice, no hold past its end


def test_control_transaction_mode_really_shares_server_sessions(bouncer):
    """The harness is really in transaction mode: a session-level advisory lock that one client
    takes through PgBouncer belongs to a server connection another client then gets, so that
    client "holds" it too. Code that relied on session locks would break here; ours takes only
    transaction-level ones (pg_advisory_xact_lock)."""
    name = connection.settings_dict["NAME"]
    with (
        psycopg.connect(bouncer.url(name), autocommit=True, prepare_threshold=None) as a,
        psycopg.connect(bouncer.url(name), autocommit=True, prepare_threshold=None) as b,
    ):
        a_pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert a.execute("SELECT pg_try_advisory_lock(4242)").fetchone()[0]
        b_pid = b.execute("SELECT pg_backend_pid()").fetchone()[0]
        # Between statements the server connection went back to the pool; b got the same one.
        assert b_pid == a_pid
        assert b.execute("SELECT pg_try_advisory_lock(4242)").fetchone()[0]  # b "acquired" a's lock
        b.execute("SELECT pg_advisory_unlock_all()")
