"""What the waiting room costs: req/s and p50/p99 over HTTP, in one run, of

  gated    the seat availability of an event whose room is on, for an admitted visitor
  off      the same document of an event whose room is off
  status   the waiting page's status endpoint, for a visitor in line
  trivial  /healthz (touches nothing)

plus the gate alone, called in-process (token check + one Redis round trip), which is
the figure the "< 0.5 ms at p50" target is about.

  python bench/gate.py --start              # own database, Redis db 12, gunicorn on :8765
  python bench/gate.py --url http://127.0.0.1:8000   # a server already running with this env

Targets: gate p50 < 0.5 ms; status >= 70 % of the trivial view's rate.
"""

import argparse
import http.client
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack.processes import ensure_database  # noqa: E402
from devstack.stack import web_server  # noqa: E402

BENCH_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/surge_wr_bench",
    "REDIS_URL": "redis://127.0.0.1:6379/12",
    "SECRET_KEY": "bench-secret-key",
    "DEBUG": "false",
    "HTTPS": "false",  # plain http://127.0.0.1, as every load run
    "DJANGO_SETTINGS_MODULE": "booking_site.settings",
    "LOG_LEVEL": "WARNING",
    "RAZORPAY_EMULATOR_ENABLED": "true",  # the settings' local keys: this benchmark pays nothing
}


def _worker(url: str, path: str, cookie: str, seconds: float, out) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Cookie": cookie, "Accept": "text/html"} if cookie else {"Accept": "text/html"}
    if path.endswith("/status"):
        headers["Accept"] = "application/json"
    latencies, errors = [], 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            continue
        latencies.append(time.perf_counter() - started)
    out.put((latencies, errors))


def load(url: str, path: str, cookie: str, seconds: float, clients: int) -> tuple[list[float], int]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, path, cookie, seconds, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    return [x for r in results for x in r[0]], sum(r[1] for r in results)


def summarise(latencies: list[float], errors: int, seconds: float) -> dict:
    latencies = sorted(latencies)
    return {
        "rps": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "n": len(latencies),
        "errors": errors,
    }


@contextmanager
def started_server(port: int) -> Iterator[None]:
    """gunicorn on its own database (migrated, static files collected), stopped on exit."""
    env = {**os.environ, "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2")}
    ensure_database(env)
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as logs:
        workers = int(env["WEB_CONCURRENCY"])
        with web_server(env, Path(logs), port=port, workers=workers, threads=int(env.get("GUNICORN_THREADS", "4"))):
            yield


def setup_data():
    """Two events (room on, room off), one visitor admitted, one waiting: returns paths and cookies."""
    import django

    django.setup()
    from django.utils import timezone

    from apps.booking import services as booking
    from apps.booking.models import Event
    from apps.waitingroom import queue, services, tokens

    stamp = timezone.now().strftime("%H%M%S%f")
    events = {}
    for mode in ("always", "off"):
        event = booking.create_event(
            slug=f"bench-{mode}-{stamp}", name=f"Bench {mode}", starts_at=timezone.now() + timezone.timedelta(days=9)
        )
        booking.generate_seat_grid(event=event, seats_per_row=20, tiers=[("Standard", 10, 100000)])
        config = services.update_config(event=Event.objects.get(pk=event.pk), mode=mode, capacity=1, rate_per_minute=60)
        services.mirror_config(config=config)
        events[mode] = event
    on = events["always"]
    conn = queue.client()
    queue.join(conn, on.id, "bench-inside", services.now_ms())
    assert queue.admit(conn, on.id, services.now_ms()).admitted == ["bench-inside"]
    queue.join(conn, on.id, "bench-waiting", services.now_ms())
    token, _ = tokens.issue(event_id=on.id, visitor_id="bench-inside")
    inside_cookie = (
        f"{tokens.VISITOR_COOKIE}={tokens.visitor_cookie_value('bench-inside')}; {tokens.cookie_name(on.id)}={token}"
    )
    return (
        {
            "gated": (f"/events/{on.slug}/seats/availability.json", inside_cookie),
            "off": (
                f"/events/{events['off'].slug}/seats/availability.json",
                f"{tokens.VISITOR_COOKIE}={tokens.visitor_cookie_value('bench-other')}",
            ),
            "status": (
                f"/queue/{on.slug}/status",
                f"{tokens.VISITOR_COOKIE}={tokens.visitor_cookie_value('bench-waiting')}",
            ),
            "trivial": ("/healthz", ""),
        },
        on,
        token,
    )


def gate_in_process(event, token: str, rounds: int = 5000) -> dict:
    """The middleware alone: what a gated request pays before the view runs."""
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.waitingroom import tokens
    from apps.waitingroom.middleware import WaitingRoomGate

    gate = WaitingRoomGate(lambda request: HttpResponse("x"))
    factory = RequestFactory()

    def request(path):
        r = factory.get(path)
        r.session = SessionStore()
        r.COOKIES = {
            tokens.VISITOR_COOKIE: tokens.visitor_cookie_value("bench-inside"),
            tokens.cookie_name(event.id): token,
        }
        return r

    seats, other = f"/events/{event.slug}/seats/availability.json", "/about/"
    timings = {"admitted": [], "not gated": []}
    for label, path in (("admitted", seats), ("not gated", other)):
        for _ in range(200):
            gate(request(path))
        for _ in range(rounds):
            r = request(path)
            started = time.perf_counter()
            response = gate(r)
            timings[label].append(time.perf_counter() - started)
            assert response.status_code == 200
    return {k: (statistics.median(v) * 1000, sorted(v)[int(len(v) * 0.99)] * 1000) for k, v in timings.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    parser.add_argument("--start", action="store_true", help="start gunicorn (own database and Redis db)")
    parser.add_argument("--seconds", type=float, default=5.0, help="total per target")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per target")
    args = parser.parse_args()
    if args.start:
        os.environ.update(BENCH_ENV)  # its own database and Redis db, whatever the shell says
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", BENCH_ENV["DJANGO_SETTINGS_MODULE"])
    with started_server(urlsplit(args.url).port) if args.start else nullcontext():
        targets, event, token = setup_data()
        # Interleaved rounds: this machine is shared, so background load hits every target alike.
        samples = {name: ([], 0) for name in targets}
        for path, cookie in targets.values():
            load(args.url, path, cookie, 0.5, args.clients)  # warm up
        for _ in range(args.rounds):
            for name, (path, cookie) in targets.items():
                latencies, errors = load(args.url, path, cookie, args.seconds / args.rounds, args.clients)
                samples[name] = (samples[name][0] + latencies, samples[name][1] + errors)
        results = {name: summarise(lat, err, args.seconds) for name, (lat, err) in samples.items()}
        in_process = gate_in_process(event, token)

    print(f"\n{args.clients} client processes x {args.seconds:.0f} s each, keep-alive, against {args.url}\n")
    print(f"{'':10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:10}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['errors']:>8}")
    gated, off, status, trivial = (results[k] for k in ("gated", "off", "status", "trivial"))
    print("\nratios")
    print(f"  gated / off      rate {gated['rps'] / off['rps']:.2f}   p50 +{gated['p50'] - off['p50']:.2f} ms")
    print(f"  status / trivial rate {status['rps'] / trivial['rps']:.2f}   (target >= 0.70)")
    print(f"  off / trivial    rate {off['rps'] / trivial['rps']:.2f}")
    print("\ngate in-process (p50 / p99 ms):")
    for label, (p50, p99) in in_process.items():
        print(f"  {label:10} {p50:.3f} / {p99:.3f}")
    print(f"  target: admitted p50 < 0.5 ms -> {'met' if in_process['admitted'][0] < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
