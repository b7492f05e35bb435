"""`/metrics` for Prometheus: the counters and histograms of apps/core/metrics.py (summed over
every process when PROMETHEUS_MULTIPROC_DIR is set) and gauges computed at scrape time.

The gauges are the drop dashboard's figures (apps/ops/selectors.py), so the two never disagree
and nothing is counted twice: a refresh is one SQL statement and a few Redis pipelines whatever
the number of events, kept for SCRAPE_CACHE_SECONDS in the Django cache, so several Prometheus
servers and any number of dashboards cost one refresh a second together."""

import hmac
import os
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.ops.selectors import DropFigures, drop_figures

SCRAPE_CACHE_SECONDS = 1.0


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _per_event(kind, name: str, documentation: str, figures: DropFigures, field: str) -> Metric:
    family = kind(name, documentation, labels=["event"])
    for event in figures.events:
        family.add_metric([event.slug], getattr(event, field))
    return family


class SurgeCollector(Collector):
    """The figures of a drop as gauges and counters: the dashboard's own (apps.ops.selectors,
    refreshed at most once per SCRAPE_CACHE_SECONDS for every scraper and screen together)."""

    def collect(self) -> Iterable[Metric]:
        return self.metrics(drop_figures(max_age=SCRAPE_CACHE_SECONDS))

    @staticmethod
    def metrics(figures: DropFigures) -> list[Metric]:
        seats = GaugeMetricFamily("surge_seats", "Seats of each event on sale, by state.", labels=["event", "state"])
        for event in figures.events:
            for state in ("free", "held", "sold"):
                seats.add_metric([event.slug, state], getattr(event, f"seats_{state}"))
        checkins = CounterMetricFamily(
            "surge_checkins_total", "Tickets checked in at the door, per event and gate.", labels=["event", "gate"]
        )
        for event in figures.events:
            for gate, count in event.checkins_by_gate.items():
                checkins.add_metric([event.slug, gate], count)
        depths = GaugeMetricFamily("surge_celery_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])
        for name, depth in figures.celery_queues.items():
            depths.add_metric([name], depth)
        G, C = GaugeMetricFamily, CounterMetricFamily
        return [
            seats,
            _per_event(G, "surge_room_waiting", "People waiting in each event's room.", figures, "waiting"),
            _per_event(G, "surge_room_inside", "People let in and still inside, per event.", figures, "inside"),
            _per_event(
                G,
                "surge_room_admitted_last_minute",
                "People let in during the last minute, per event.",
                figures,
                "admitted_last_minute",
            ),
            _per_event(
                G, "surge_room_rate_per_minute", "Each room's configured admission rate.", figures, "rate_per_minute"
            ),
            _per_event(
                G,
                "surge_room_admitting",
                "1 when a room should be letting people in (on, open, not paused, closed or sold out), else 0.",
                figures,
                "admitting",
            ),
            _per_event(C, "surge_admissions_total", "People ever let in by each event's room.", figures, "admitted"),
            _per_event(C, "surge_event_holds_total", "Holds ever made for each event on sale.", figures, "holds"),
            _per_event(C, "surge_event_bookings_total", "Bookings ever made for each event on sale.", figures, "sales"),
            _per_event(
                G,
                "surge_revenue_paise",
                "Money captured minus money refunded, per event (paise).",
                figures,
                "revenue_paise",
            ),
            _per_event(
                G,
                "surge_event_payments_failed",
                "Orders whose payment failed and was not made since, per event.",
                figures,
                "payments_failed",
            ),
            _per_event(
                C,
                "surge_event_late_payments_total",
                "Payments captured after their hold had ended.",
                figures,
                "late_payments",
            ),
            _per_event(
                G,
                "surge_refunds_pending",
                "Refunds asked for and not processed yet, per event.",
                figures,
                "refunds_pending",
            ),
            checkins,
            _gauge(
                "surge_webhook_backlog", "Razorpay webhooks received and not processed yet.", figures.webhook_backlog
            ),
            _gauge(
                "surge_webhook_backlog_oldest_age_seconds",
                "Age of the oldest unprocessed webhook (0 when none).",
                figures.webhook_backlog_age_s,
            ),
            _gauge(
                "surge_outbox_backlog", "Outbox announcements not delivered to every receiver.", figures.outbox_backlog
            ),
            _gauge(
                "surge_outbox_backlog_oldest_age_seconds",
                "Age of the oldest undelivered announcement (0 when none).",
                figures.outbox_backlog_age_s,
            ),
            _gauge(
                "surge_payments_captured_unbooked",
                "Captured payments with no booking (yet).",
                figures.unbooked_payments,
            ),
            _gauge(
                "surge_payments_captured_unbooked_oldest_age_seconds",
                "Age of the oldest captured payment with no booking (0 when none).",
                figures.unbooked_payments_age_s,
            ),
            depths,
            _gauge(
                "surge_db_connections", "Connections open to this database (every process).", figures.db_connections
            ),
            _gauge(
                "surge_db_connections_active", "Of those, the ones running a query now.", figures.db_connections_active
            ),
            _gauge("surge_db_max_connections", "PostgreSQL's max_connections.", figures.db_max_connections),
            _gauge("surge_db_pool_max_size", "DB pool size of one process (DB_POOL_MAX).", figures.db_pool_max_size),
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
