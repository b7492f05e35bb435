"""The product's Prometheus counters and latency histograms, counted where the events happen.

One module for every app (apps.core imports no app, so any app may import this one). With
PROMETHEUS_MULTIPROC_DIR set (scripts/run.sh sets and wipes it before the processes start),
prometheus-client writes each process's values to a file there and the scrape sums them, so every
gunicorn worker of both lanes and every Celery worker counts. Unset, each process counts alone.
The scrape-time figures (seats, rooms, sales, revenue, backlogs, check-ins) are the drop dashboard's
(apps/ops/selectors.py, shown by booking_site/metrics.py), and so are admissions: the waiting room's
admit script (a status poll admits too) keeps their running total in Redis, where the scrape reads
it. The histograms below also feed the dashboard's p95 latencies."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from prometheus_client import Counter, Histogram

HOLDS = Counter("surge_holds_total", "Holds made (seats taken for a buyer).")
HOLDS_REFUSED = Counter("surge_holds_refused_total", "Holds refused, by reason.", ["reason"])
BOOKINGS_CONFIRMED = Counter("surge_bookings_confirmed_total", "Bookings confirmed (a paid intent became a booking).")
PAYMENTS_FAILED = Counter("surge_payments_failed_total", "Payment attempts recorded as failed.")
LATE_PAYMENTS = Counter("surge_late_payments_total", "Captures that arrived after the hold had ended.")
REFUNDS = Counter("surge_refunds_total", "Refunds requested (one per Razorpay payment, however often asked).")

# A fixed set of views, so the label never grows with URLs.
TIMED_VIEWS = ("hold", "status_poll")
REQUEST_DURATION = Histogram(
    "surge_request_duration_seconds",
    "Time to answer the hot requests, by view.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_DURATION_OF = {view: REQUEST_DURATION.labels(view=view) for view in TIMED_VIEWS}


@contextmanager
def timed(view: str) -> Iterator[None]:
    """Observe the block's wall time under `view` (one of TIMED_VIEWS), whatever it raises."""
    histogram = _DURATION_OF[view]
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)


def timed_view(view: str) -> Callable:
    """`timed` as a view decorator."""

    def decorate(function: Callable) -> Callable:
        @wraps(function)
        def wrapper(*args, **kwargs):
            with timed(view):
                return function(*args, **kwargs)

        return wrapper

    return decorate
