"""The ticket drop: thousands of buyers through the whole flow, then the audit and a picture.

    python -m bench.surge --start                       # 5,000 buyers, 1,000 seats, the production stack
    python -m bench.surge --start --buyers 300 --seats 120 --ci   # the CI-sized run (under a minute)

Each buyer is an independent browser (its own cookies) playing the real HTTP flow: event page →
waiting room (polling its status as the page does) → seat map → hold of 1-4 seats (popular seats,
any free ones, a retry after a conflict) → checkout (order created) → pay, fail, abandon or pay
late through the emulator's scripted path → verify callback → ticket page.

With --start it starts the stack the production way (gunicorn, Celery worker and beat, the
Razorpay emulator) on a fresh database, creates the event with `manage.py create_event`
(operator set-up, not measured) and measures only over HTTP. Afterwards it runs
`audit_bookings`, prints every invariant and exits non-zero if any is broken. It writes the
figures as JSON and draws a PNG timeline (matplotlib).
"""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import httpx

from bench import seatmap
from bench.common import (
    HTTP_ERRORS,
    ROOT,
    Crowd,
    Http,
    Reply,
    Stats,
    bench_env,
    describe_machine,
    drive,
    ensure_database,
    front,
    manage,
    process,
    run_load,
    wait_http,
)

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CHECKOUT_OPTIONS = re.compile(r'<script id="checkout-options" type="application/json">(.*?)</script>', re.S)
OUT = ROOT / "bench" / "out"
ARRIVAL_STEPS = ("event page", "queue status")


# --- One buyer -------------------------------------------------------------------------------------


@dataclass
class Buyer:
    index: int
    cookies: dict[str, str] = field(default_factory=dict)
    ticket: int | None = None  # the arrival number the waiting room gave (its join order)
    admitted_at: float | None = None  # server's admission time (ms)
    outcome: str = "pending"
    intent: str | None = None
    first_at: float | None = None  # its first request (s since the opening)
    place_at: float | None = None  # when it first knew its place in line (or was let in)
    requests: int = 0
    requests_to_place: int | None = None  # requests it took from the first one to a known place

    def header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def absorb(self, response: Reply) -> None:
        for raw in response.headers.getall("Set-Cookie", []):
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


@dataclass
class Run:
    base: str
    emulator: str
    slug: str
    args: argparse.Namespace
    steps: dict[str, Stats] = field(default_factory=dict)
    timeline: list[tuple[float, float, int]] = field(default_factory=list)  # (t, latency, status)
    started: float = field(default_factory=time.perf_counter)
    sold_out_at: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    inside_5xx: int = 0
    timeouts: int = 0
    timeouts_inside: int = 0  # of buyers already admitted: the target is zero
    arrival_timeouts: int = 0  # on the arrival path (event page, status polls), every buyer
    arrival_5xx: int = 0
    holds_ok: list[tuple[float, float]] = field(default_factory=list)  # (began, latency) of successful holds

    def stats(self, step: str) -> Stats:
        return self.steps.setdefault(step, Stats(step))

    async def call(self, http: Http, buyer: Buyer, step: str, method: str, url: str, **kwargs) -> Reply:
        headers = {**buyer.header(), **kwargs.pop("headers", {})}
        began = time.perf_counter()
        buyer.requests += 1
        if buyer.first_at is None:
            buyer.first_at = began - self.started
        arrival = step in ARRIVAL_STEPS
        try:
            response = await http.request(method, url, headers=headers, **kwargs)
        except TimeoutError:
            self.arrival_timeouts += arrival
            self.timeouts += 1
            if buyer.admitted_at is not None:
                self.timeouts_inside += 1
            self.errors["timeout"] = self.errors.get("timeout", 0) + 1
            raise
        except HTTP_ERRORS as error:
            kind = type(error).__name__
            self.errors[kind] = self.errors.get(kind, 0) + 1
            raise
        latency = time.perf_counter() - began
        self.stats(step).record(latency, response.status_code)
        self.timeline.append((began - self.started, latency, response.status_code))
        buyer.absorb(response)
        if step == "hold" and response.status_code in (200, 201):
            self.holds_ok.append((began - self.started, latency))
        if response.status_code >= 500:
            self.arrival_5xx += arrival
            self.errors[f"{step} {response.status_code}"] = self.errors.get(f"{step} {response.status_code}", 0) + 1
            if buyer.admitted_at is not None or response.status_code != 503:
                self.inside_5xx += 1
        return response


async def wait_in_line(run: Run, http: Http, buyer: Buyer) -> bool:
    """Poll the waiting room as the page's script does (the event page and the waiting page
    both run it), until admitted (True) or the line ends (False). The first answer is the join."""
    while True:
        try:
            response = await run.call(
                http, buyer, "queue status", "GET", f"/queue/{run.slug}/status", headers={"Accept": "application/json"}
            )
        except HTTP_ERRORS:
            await asyncio.sleep(5 * random.uniform(0.75, 1.25))  # the page's script tries again
            continue
        if response.status_code in (429, 503):
            retry = float(response.headers.get("Retry-After", "1"))
            await asyncio.sleep(retry * random.uniform(0.75, 1.25))  # as the page does: with jitter
            continue
        if response.status_code != 200:
            await asyncio.sleep(1)
            continue
        status = response.json()
        if buyer.place_at is None:
            buyer.place_at = time.perf_counter() - run.started
            buyer.requests_to_place = buyer.requests
        if buyer.ticket is None and isinstance(status.get("arrival"), int):
            buyer.ticket = status["arrival"]
        if status.get("state") in ("admitted", "open"):
            buyer.admitted_at = status.get("admitted_at") or time.time() * 1000
            return True
        if status.get("state") in ("sold_out", "closed"):
            buyer.outcome = status["state"]
            return False
        if time.perf_counter() - run.started > run.args.drop_seconds:
            buyer.outcome = "still in line at the end"  # the run is bounded; the line is not
            return False
        await asyncio.sleep(status.get("poll_after_ms", 1000) / 1000)  # as the page does


async def seat_page(run: Run, http: Http, buyer: Buyer) -> Reply | None:
    """The seat map, going through the waiting room whenever the gate sends the buyer there."""
    for _ in range(50):
        response = await run.call(http, buyer, "seat page", "GET", f"/events/{run.slug}/seats/")
        if response.status_code == 200:
            return response
        if response.status_code in (302, 303) and "/queue/" in response.headers.get("location", ""):
            if not await wait_in_line(run, http, buyer):
                return None
            continue
        if response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        return None
    return None


async def free_seats(run: Run, http: Http, buyer: Buyer) -> list[str] | None:
    """What the shell's script loads after the page: the layout (immutable, from the front's
    cache) and the availability document; None when the gate no longer lets the buyer in."""
    layout = await run.call(http, buyer, "seat layout", "GET", seatmap.layout_path(run.slug))
    available = await run.call(http, buyer, "seat availability", "GET", seatmap.availability_path(run.slug))
    if layout.status_code != 200 or available.status_code != 200:
        return None
    return seatmap.free_labels(layout.json(), available.json())


def choose(rng: random.Random, free: list[str], popular: bool) -> list[str]:
    count = min(len(free), rng.choice([1, 1, 2, 2, 2, 3, 4]))
    if popular:
        return sorted(free[: max(count, 8)][:count]) if len(free) >= count else free
    return rng.sample(free, count)


async def one_buyer(run: Run, http: Http, index: int) -> Buyer:
    rng = random.Random(index * 7919 + run.args.seed)
    buyer = Buyer(index)
    args = run.args
    try:
        # The arrival: the event page (the lobby), whose script's first status call is the join.
        # A person whose page did not load (counted) reloads it a few seconds later.
        for attempt in range(5):
            try:
                page = await run.call(http, buyer, "event page", "GET", f"/events/{run.slug}/")
            except HTTP_ERRORS:
                if attempt == 4:
                    raise
                await asyncio.sleep(5 * random.uniform(0.75, 1.25))
                continue
            if page.status_code == 200:
                break
            await asyncio.sleep(float(page.headers.get("Retry-After", "5")) * random.uniform(0.75, 1.25))
        if not await wait_in_line(run, http, buyer):
            return buyer
        held = None
        for _attempt in range(3):  # some retry after a conflict
            page = await seat_page(run, http, buyer)
            if page is None:
                buyer.outcome = buyer.outcome if buyer.outcome != "pending" else "no seat page"
                return buyer
            free = await free_seats(run, http, buyer)
            if free is None:
                buyer.outcome = "no seat map"
                return buyer
            if not free:
                buyer.outcome = "sold out"
                return buyer
            seats = choose(rng, free, rng.random() < args.popular_share)
            response = await run.call(
                http,
                buyer,
                "hold",
                "POST",
                f"/events/{run.slug}/hold/",
                data={
                    "seat": seats,
                    "name": f"Buyer {index}",
                    "email": f"buyer{index}@surge.test",
                    "phone": "+919800000000",
                },
                # As seatmap.js does: the token from the CSRF cookie the shell set, in the header.
                headers={
                    "Accept": "application/json",
                    "Referer": run.base + "/",
                    "X-CSRFToken": buyer.cookies.get("csrftoken", ""),
                },
            )
            if response.status_code in (200, 201):
                held = response.json()
                break
            if response.status_code == 429:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            elif response.status_code != 409:
                buyer.outcome = f"hold {response.status_code}"
                return buyer
        if held is None:
            buyer.outcome = "lost every seat"
            return buyer
        buyer.intent = held["intent"]
        checkout = await run.call(http, buyer, "checkout page", "GET", held["checkout_url"])
        found = CHECKOUT_OPTIONS.search(checkout.text)
        if checkout.status_code != 200 or not found:
            buyer.outcome = f"checkout {checkout.status_code}"
            return buyer
        order_id = json.loads(found.group(1))["order_id"]
        token = CSRF.search(checkout.text).group(1)
        form_headers = {"X-CSRFToken": token, "Accept": "application/json", "Referer": run.base + "/"}
        roll = rng.random()
        if roll < args.abandon_share:
            if rng.random() < 0.5:  # half press "release", half just walk away
                await run.call(
                    http, buyer, "release", "POST", f"/checkout/{buyer.intent}/release/", headers=form_headers
                )
            buyer.outcome = "abandoned"
            return buyer
        await run.call(http, buyer, "pay start", "POST", f"/checkout/{buyer.intent}/pay/start/", headers=form_headers)
        roll -= args.abandon_share
        if roll < args.fail_share:
            await emulator_pay(run, order_id, "failure")
            if rng.random() < 0.5:
                await run.call(
                    http, buyer, "release", "POST", f"/checkout/{buyer.intent}/release/", headers=form_headers
                )
            buyer.outcome = "payment failed"
            return buyer
        roll -= args.fail_share
        if roll < args.late_share:
            await emulator_pay(run, order_id, "late", delay_seconds=args.late_delay)
            buyer.outcome = "paid late"
            return buyer
        answer = await emulator_pay(run, order_id, "success")
        verify = await run.call(
            http, buyer, "verify", "POST", f"/checkout/{buyer.intent}/pay/verify/", data=answer, headers=form_headers
        )
        result = verify.json() if verify.status_code == 200 else {}
        if result.get("status") == "confirmed":
            await run.call(http, buyer, "ticket page", "GET", result["redirect"])
            buyer.outcome = "confirmed"
            if run.sold_out_at is None and not free[len(seats) :]:
                run.sold_out_at = time.perf_counter() - run.started
        else:
            buyer.outcome = f"verify {result.get('status', verify.status_code)}"
    except HTTP_ERRORS:
        buyer.outcome = "http error"
    return buyer


_emulator_client: Http | None = None


async def emulator_pay(run: Run, order_id: str, outcome: str, **extra) -> dict:
    """What the Checkout modal does when the buyer pays (the emulator's scripted path)."""
    try:
        response = await _emulator_client.post(
            f"/_emulator/orders/{order_id}/pay", json_body={"outcome": outcome, **extra}
        )
    except HTTP_ERRORS as error:
        kind = f"emulator {type(error).__name__}"
        run.errors[kind] = run.errors.get(kind, 0) + 1
        raise
    return response.json()


# --- Sampling --------------------------------------------------------------------------------------


async def sample(run: Run, env: dict[str, str], event_id: int, stop: asyncio.Event, samples: list[dict]) -> None:
    """Every 0.5 s: people waiting and inside (Redis), seats held and sold, PostgreSQL connections."""
    import psycopg
    import redis

    db_name = env["DATABASE_URL"].rsplit("/", 1)[-1]
    r = redis.Redis.from_url(env["REDIS_URL"])
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db_name}", autocommit=True) as db:
        while not stop.is_set():
            t = time.perf_counter() - run.started
            connections = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db_name]
            ).fetchone()[0]
            held, sold = db.execute(
                "SELECT count(*) FILTER (WHERE status = 'HELD' AND hold_expires_at > now()), "
                "count(*) FILTER (WHERE status = 'SOLD') FROM booking_seat WHERE event_id = %s",
                [event_id],
            ).fetchone()
            samples.append(
                {
                    "t": round(t, 2),
                    "waiting": r.zcard(f"wr:{{{event_id}}}:line"),
                    "inside": r.zcard(f"wr:{{{event_id}}}:inside"),
                    "held": held,
                    "sold": sold,
                    "pg_connections": connections,
                }
            )
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass


# --- The stack ---------------------------------------------------------------------------------------


def pool_total(args) -> int:
    """The configured ceiling of PostgreSQL connections: every process's pool at its maximum."""
    celery_processes = args.celery_concurrency + 1  # prefork children + the main process (beat is separate)
    lobby = args.lobby_workers * 2  # the lobby's pool (LANES in gunicorn.conf.py): pre-built pages need little
    return (args.workers + celery_processes + 1) * args.pool_max + lobby


@contextmanager
def stack(args, logs: Path):
    """web (gunicorn), Celery worker and beat, and the emulator: the Procfile's way, on local ports."""
    front_port, emulator_port, lobby_port, booking_port = args.port, args.port + 1, args.port + 2, args.port + 3
    base, emulator = f"http://127.0.0.1:{front_port}", f"http://127.0.0.1:{emulator_port}"
    env = bench_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.database}",
        REDIS_URL=args.redis_url,
        DB_POOL_MAX=str(args.pool_max),
        DB_POOL_TIMEOUT="5",
        SITE_URL=base,
        RAZORPAY_API_URL=emulator,
        RAZORPAY_CHECKOUT_JS=f"{emulator}/v1/checkout.js",
        RAZORPAY_EMULATOR_ENABLED="true",
        RAZORPAY_EMULATOR_WEBHOOK_URL=f"{base}/payments/razorpay/webhook/",
        EXPIRE_INTENTS_EVERY_SECONDS="2",
        RECONCILE_AFTER_SECONDS="15",
        RECONCILE_EVERY_SECONDS="5",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(logs / "mail"),
        # Behind the front: the client address is nginx's X-Real-IP. Every limit stays on; the
        # buyers come from many loopback addresses instead.
        LOBBY_CONCURRENCY=str(args.lobby_workers),
        BOOKING_CONCURRENCY=str(args.workers),
        BOOKING_THREADS=str(args.threads),
        BOOKING_DB_POOL_MAX=str(args.pool_max),
    )
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", args.database], check=False)
    ensure_database(env)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    emulator_env = {**env, "REDIS_URL": args.emulator_redis_url}
    redis.Redis.from_url(args.emulator_redis_url).flushdb()
    with ExitStack() as stack_:
        stack_.enter_context(
            process(
                "emulator",
                [sys.executable, "manage.py", "razorpay_emulator", "--port", str(emulator_port), "--workers", "1"],
                emulator_env,
                logs,
            )
        )
        stack_.enter_context(
            process(
                "worker",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "booking_site",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    str(args.celery_concurrency),
                    "-Q",
                    "default,confirmations,emails,reconciliation",
                ],
                env,
                logs,
            )
        )
        stack_.enter_context(
            process(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "booking_site",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "--schedule",
                    str(logs / "beat-schedule"),
                ],
                env,
                logs,
            )
        )
        wait_http(f"{emulator}/_emulator/health")
        stack_.enter_context(front(env, logs, port=front_port, lobby_port=lobby_port, booking_port=booking_port))
        yield env, base, emulator


# --- Figures -------------------------------------------------------------------------------------------


def out_of_order_share(buyers: list[Buyer]) -> float | None:
    """Share of admitted buyers let in while someone who joined before them was still waiting."""
    admitted = [b for b in buyers if b.ticket is not None and b.admitted_at is not None]
    if not admitted:
        return None
    admitted.sort(key=lambda b: b.admitted_at, reverse=True)
    out_of_order, lowest_later, i = 0, float("inf"), 0
    while i < len(admitted):
        j = i
        while j < len(admitted) and admitted[j].admitted_at == admitted[i].admitted_at:
            j += 1
        batch = admitted[i:j]
        out_of_order += sum(1 for b in batch if b.ticket > lowest_later)
        lowest_later = min(lowest_later, *(b.ticket for b in batch))
        i = j
    return out_of_order / len(admitted)


def draw(samples: list[dict], run: Run, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in samples]
    fig, (people, seats, latency) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    people.plot(t, [s["waiting"] for s in samples], label="waiting")
    people.plot(t, [s["inside"] for s in samples], label="inside")
    people.set_ylabel("people")
    people.legend(loc="upper right")
    seats.plot(t, [s["held"] for s in samples], label="seats held")
    seats.plot(t, [s["sold"] for s in samples], label="seats sold")
    seats.plot(t, [s["pg_connections"] for s in samples], label="PostgreSQL connections", linestyle=":")
    seats.set_ylabel("seats / connections")
    seats.legend(loc="upper left")
    buckets: dict[int, list[float]] = {}
    for began, seconds, _status in run.timeline:
        buckets.setdefault(int(began), []).append(seconds * 1000)
    xs = sorted(buckets)
    p50 = [sorted(buckets[x])[len(buckets[x]) // 2] for x in xs]
    p95 = [sorted(buckets[x])[int(len(buckets[x]) * 0.95)] for x in xs]
    latency.plot(xs, p50, label="p50")
    latency.plot(xs, p95, label="p95")
    latency.set_ylabel("request latency (ms)")
    latency.set_xlabel("seconds since the drop opened")
    latency.legend(loc="upper right")
    fig.suptitle(f"Ticket drop: {run.args.buyers:,} buyers, {run.args.seats:,} seats")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


async def arrival_path_phase(base: str, slug: str, requests: int, concurrency: int) -> tuple[Stats, Stats]:
    """The two requests of an arrival, each on its own: the event page (through the front's
    micro-cache) and the first status call (a new visitor each time: the join), spread over many
    source addresses as real arrivals are."""
    crowd = Crowd(base, per_address=1, connections=2)
    try:

        async def event_page(i):
            return await (await crowd.http(i % 600)).get(f"/events/{slug}/")

        async def first_poll(i):  # within every per-address limit: 5 joins per address
            return await (await crowd.http(600 + i % 600)).get(
                f"/queue/{slug}/status", headers={"Accept": "application/json"}
            )

        # A real arrival's status call rides the connection its event page opened: open every
        # address's connection first (not measured), as the trivial view's are.
        async def open_connection(i):
            return await (await crowd.http(i)).get("/healthz")

        await drive("warm-up", 1200, concurrency, open_connection)
        page = await drive("arrival: event page", requests, concurrency, event_page)
        poll = await drive("arrival: first status call (join)", requests, concurrency, first_poll)
    finally:
        await crowd.close()
    return page, poll


async def capacity_phase(base: str, slug: str, buyers: int, concurrency: int) -> Stats:
    """Whole buyers (seat page + hold) per second on an event without a waiting room."""
    from bench.holds import seat_label

    crowd = Crowd(base, per_address=1, connections=2)  # each buyer from an address of its own: caps stay on
    try:

        async def whole_buyer(i):
            http = await crowd.http(20_000 + i)
            page = await http.get(seatmap.shell_path(slug))
            await http.get(seatmap.layout_path(slug))
            await http.get(seatmap.availability_path(slug))
            token = page.cookies["csrftoken"]
            return await http.post(
                f"/events/{slug}/hold/",
                data={"seat": seat_label(i), "name": "W", "email": f"w{i}@surge.test", "phone": "+919800000000"},
                headers={
                    "Accept": "application/json",
                    "Cookie": f"csrftoken={token}",
                    "X-CSRFToken": token,
                    "Referer": base + "/",
                },
            )

        return await drive("whole buyer (seat map + hold)", buyers, concurrency, whole_buyer)
    finally:
        await crowd.close()


def _play_slice(args, base: str, emulator: str, slug: str, indices: list[int], offsets: list[float], started: float):
    """One load-generator process: its share of the buyers, each arriving at its offset after
    `started` (a perf_counter instant, the same clock in every process).

    It runs at the lobby's CPU priority (LOBBY_NICE): the load generator stands for the internet,
    so it must not take the processor from the server it measures, and arrivals (the lobby) may
    not outrank buyers inside (the booking lane) here any more than they do in production."""
    os.nice(args.client_nice)
    return run_load(_play(args, base, emulator, slug, indices, offsets, started))


async def _play(args, base, emulator, slug, indices, offsets, started) -> dict:
    global _emulator_client
    run = Run(base=base, emulator=emulator, slug=slug, args=args)
    run.started = started
    crowd = Crowd(base, per_address=args.buyers_per_address, timeout=args.timeout)
    async with Http(emulator, connections=32) as emulator_http:
        _emulator_client = emulator_http

        async def arrive(i: int) -> Buyer:
            await asyncio.sleep(max(0.0, started + offsets[i] - time.perf_counter()))
            return await one_buyer(run, await crowd.http(i), i)

        try:
            buyers = await asyncio.gather(*(arrive(i) for i in indices))
        finally:
            await crowd.close()
    return {
        "buyers": buyers,
        "steps": run.steps,
        "timeline": run.timeline,
        "errors": run.errors,
        "counters": {
            name: getattr(run, name)
            for name in ("inside_5xx", "timeouts", "timeouts_inside", "arrival_timeouts", "arrival_5xx")
        },
        "holds_ok": run.holds_ok,
        "sold_out_at": run.sold_out_at,
    }


def _merge(run: Run, part: dict) -> None:
    for name, stats in part["steps"].items():
        mine = run.stats(name)
        mine.latencies += stats.latencies
        for code, n in stats.statuses.items():
            mine.statuses[code] = mine.statuses.get(code, 0) + n
    run.timeline += part["timeline"]
    for kind, n in part["errors"].items():
        run.errors[kind] = run.errors.get(kind, 0) + n
    for name, n in part["counters"].items():
        setattr(run, name, getattr(run, name) + n)
    run.holds_ok += part["holds_ok"]
    if part["sold_out_at"] is not None:
        run.sold_out_at = min(run.sold_out_at or part["sold_out_at"], part["sold_out_at"])


async def drop(run: Run, env: dict[str, str], event_id: int) -> tuple[list[Buyer], list[dict], float]:
    """The buyers, spread over several load-generator processes (so that one client process is
    not what is measured), while this process samples the stack."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    args = run.args
    samples: list[dict] = []
    stop = asyncio.Event()
    arrival = random.Random(args.seed)
    offsets = sorted(arrival.uniform(0, args.arrival_seconds) for _ in range(args.buyers))
    processes = max(1, min(args.client_processes, args.buyers))
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        run.started = time.perf_counter() + 4  # the opening: every process is up and waiting by then
        slices = [list(range(n, args.buyers, processes)) for n in range(processes)]
        loop = asyncio.get_running_loop()
        futures = [
            loop.run_in_executor(pool, _play_slice, args, run.base, run.emulator, run.slug, part, offsets, run.started)
            for part in slices
        ]
        await asyncio.sleep(max(0.0, run.started - time.perf_counter()))
        sampler = asyncio.create_task(sample(run, env, event_id, stop, samples))
        parts = await asyncio.gather(*futures)
    flow_seconds = time.perf_counter() - run.started
    buyers: list[Buyer] = []
    for part in parts:
        buyers += part["buyers"]
        _merge(run, part)
    # Let late payments land and their webhooks (or reconciliation) finish before the audit.
    if any(b.outcome == "paid late" for b in buyers):
        await asyncio.sleep(args.late_delay + 8)
    await asyncio.sleep(3)
    stop.set()
    await sampler
    return buyers, samples, flow_seconds


def report(run: Run, buyers, samples, flow_seconds, baseline: Stats, capacity: Stats, audit: dict, audit_ok: bool):
    args = run.args
    for stats in run.steps.values():
        stats.elapsed = flow_seconds  # each step's rate over the whole drop
    outcomes: dict[str, int] = {}
    for b in buyers:
        outcomes[b.outcome] = outcomes.get(b.outcome, 0) + 1
    holds = run.stats("hold")
    holds_ok = holds.statuses.get(201, 0) + holds.statuses.get(200, 0)
    confirmed = outcomes.get("confirmed", 0)
    requests = sum(s.count for s in run.steps.values())
    # Sold out: no seat free any more (sold, or held by a live hold).
    sold_out = next((s["t"] for s in samples if s["sold"] + s["held"] >= args.seats), None)
    all_sold = next((s["t"] for s in samples if s["sold"] >= args.seats), None)
    status_codes: dict[int, int] = {}
    for stats in run.steps.values():
        for code, n in stats.statuses.items():
            status_codes[code] = status_codes.get(code, 0) + n
    fifth = sum(n for code, n in status_codes.items() if code >= 500)
    figures = {
        "machine": describe_machine(),
        "buyers": args.buyers,
        "seats": args.seats,
        "capacity": args.capacity,
        "rate_per_minute": args.rate,
        "flow_seconds": round(flow_seconds, 2),
        "time_to_sell_out_seconds": sold_out,
        "time_to_all_sold_seconds": all_sold,
        "holds": holds_ok,
        "holds_per_second": round(holds_ok / flow_seconds, 2),
        "confirmed_bookings": confirmed,
        "confirmed_per_second": round(confirmed / flow_seconds, 2),
        "requests": requests,
        "requests_per_second": round(requests / flow_seconds, 2),
        "trivial_rps": round(baseline.rate, 1),
        "whole_buyer_rps": round(capacity.rate, 1),
        "whole_buyer_ratio": round(capacity.rate / baseline.rate, 3) if baseline.rate else None,
        "steps": {name: stats.as_dict() for name, stats in run.steps.items()},
        "status_codes": status_codes,
        "expected_conflicts_409": status_codes.get(409, 0),
        "waiting_room_429": status_codes.get(429, 0),
        "errors_5xx": fifth,
        "errors_5xx_inside": run.inside_5xx,
        "timeouts": run.timeouts,
        "timeouts_inside": run.timeouts_inside,
        "errors": run.errors,
        "outcomes": outcomes,
        "fairness_out_of_order_share": out_of_order_share(buyers),
        "pg_connections_peak": max((s["pg_connections"] for s in samples), default=0),
        "pg_pool_total": pool_total(args),
        "audit": audit,
        "audit_clean": audit_ok,
    }
    print(
        f"\n{describe_machine()}: {args.buyers:,} buyers, {args.seats:,} seats, capacity {args.capacity}, "
        f"rate {args.rate}/min"
    )
    print(baseline.line())
    print(capacity.line(baseline))
    for stats in run.steps.values():
        print(stats.line(baseline))
    print(f"\nno seat free after      {sold_out} s; every seat sold after {all_sold} s")
    print(
        f"holds                   {holds_ok} ({figures['holds_per_second']}/s), confirmed {confirmed} "
        f"({figures['confirmed_per_second']}/s), requests {requests} ({figures['requests_per_second']}/s)"
    )
    print(
        f"status codes            {dict(sorted(status_codes.items()))}; timeouts {run.timeouts} "
        f"({run.timeouts_inside} of buyers inside); "
        f"5xx for buyers inside {run.inside_5xx}"
    )
    print(f"outcomes                {outcomes}")
    share = figures["fairness_out_of_order_share"]
    print(f"admitted out of order   {'n/a' if share is None else f'{share:.3%}'}")
    print(f"PostgreSQL connections  peak {figures['pg_connections_peak']} (pool total {figures['pg_pool_total']})")
    print("audit:")
    for name, count in audit.items():
        print(f"  {count:>6}  {name}")
    print("audit clean" if audit_ok else "AUDIT FAILED")
    return figures


def arrival_figures(run: Run, buyers: list[Buyer], baseline: Stats, page: Stats, poll: Stats) -> dict:
    """The front door's figures (top-level keys, for scripts to check)."""
    place = Stats(
        "place in line", [b.place_at - b.first_at for b in buyers if b.place_at is not None and b.first_at is not None]
    )
    to_place = [b.requests_to_place for b in buyers if b.requests_to_place is not None]
    last_arrival = max((b.first_at for b in buyers if b.first_at is not None), default=0.0)
    during = Stats(
        "holds inside during the burst", [latency for began, latency in run.holds_ok if began <= last_arrival]
    )
    first_hold = min((began + latency for began, latency in run.holds_ok), default=None)
    return {
        "arrival_timeouts": run.arrival_timeouts,
        "arrival_5xx": run.arrival_5xx,
        "buyers_without_a_place": sum(1 for b in buyers if b.place_at is None),
        "place_in_line_p50_ms": round(place.pct(50), 1),
        "place_in_line_p99_ms": round(place.pct(99), 1),
        "place_in_line_max_ms": round(place.pct(100), 1),
        "first_hold_after_s": None if first_hold is None else round(first_hold, 3),
        "inside_holds_during_burst": during.count,
        "inside_hold_p99_ms_during_burst": round(during.pct(99), 1) if during.count else None,
        "arrival_window_s": round(last_arrival, 2),
        "arrival_requests_per_buyer": round(sum(to_place) / len(to_place), 3) if to_place else None,
        "arrival_requests_per_buyer_max": max(to_place, default=None),
        "trivial_rps_through_front": round(baseline.rate, 1),
        "event_page_rps": round(page.rate, 1),
        "event_page_ratio": round(page.rate / baseline.rate, 3) if baseline.rate else None,
        "first_status_rps": round(poll.rate, 1),
        "first_status_ratio": round(poll.rate / baseline.rate, 3) if baseline.rate else None,
        "arrival_path_steps": {"event_page": page.as_dict(), "first_status": poll.as_dict()},
    }


def print_arrival(figures: dict, baseline: Stats, page: Stats, poll: Stats) -> None:
    print("\nthe front door (through nginx):")
    print(page.line(baseline))
    print(poll.line(baseline))
    for name in (
        "arrival_timeouts",
        "arrival_5xx",
        "buyers_without_a_place",
        "place_in_line_p50_ms",
        "place_in_line_p99_ms",
        "first_hold_after_s",
        "inside_holds_during_burst",
        "inside_hold_p99_ms_during_burst",
        "arrival_requests_per_buyer",
        "arrival_requests_per_buyer_max",
    ):
        print(f"  {name:<34} {figures[name]}")


def run_audit(env: dict[str, str], run: Run, event_id: int) -> tuple[dict, bool]:
    done = subprocess.run(
        [sys.executable, "manage.py", "audit_bookings", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        audit = json.loads(done.stdout.strip().splitlines()[0])
    except (IndexError, ValueError):
        audit = {"audit did not run": 1}
    audit["queue slots leaked"] = leaked_slots(env, event_id)
    return audit, done.returncode == 0 and audit["queue slots leaked"] == 0


def leaked_slots(env: dict[str, str], event_id: int, settle_seconds: float = 3.0) -> int:
    """Visitors still counted inside although their hold ended (confirmed, released, expired, refunded).

    Redis and PostgreSQL are read one after the other, and a hold that ends in between (the
    expiry sweep runs all along) frees its slot just after its commit: a leak is counted only if
    it is still there after a settle."""
    first = _leaked_slots_now(env, event_id)
    if not first:
        return 0
    time.sleep(settle_seconds)
    return len(first & _leaked_slots_now(env, event_id))


def _leaked_slots_now(env: dict[str, str], event_id: int) -> set[str]:
    import psycopg
    import redis

    r = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    inside = set(r.zrangebyscore(f"wr:{{{event_id}}}:inside", time.time() * 1000, "+inf"))
    if not inside:
        return set()
    db_name = env["DATABASE_URL"].rsplit("/", 1)[-1]
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db_name}") as db:
        rows = db.execute(
            "SELECT session_ref, bool_or(status = 'HELD' AND expires_at > now()) FROM booking_bookingintent "
            "WHERE event_id = %s AND session_ref <> '' GROUP BY session_ref",
            [event_id],
        ).fetchall()
    ended_only = {ref for ref, live in rows if not live}
    return inside & ended_only


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", action="store_true", help="start the stack (required for now)")
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--seats", type=int, default=1000)
    parser.add_argument("--seats-per-row", type=int, default=25)
    parser.add_argument("--capacity", type=int, default=150, help="buyers inside at once")
    parser.add_argument("--rate", type=int, default=1200, help="buyers admitted per minute")
    parser.add_argument("--arrival-seconds", type=float, default=5.0, help="the surge arrives within this window")
    parser.add_argument("--popular-share", type=float, default=0.3)
    parser.add_argument("--fail-share", type=float, default=0.08)
    parser.add_argument("--abandon-share", type=float, default=0.08)
    parser.add_argument("--late-share", type=float, default=0.04)
    parser.add_argument("--late-delay", type=float, default=5.0)
    parser.add_argument("--hold-minutes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn processes of the booking lane")
    parser.add_argument("--threads", type=int, default=4, help="threads per booking-lane process")
    parser.add_argument("--lobby-workers", type=int, default=2, help="gunicorn processes of the lobby lane")
    parser.add_argument("--client-processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--client-nice", type=int, default=5, help="the load generator's nice (the lobby's)")
    parser.add_argument(
        "--buyers-per-address", type=int, default=4, help="buyers behind one source address (a household, a NAT)"
    )
    parser.add_argument("--drop-seconds", type=float, default=150, help="buyers still in line after this stop waiting")
    parser.add_argument("--pool-max", type=int, default=4, help="DB_POOL_MAX per process")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--connections", type=int, default=200, help="HTTP connections the load generator keeps")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--database", default="surge_drop")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--emulator-redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(OUT), help="folder for surge.json, surge.png and logs")
    args = parser.parse_args()
    if not args.start:
        parser.error("--start is required: the benchmark starts its own stack")
    out = Path(args.out)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = -(-args.seats // args.seats_per_row)
    with stack(args, logs) as (env, base, emulator):
        stamp = time.strftime("%H%M%S")
        slug, capacity_slug = f"drop-{stamp}", f"capacity-{stamp}"
        created = manage(
            "create_event",
            "--slug",
            slug,
            "--rows",
            str(rows),
            "--seats-per-row",
            str(args.seats_per_row),
            "--price",
            "150000",
            "--max-per-buyer",
            "4",
            "--hold-minutes",
            str(args.hold_minutes),
            "--capacity",
            str(args.capacity),
            "--rate",
            str(args.rate),
            env=env,
        )
        event_id = int(re.search(r"\(id (\d+)\)", created).group(1))
        manage(
            "create_event",
            "--slug",
            capacity_slug,
            "--rows",
            str(min(args.buyers, 1000) // 50 + 2),
            "--seats-per-row",
            "50",
            "--price",
            "100000",
            "--max-per-buyer",
            "4",
            "--no-waiting-room",
            env=env,
        )
        if args.seats % args.seats_per_row:
            args.seats = rows * args.seats_per_row
        from bench.common import trivial_baseline

        lobby_slug = f"lobby-{stamp}"
        manage(
            "create_event",
            "--slug",
            lobby_slug,
            "--rows",
            "1",
            "--seats-per-row",
            "10",
            "--price",
            "100000",
            "--capacity",
            "1",
            env=env,
        )
        baseline = run_load(trivial_baseline(base, 3000, 32))
        arrival_page, arrival_poll = run_load(arrival_path_phase(base, lobby_slug, 3000, 32))
        capacity = run_load(capacity_phase(base, capacity_slug, min(args.buyers, 1000), 32))
        httpx.get(f"{base}/events/{slug}/", timeout=10)  # the page has been public before the drop opens
        run = Run(base=base, emulator=emulator, slug=slug, args=args)
        buyers, samples, flow_seconds = run_load(drop(run, env, event_id))
        audit, audit_ok = run_audit(env, run, event_id)
        figures = report(run, buyers, samples, flow_seconds, baseline, capacity, audit, audit_ok)
        figures.update(arrival_figures(run, buyers, baseline, arrival_page, arrival_poll))
        print_arrival(figures, baseline, arrival_page, arrival_poll)
    figures["samples"] = samples
    (out / "surge.json").write_text(json.dumps(figures, indent=2))
    draw(samples, run, out / "surge.png")
    print(f"\nwrote {out / 'surge.json'} and {out / 'surge.png'}")
    # The promise: a clean audit, and no 5xx or timeout for anyone already inside. Outside
    # buyers' timeouts (a server that cannot absorb the arrival burst) are reported, not fatal.
    healthy = audit_ok and run.inside_5xx == 0 and run.timeouts_inside == 0
    return 0 if healthy else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
