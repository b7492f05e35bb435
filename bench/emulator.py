"""How fast the Razorpay emulator creates orders through the official SDK, against a trivial request.

    python bench/emulator.py --start                      # start an emulator of its own on a free port
    python bench/emulator.py --url http://127.0.0.1:9000  # or measure a running one

Both phases run the same number of client threads for the same time, in the same run, so the ratio
(orders per second / trivial requests per second) says how much an order costs beyond HTTP itself. The
client shares the machine's cores with the emulator: the absolute figures are a floor.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import django
import razorpay
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "booking_site.settings")
django.setup()
from django.conf import settings  # noqa: E402

from devstack.emulator import Emulator  # noqa: E402


def run_phase(name: str, make_call: Callable[[], Callable[[], object]], threads: int, seconds: float) -> dict:
    """Each thread gets its own client (own connection pool) and calls as fast as it can until the deadline."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start_gate = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(n: int) -> None:
        call = make_call()
        call()  # warm the connection
        start_gate.wait()
        while (t0 := time.perf_counter()) < deadline[0]:
            try:
                call()
                latencies[n].append(time.perf_counter() - t0)
            except Exception:
                errors[n] += 1

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for t in pool:
        t.start()
    deadline[0] = time.perf_counter() + 1e9
    start_gate.wait()
    began = time.perf_counter()
    deadline[0] = began + seconds
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    flat = sorted(x for per in latencies for x in per)
    return {
        "name": name,
        "count": len(flat),
        "errors": sum(errors),
        "rps": len(flat) / elapsed,
        "p50_ms": statistics.median(flat) * 1000 if flat else 0.0,
        "p99_ms": flat[int(len(flat) * 0.99) - 1] * 1000 if flat else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="a running emulator (default: RAZORPAY_API_URL)")
    parser.add_argument("--start", action="store_true", help="start an emulator of its own on a free port")
    parser.add_argument("--workers", type=int, default=1, help="emulator worker processes with --start")
    parser.add_argument("--threads", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    args = parser.parse_args()

    emulator = None
    if args.start:
        logs = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
        emulator = Emulator({**os.environ}, logs / "emulator.log", args=["--workers", str(args.workers)]).start()
        url = emulator.url
    else:
        url = args.url or settings.RAZORPAY_API_URL
    auth = (settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET)
    try:

        def trivial() -> Callable[[], object]:
            session = requests.Session()
            return lambda: session.get(url + "/_emulator/health", timeout=10).raise_for_status()

        def create_order() -> Callable[[], object]:
            client = razorpay.Client(auth=auth, base_url=url)
            return lambda: client.order.create({"amount": 50000, "currency": "INR", "receipt": "bench"}, timeout=10)

        results = [
            run_phase("trivial GET /_emulator/health", trivial, args.threads, args.seconds),
            run_phase("SDK order.create", create_order, args.threads, args.seconds),
        ]
    finally:
        if emulator is not None:
            emulator.stop()

    print(f"emulator {url}, {args.threads} client threads, {args.seconds:.0f} s per phase, {os.cpu_count()} cores")
    for r in results:
        print(
            f"  {r['name']:<32} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms"
            f"  ({r['count']} ok, {r['errors']} errors)"
        )
    print(f"  ratio orders/trivial: {results[1]['rps'] / results[0]['rps']:.2f}")


if __name__ == "__main__":
    main()
