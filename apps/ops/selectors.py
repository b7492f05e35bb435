"""The figures of a drop, computed once for the dashboard and for /metrics (booking_site/metrics.py).

One refresh costs one SQL statement (every per-event count and the backlogs, composed from the
apps' own QuerySets and predicates, so "free" or "held" is spelled where the models spell it),
one Redis pipeline for the rooms, one for the Celery queues, one for the snapshot history, and a
read of the prometheus-client histograms. A refresh is kept in the Django cache for a second and
only one process refreshes at a time (the others serve the last one meanwhile), so any number of
staff screens and Prometheus servers cost one refresh per second.

Rates ("per minute") and the p95 latencies come from running totals: each refresh keeps its
totals in Redis (a sorted set by time, five minutes of them), and a rate is the step between now
and the snapshot about a minute old; the latencies are the step of the histograms' buckets over that window, read like
Prometheus' histogram_quantile."""

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Min, Q, QuerySet, Sum, Value
from django.utils import timezone
from prometheus_client import REGISTRY, multiprocess
from prometheus_client.registry import CollectorRegistry

from apps.booking.models import BookedSeat, Booking, BookingIntent, Event, Seat, SeatQuerySet
from apps.core.clock import now_ms
from apps.core.metrics import REQUEST_DURATION, TIMED_VIEWS
from apps.core.models import OutboxMessage
from apps.payments.models import MONEY_TAKEN_STATUSES, Payment, Refund, WebhookEvent
from apps.waitingroom import queue
from apps.waitingroom.selectors import room_counts

CACHE_SECONDS = 1.0  # a refresh serves every screen and scrape for this long
RATE_WINDOW_MS = 60_000  # "per minute": the step over the last minute of snapshots
SNAPSHOTS_KEPT_MS = 5 * 60_000  # the running totals of the last five minutes' refreshes
ALL = "all"  # the scope of every event on sale
# A Redis-broker queue is a list per priority step: "emails", "emails\x06\x163", ... (kombu's names).
CELERY_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
# Running totals per event whose steps give the per-minute rates.
RATED = ("admitted", "holds", "sales", "payments_failed", "late_payments")


@dataclass
class EventFigures:
    id: int
    slug: str
    name: str
    waiting: int = 0
    inside: int = 0
    rate_per_minute: int = 0  # the room's configured admission rate
    admitting: bool = False  # the room should be letting people in (waitingroom.selectors.RoomCounts)
    admitted: int = 0  # ever (the admit script's counter)
    admitted_last_minute: int = 0  # the room's own window (its admitted set)
    seats_free: int = 0
    seats_held: int = 0
    seats_sold: int = 0
    holds: int = 0  # intents ever made
    sales: int = 0  # bookings ever made
    captured_paise: int = 0
    refunded_paise: int = 0  # refunds asked for and not failed: money on its way back
    revenue_paise: int = 0  # captured minus refunded: the money kept
    payments_failed: int = 0  # orders whose payment failed (and not paid since)
    late_payments: int = 0  # captured after their hold had ended
    refunds_pending: int = 0  # requested or pending at Razorpay
    checkins: int = 0
    checkins_by_gate: dict[str, int] = field(default_factory=dict)
    per_minute: dict[str, float | None] = field(default_factory=dict)  # RATED -> step over the last minute


@dataclass
class DropFigures:
    scope: str
    at_ms: int
    window_s: float | None  # the span the rates and latencies are measured over (None: first refresh)
    events: list[EventFigures]
    totals: EventFigures  # the events added up (id 0)
    webhook_backlog: int
    webhook_backlog_age_s: float
    outbox_backlog: int
    outbox_backlog_age_s: float
    unbooked_payments: int  # captured with no booking (yet)
    unbooked_payments_age_s: float
    celery_queues: dict[str, int]
    db_connections: int  # open to this database, every process
    db_connections_active: int  # running a statement now
    db_max_connections: int
    db_pool_max_size: int  # one process's pool (DB_POOL_MAX)
    latency_p95_s: dict[str, float | None]  # TIMED_VIEWS -> p95 over the window
    latency_counts: dict[str, float]  # TIMED_VIEWS -> requests timed ever (every process)

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, kept: dict) -> "DropFigures":
        """Back from as_json (the cache keeps plain data: figures cached by an older release,
        with other fields, fail here, a miss, rather than as an attribute error in a view)."""
        return cls(
            **{
                **kept,
                "events": [EventFigures(**event) for event in kept["events"]],
                "totals": EventFigures(**kept["totals"]),
            }
        )


def drop_figures(*, event_id: int | None = None, max_age: float = CACHE_SECONDS) -> DropFigures:
    """The figures of every event on sale (or of one event), at most `max_age` seconds old.

    When they are stale one caller refreshes them; callers that arrive meanwhile get the last
    ones rather than a second refresh (one refresh per second, however many screens)."""
    scope = ALL if event_id is None else str(event_id)
    kept = _cached(scope)
    if kept is not None and (now_ms() - kept.at_ms) < max_age * 1000:
        return kept
    if kept is not None and not cache.add(_lock_key(scope), 1, timeout=5):
        return kept
    try:
        figures = _refresh(scope=scope, event_id=event_id)
        cache.set(_cache_key(scope), figures.as_json(), timeout=60)
    finally:
        cache.delete(_lock_key(scope))
    return figures


def _cached(scope: str) -> DropFigures | None:
    kept = cache.get(_cache_key(scope))
    try:
        return DropFigures.from_json(kept) if isinstance(kept, dict) else None
    except (KeyError, TypeError):
        return None


def _cache_key(scope: str) -> str:
    return f"ops:figures:{scope}"


def _lock_key(scope: str) -> str:
    return f"ops:refresh:{scope}"


def _snapshot_key(scope: str) -> str:
    return f"ops:snapshots:{scope}"


# --- The database: one statement --------------------------------------------------------------


def _event_scope(path: str, event_id: int | None) -> Q:
    """The events a refresh covers, seen from a model `path` away (`event`, `intent__event`, ...)."""
    if event_id is None:
        return Q(**{f"{path}__status": Event.Status.ON_SALE})
    return Q(**{f"{path}_id": event_id})


def _queries(event_id: int | None, now: datetime) -> dict[str, QuerySet]:
    """Every database figure as a grouped QuerySet (never one row per seat or buyer)."""
    taken = Q(status__in=MONEY_TAKEN_STATUSES)  # captured, whatever became of it since
    late = Q(captured_at__isnull=False) & (
        Q(captured_at__gte=F("intent__expires_at")) | Q(intent__ended_at__lt=F("captured_at"))
    )
    return {
        "events": Event.objects.filter(Q(status=Event.Status.ON_SALE) if event_id is None else Q(pk=event_id)).values(
            "id", "slug", "name"
        ),
        "seats": Seat.objects.filter(_event_scope("event", event_id))
        .values(eid=F("event_id"))
        .annotate(
            seats_free=Count("id", filter=SeatQuerySet.free_q(now)),
            seats_held=Count("id", filter=SeatQuerySet.on_hold_q(now)),
            seats_sold=Count("id", filter=Q(status=Seat.Status.SOLD)),
        ),
        "holds": BookingIntent.objects.filter(_event_scope("event", event_id))
        .values(eid=F("event_id"))
        .annotate(holds=Count("id")),
        "sales": Booking.objects.filter(_event_scope("event", event_id))
        .values(eid=F("event_id"))
        .annotate(sales=Count("id")),
        "payments": Payment.objects.filter(_event_scope("intent__event", event_id))
        .values(eid=F("intent__event_id"))
        .annotate(
            captured_paise=Sum("amount_paise", filter=taken, default=0),
            payments_failed=Count("id", filter=Q(status=Payment.Status.FAILED)),
            late_payments=Count("id", filter=late),
        ),
        "refunds": Refund.objects.filter(_event_scope("payment__intent__event", event_id))
        .values(eid=F("payment__intent__event_id"))
        .annotate(
            refunded_paise=Sum("amount_paise", filter=~Q(status=Refund.Status.FAILED), default=0),
            refunds_pending=Count("id", filter=Q(status__in=[Refund.Status.REQUESTED, Refund.Status.PENDING])),
        ),
        "checkins": BookedSeat.objects.filter(_event_scope("booking__event", event_id), checked_in_at__isnull=False)
        .values(eid=F("booking__event_id"), gate=F("checked_in_gate"))
        .annotate(checkins=Count("id")),
        "webhooks": _one_row(WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.PENDING), "received_at"),
        "outbox": _one_row(OutboxMessage.objects.filter(delivered_at__isnull=True), "created_at"),
        "unbooked": _one_row(
            Payment.objects.filter(status=Payment.Status.CAPTURED, intent__booking__isnull=True), "captured_at"
        ),
    }


def _one_row(rows: QuerySet, since: str) -> QuerySet:
    """How many rows and the oldest `since`, as a QuerySet not run yet (one row, no GROUP BY)."""
    return rows.order_by().values(one=Value(1)).annotate(n=Count("id"), oldest=Min(since)).values("n", "oldest")


# PostgreSQL's own view of the connections, as one more column of the statement.
_CONNECTIONS_SQL = (
    "SELECT count(*) AS open, count(*) FILTER (WHERE state <> 'idle') AS active,"
    " current_setting('max_connections')::int AS max FROM pg_stat_activity WHERE datname = current_database()"
)


def _read_database(event_id: int | None, now: datetime) -> dict[str, list[dict]]:
    """Every query's rows, in ONE statement on PostgreSQL: each QuerySet becomes a JSON column
    (json_agg of its rows). Elsewhere (the SQLite fallback) one query each, no connections."""
    queries = {name: rows.order_by() for name, rows in _queries(event_id, now).items()}
    if connection.vendor != "postgresql":
        rows = {name: [_plain(row) for row in query] for name, query in queries.items()}
        return {**rows, "connections": [{"open": 1, "active": 1, "max": 0}]}
    columns: list[str] = []
    params: list = []
    for query in queries.values():
        sql, query_params = query.query.sql_with_params()
        # The ORM's own compiled SQL, its parameters kept apart: nothing user-given is spliced in.
        columns.append(f"(SELECT coalesce(json_agg(r), '[]'::json) FROM ({sql}) r)")  # noqa: S608
        params.extend(query_params)
    columns.append(f"(SELECT json_agg(r) FROM ({_CONNECTIONS_SQL}) r)")  # noqa: S608 (a constant)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(columns), params)
        values = cursor.fetchone()
    return {name: _decoded(value) for name, value in zip([*queries, "connections"], values, strict=True)}


def _decoded(value) -> list[dict]:
    rows = json.loads(value) if isinstance(value, str) else value
    return [_plain(row) for row in rows]


def _plain(row: dict) -> dict:
    """A row with its times as datetimes (json_agg writes them as ISO text)."""
    return {
        key: datetime.fromisoformat(value) if key == "oldest" and isinstance(value, str) else value
        for key, value in row.items()
    }


def _age_s(oldest: datetime | None, now: datetime) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


# --- Redis: the Celery broker, the histograms, the snapshots -----------------------------------

_BROKER: redis.Redis | None = None


def _celery_queues() -> dict[str, int]:
    """Tasks waiting in each Celery queue (every priority step), one pipeline. A broker that is
    not Redis (RabbitMQ) is not read here: its own exporter has the queues."""
    global _BROKER
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
        return {}
    if _BROKER is None:
        _BROKER = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    pipe = _BROKER.pipeline(transaction=False)
    names = settings.CELERY_QUEUES_ALL.split(",")
    for name in names:
        for suffix in CELERY_PRIORITY_SUFFIXES:
            pipe.llen(name + suffix)
    lengths = pipe.execute()
    steps = len(CELERY_PRIORITY_SUFFIXES)
    return {name: sum(lengths[i * steps : (i + 1) * steps]) for i, name in enumerate(names)}


def duration_registry() -> CollectorRegistry | None:
    """Where the request histograms are summed: every process's files in multiprocess mode
    (PROMETHEUS_MULTIPROC_DIR), else this process's default registry (None)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def _duration_buckets() -> dict[str, list[tuple[float, float]]]:
    """Each timed view's cumulative buckets [(upper bound, count), ...] as prometheus-client has them."""
    registry = duration_registry() or REGISTRY
    buckets: dict[str, list[tuple[float, float]]] = {view: [] for view in TIMED_VIEWS}
    for family in registry.collect():
        if family.name != REQUEST_DURATION._name:
            continue
        for sample in family.samples:
            view = sample.labels.get("view")
            if sample.name.endswith("_bucket") and view in buckets:
                buckets[view].append((float(sample.labels["le"]), sample.value))
    return {view: sorted(pairs) for view, pairs in buckets.items()}


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative buckets, interpolated within its bucket as Prometheus'
    histogram_quantile does (the largest finite bound when it falls in +Inf). None: no requests."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


def _step(now: list[tuple[float, float]], then: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Buckets counted between two snapshots (a process restarted in between: from zero)."""
    earlier = dict(then)
    step = [(bound, count - earlier.get(bound, 0.0)) for bound, count in now]
    return now if any(count < 0 for _, count in step) else step


def _history(scope: str, snapshot: dict) -> dict | None:
    """Keep this refresh's running totals and give back the newest ones at least a minute old
    (or the oldest kept while there are none so old yet; None on the first refresh). A sorted set
    by time: a refresh reads two entries, however many are kept."""
    key, at = _snapshot_key(scope), snapshot["at_ms"]
    pipe = queue.client().pipeline(transaction=False)
    pipe.zremrangebyscore(key, "-inf", at - SNAPSHOTS_KEPT_MS)  # nobody watched for a while: start afresh
    pipe.zrevrangebyscore(key, at - RATE_WINDOW_MS, "-inf", start=0, num=1)
    pipe.zrange(key, 0, 0)
    pipe.zadd(key, {json.dumps(snapshot): at})
    pipe.expire(key, SNAPSHOTS_KEPT_MS // 1000)
    a_minute_old, oldest = pipe.execute()[1:3]
    found = a_minute_old or oldest
    return json.loads(found[0]) if found else None


# --- A refresh ---------------------------------------------------------------------------------


def _refresh(*, scope: str, event_id: int | None) -> DropFigures:
    now = timezone.now()
    at = now_ms()
    rows = _read_database(event_id, now)
    events = {row["id"]: EventFigures(id=row["id"], slug=row["slug"], name=row["name"]) for row in rows["events"]}
    for part in ("seats", "holds", "sales", "payments", "refunds"):
        for row in rows[part]:
            if row["eid"] in events:
                for name, value in row.items():
                    if name != "eid":
                        setattr(events[row["eid"]], name, int(value or 0))
    for row in rows["checkins"]:
        if row["eid"] in events:
            figures = events[row["eid"]]
            figures.checkins_by_gate[row["gate"] or "-"] = row["checkins"]
            figures.checkins += row["checkins"]
    for event_id_, room in room_counts(list(events), now=at).items():
        figures = events[event_id_]
        figures.waiting, figures.inside = room.waiting, room.inside
        figures.admitted, figures.admitted_last_minute = room.admitted_total, room.admitted_last_minute
        figures.rate_per_minute, figures.admitting = room.rate_per_minute, room.admitting
    for figures in events.values():
        figures.revenue_paise = figures.captured_paise - figures.refunded_paise

    buckets = _duration_buckets()
    snapshot = {
        "at_ms": at,
        "events": {str(i): {name: getattr(f, name) for name in RATED} for i, f in events.items()},
        "buckets": buckets,
    }
    then = _history(scope, snapshot)
    window_s = (at - then["at_ms"]) / 1000 if then else None
    for event_id_, figures in events.items():
        before = then["events"].get(str(event_id_)) if then else None
        figures.per_minute = {
            name: round((getattr(figures, name) - before[name]) * 60 / window_s, 1) if before and window_s else None
            for name in RATED
        }
    latency = {
        view: quantile(0.95, _step(pairs, [tuple(p) for p in then["buckets"].get(view, [])]) if then else pairs)
        for view, pairs in buckets.items()
    }
    webhooks, outbox, unbooked = rows["webhooks"][0], rows["outbox"][0], rows["unbooked"][0]
    connections = rows["connections"][0]
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
    ordered = sorted(events.values(), key=lambda f: f.id)
    return DropFigures(
        scope=scope,
        at_ms=at,
        window_s=window_s,
        events=ordered,
        totals=_added_up(ordered),
        webhook_backlog=webhooks["n"],
        webhook_backlog_age_s=_age_s(webhooks["oldest"], now),
        outbox_backlog=outbox["n"],
        outbox_backlog_age_s=_age_s(outbox["oldest"], now),
        unbooked_payments=unbooked["n"],
        unbooked_payments_age_s=_age_s(unbooked["oldest"], now),
        celery_queues=_celery_queues(),
        db_connections=connections["open"],
        db_connections_active=connections["active"],
        db_max_connections=connections["max"],
        db_pool_max_size=pool.get("max_size", 0),
        latency_p95_s=latency,
        latency_counts={view: pairs[-1][1] if pairs else 0.0 for view, pairs in buckets.items()},
    )


def _added_up(events: list[EventFigures]) -> EventFigures:
    total = EventFigures(id=0, slug="", name="All events on sale")
    for figures in events:
        for name, value in asdict(figures).items():
            if isinstance(value, int) and not isinstance(value, bool) and name != "id":
                setattr(total, name, getattr(total, name) + value)
        for gate, count in figures.checkins_by_gate.items():
            total.checkins_by_gate[gate] = total.checkins_by_gate.get(gate, 0) + count
        for name, rate in figures.per_minute.items():
            if rate is not None:
                total.per_minute[name] = (total.per_minute.get(name) or 0) + rate
    total.per_minute = {name: total.per_minute.get(name) for name in RATED} if events else {}
    return total
