"""`/metrics` for Prometheus: the counters and histograms of apps/core/metrics.py (summed over
every process when PROMETHEUS_MULTIPROC_DIR is set) and gauges computed at scrape time.

It lives in the project package because its gauges read every app's tables. A scrape costs a
fixed handful of queries and one Redis round trip per Redis server whatever the number of events
(grouped queries, pipelines), and its figures are kept for SCRAPE_CACHE_SECONDS, so several
Prometheus servers (or a dashboard) scraping at once cost no more."""

import hmac
import os
import threading
import time
from collections.abc import Iterable

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.booking.models import Event, Seat, SeatQuerySet
from apps.core.clock import now_ms
from apps.core.models import OutboxMessage
from apps.payments.models import Payment, WebhookEvent
from apps.waitingroom import queue
from apps.waitingroom.contract import RATE_WINDOW_MS, RoomKeys

SCRAPE_CACHE_SECONDS = 1.0
# A Redis-broker queue is a list per priority step: "emails", "emails\x06\x163", ... (kombu's names).
CELERY_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def _age_seconds(oldest, now) -> float:
    return (now - oldest).total_seconds() if oldest else 0.0


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class SurgeCollector(Collector):
    """The gauges of a drop, read from PostgreSQL and Redis at scrape time and kept for a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[float, list[Metric]] = (float("-inf"), [])
        self._broker: redis.Redis | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            at, metrics = self._kept
            if time.monotonic() - at >= SCRAPE_CACHE_SECONDS:
                metrics = self._read()
                self._kept = (time.monotonic(), metrics)
        return metrics

    def _broker_client(self) -> redis.Redis:
        if self._broker is None:
            self._broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        return self._broker

    def _read(self) -> list[Metric]:
        now = timezone.now()
        on_sale = list(
            Seat.objects.filter(event__status=Event.Status.ON_SALE)
            .values("event_id", "event__slug")
            .annotate(
                free=Count("id", filter=SeatQuerySet.free_q(now)),
                held=Count("id", filter=SeatQuerySet.on_hold_q(now)),
                sold=Count("id", filter=Q(status=Seat.Status.SOLD)),
            )
            .order_by("event_id")
        )
        seats = GaugeMetricFamily("surge_seats", "Seats of each event on sale, by state.", labels=["event", "state"])
        for row in on_sale:
            for state in ("free", "held", "sold"):
                seats.add_metric([row["event__slug"], state], row[state])

        room = queue.client().pipeline(transaction=False)
        for row in on_sale:
            keys = RoomKeys.of(row["event_id"])
            room.zcard(keys.line)
            room.zcard(keys.early)
            room.zcard(keys.inside)
            room.zcount(keys.admitted, now_ms() - RATE_WINDOW_MS, "+inf")
            room.hget(keys.cfg, "rate")
        counts = room.execute() if on_sale else []
        by_event = ["event"]
        waiting = GaugeMetricFamily("surge_room_waiting", "People waiting in each event's room.", labels=by_event)
        inside = GaugeMetricFamily("surge_room_inside", "People let in and still inside, per event.", labels=by_event)
        admitted = GaugeMetricFamily(
            "surge_room_admitted_last_minute", "People let in during the last minute, per event.", labels=by_event
        )
        rate = GaugeMetricFamily(
            "surge_room_rate_per_minute", "Each room's configured admission rate.", labels=by_event
        )
        for index, row in enumerate(on_sale):
            line, early, in_room, last_minute, per_minute = counts[5 * index : 5 * index + 5]
            waiting.add_metric([row["event__slug"]], line + early)
            inside.add_metric([row["event__slug"]], in_room)
            admitted.add_metric([row["event__slug"]], last_minute)
            rate.add_metric([row["event__slug"]], float(per_minute or 0))

        webhooks = WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.PENDING).aggregate(
            count=Count("id"), oldest=Min("received_at")
        )
        outbox = OutboxMessage.objects.filter(delivered_at__isnull=True).aggregate(
            count=Count("id"), oldest=Min("created_at")
        )
        unbooked = Payment.objects.filter(status=Payment.Status.CAPTURED, intent__booking__isnull=True).aggregate(
            count=Count("id"), oldest=Min("captured_at")
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE state <> 'idle'), current_setting('max_connections')::int"
                " FROM pg_stat_activity WHERE datname = current_database()"
            )
            open_connections, active_connections, max_connections = cursor.fetchone()

        broker = self._broker_client().pipeline(transaction=False)
        queue_names = settings.CELERY_QUEUES_ALL.split(",")
        for name in queue_names:
            for suffix in CELERY_PRIORITY_SUFFIXES:
                broker.llen(name + suffix)
        lengths = broker.execute()
        depths = GaugeMetricFamily("surge_celery_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])
        steps = len(CELERY_PRIORITY_SUFFIXES)
        for index, name in enumerate(queue_names):
            depths.add_metric([name], sum(lengths[index * steps : (index + 1) * steps]))

        pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
        return [
            seats,
            waiting,
            inside,
            admitted,
            rate,
            _gauge("surge_webhook_backlog", "Razorpay webhooks received and not processed yet.", webhooks["count"]),
            _gauge(
                "surge_webhook_backlog_oldest_age_seconds",
                "Age of the oldest unprocessed webhook (0 when none).",
                _age_seconds(webhooks["oldest"], now),
            ),
            _gauge("surge_outbox_backlog", "Outbox announcements not delivered to every receiver.", outbox["count"]),
            _gauge(
                "surge_outbox_backlog_oldest_age_seconds",
                "Age of the oldest undelivered announcement (0 when none).",
                _age_seconds(outbox["oldest"], now),
            ),
            _gauge("surge_payments_captured_unbooked", "Captured payments with no booking (yet).", unbooked["count"]),
            _gauge(
                "surge_payments_captured_unbooked_oldest_age_seconds",
                "Age of the oldest captured payment with no booking (0 when none).",
                _age_seconds(unbooked["oldest"], now),
            ),
            depths,
            _gauge("surge_db_connections", "Connections open to this database (every process).", open_connections),
            _gauge("surge_db_connections_active", "Of those, the ones running a query now.", active_connections),
            _gauge("surge_db_max_connections", "PostgreSQL's max_connections.", max_connections),
            _gauge("surge_db_pool_max_size", "DB pool size of one process (DB_POOL_MAX).", pool.get("max_size", 0)),
        ]


COLLECTOR = SurgeCollector()


def registry() -> CollectorRegistry:
    """Every process's counters (multiprocess mode) or this process's (not), and the gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape = CollectorRegistry()
        scrape.register(_DefaultRegistryView())
    scrape.register(COLLECTOR)
    return scrape


class _DefaultRegistryView(Collector):
    """The process's own metrics (the default registry), read through without re-registering them."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape. Without METRICS_TOKEN configured the endpoint does not exist (404);
    with it, a request without that bearer token gets 401."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    if not _token_matches(request, token):
        response = HttpResponse("A bearer token is required.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
