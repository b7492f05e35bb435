"""Writes of the waiting room: settings (database, mirrored to Redis), joining, polling,
admitting, leaving, the pre-queue opening, inventory state and abuse limits.

The database holds the settings; Redis holds the line. The gate and the status endpoint
read only Redis, so everything they need is mirrored there when it changes. A Redis that lost
its data is healed by the first status poll that finds the mirror gone (`restore_room`), and by
the admit task every second; until then the room is closed, never open. The line itself
is not in the database: it is lost with Redis (docs/waiting-room.md, "Redis persistence")."""

import json
import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from apps.booking.models import Event
from apps.booking.selectors import inventory_counts
from apps.core import audit, ratelimit, redis_batch
from apps.core.clock import now_ms
from apps.waitingroom import prequeue, queue
from apps.waitingroom.contract import (
    ADMIT_LOCK_MS,
    RESTORE_LOCK_MS,
    YES,
    InventoryState,
    RoomKeys,
    RoomMode,
    Where,
    flag,
)
from apps.waitingroom.errors import RateLimited
from apps.waitingroom.models import WaitingRoomConfig
from apps.waitingroom.presentation import Status, status_from

logger = logging.getLogger(__name__)


# --- Settings ---------------------------------------------------------------------------


def ensure_config(*, event: Event) -> WaitingRoomConfig:
    """Every event has a room; a new one gets the default mode (WAITING_ROOM_DEFAULT_MODE).
    Mirrored after commit so the gate knows the event before its first visitor."""
    config, _ = WaitingRoomConfig.objects.get_or_create(
        event=event, defaults={"mode": settings.WAITING_ROOM_DEFAULT_MODE}
    )
    config.event = event
    transaction.on_commit(lambda: mirror_config(config=config))
    return config


def update_config(
    *,
    event: Event,
    mode: RoomMode | None = None,
    capacity: int | None = None,
    rate_per_minute: int | None = None,
    session_minutes: int | None = None,
    grace_seconds: int | None = None,
    paused: bool | None = None,
    closed: bool | None = None,
    acting_user: AbstractBaseUser | None = None,
) -> WaitingRoomConfig:
    """Change the settings given (None leaves one as it is); live at once: the mirror is
    written after commit. A change by a person (`acting_user`: pause, close, a setting) is
    recorded in the audit log. Raises ValidationError for values the model refuses."""
    changes = {
        "mode": mode,
        "capacity": capacity,
        "rate_per_minute": rate_per_minute,
        "session_minutes": session_minutes,
        "grace_seconds": grace_seconds,
        "paused": paused,
        "closed": closed,
    }
    with transaction.atomic():
        config = ensure_config(event=event)
        for name, value in changes.items():
            if value is not None:
                setattr(config, name, value)
        config.full_clean(exclude=["event"])
        config.save()
        if acting_user is not None:
            given = ", ".join(f"{name}={value}" for name, value in changes.items() if value is not None)
            audit.record(acting_user=acting_user, action="change room", target=f"event {event.slug}", detail=given)
    return config


def mirror_config(*, config: WaitingRoomConfig) -> None:
    """Write the settings and the event facts the gate needs into Redis (idempotent)."""
    event = config.event
    fields = {  # RoomKeys.CFG_FIELDS
        "mode": config.mode,
        "capacity": config.capacity,
        "rate": config.rate_per_minute,
        "session_s": config.session_minutes * 60,
        "grace_s": config.grace_seconds,
        "paused": flag(config.paused),
        "closed": flag(config.closed),
        "opens_ms": int(event.sale_opens_at.timestamp() * 1000),
        "slug": event.slug,
        "name": event.name,
        "seed_hash": prequeue.seed_hash(config.seed),
        "tz": event.time_zone,
    }
    keys = RoomKeys.of(event.id)
    try:
        pipe = queue.client().pipeline(transaction=False)
        pipe.hset(keys.cfg, mapping=fields)
        pipe.set(keys.seed, config.seed)
        pipe.set(queue.slug_key(event.slug), event.id)
        pipe.execute()
    except RedisError:
        logger.warning("could not mirror the waiting room of event %s; the admit task retries", event.id)


def restore_room(*, event_id: int) -> bool:
    """Write a lost mirror back from the database now (Redis restarted empty, or evicted it),
    not at the next beat: the gate fails closed until then, so the first poll that finds the
    settings gone calls this. Single flight per event (SET NX PX RESTORE_LOCK_MS): a burst of
    polls costs the database one query. Returns whether this call restored the room."""
    if not queue.client().set(RoomKeys.of(event_id).restoring, YES, nx=True, px=RESTORE_LOCK_MS):
        return False  # another request is restoring it: this one waits a poll
    config = WaitingRoomConfig.objects.select_related("event").filter(event_id=event_id).first()
    if config is None:  # an event saved before its room existed: it gets one, as on save
        event = Event.objects.filter(pk=event_id).exclude(status=Event.Status.DRAFT).first()
        if event is None:
            return False
        config, _ = WaitingRoomConfig.objects.get_or_create(
            event=event, defaults={"mode": settings.WAITING_ROOM_DEFAULT_MODE}
        )
        config.event = event
    mirror_config(config=config)
    refresh_inventory_state(event_id=event_id)
    logger.warning("event %s: the waiting room's settings were missing from Redis; restored", event_id)
    return True


def flush_line(*, event_id: int, acting_user: AbstractBaseUser | None = None) -> None:
    """Empty the line (everyone waiting loses the place; those inside stay), recorded in the audit log."""
    queue.client().delete(*RoomKeys.of(event_id).keys(RoomKeys.WAITING))
    audit.record(acting_user=acting_user, action="flush line", target=f"event {event_id}")


# --- Visitors ---------------------------------------------------------------------------


def _limits(kind: str, event_id: int, visitor_id: str, ip: str) -> list[tuple[str, int, int]]:
    limits, keys = settings.WAITING_ROOM_RATE_LIMITS, RoomKeys.of(event_id)
    return [
        (keys.bucket(kind, "ip", ip), *limits[f"{kind}_per_ip"]),
        (keys.bucket(kind, "v", visitor_id), *limits[f"{kind}_per_visitor"]),
    ]


def check_limit(*, kind: str, event_id: int, visitor_id: str, ip: str, conn=None) -> None:
    """Token buckets per IP and per visitor ('join' or 'hold'). Raises RateLimited."""
    wait_ms = ratelimit.take_tokens(conn or queue.client(), _limits(kind, event_id, visitor_id, ip), now_ms())
    if wait_ms:
        raise RateLimited(math.ceil(wait_ms / 1000))


def poll_status(*, event_id: int, visitor_id: str, ip: str, at_ms: int | None = None) -> Status:
    """The waiting page's poll: admit (single-flight), heartbeat, and where the visitor stands.
    A visitor who lost the place (or never had one) joins again, at the end."""
    conn = queue.client()
    at_ms = at_ms or now_ms()
    limits = settings.WAITING_ROOM_RATE_LIMITS
    join = queue.JoinLimits(ip=ip, per_ip=limits["join_per_ip"], per_visitor=limits["join_per_visitor"])
    raw = queue.status(conn, event_id, visitor_id, at_ms, join=join)  # the one round trip of a poll
    if raw.where == Where.UNKNOWN and restore_room(event_id=event_id):
        raw = queue.status(conn, event_id, visitor_id, at_ms, join=join)  # still UNKNOWN: the page waits
    if raw.where == Where.LIMITED:
        raise RateLimited(math.ceil(raw.retry_after_ms / 1000))
    if raw.early and at_ms >= int(raw.cfg.get("opens_ms", 0) or 0) and raw.state.get("shuffled") != YES:
        # Beat may be down: the first poll after the opening shuffles (once, atomically).
        seed = conn.get(RoomKeys.of(event_id).seed)
        if seed and open_prequeue(event_id=event_id, seed=queue.as_text(seed)) is not None:
            raw = queue.status(conn, event_id, visitor_id, at_ms)
    return status_from(raw, visitor_id=visitor_id, at_ms=at_ms)


def leave(*, event_id: int, visitor_ids: list[str]) -> int:
    """Free the inside slots of these visitors at once (their booking ended)."""
    return queue.leave(queue.client(), event_id, [v for v in visitor_ids if v])


def record_hold(*, event_id: int, visitor_id: str, intent_id: str, expires_at: datetime | None = None) -> None:
    """Remember whose hold this is (the gate lets its owner reach the checkout) and, when the
    visitor is inside, keep the lease alive while the hold lasts: until `expires_at` plus
    WAITING_ROOM_HOLD_GRACE_SECONDS (ZADD XX GT: a visitor not inside gains nothing, a longer
    lease is kept). The lease's end is its score, so a lapsed one is free at the next admission
    without any sweep; `expires_at` unknown: WAITING_ROOM_HOLD_PIN_SECONDS from now."""
    if expires_at is None:
        pinned_until_ms = now_ms() + settings.WAITING_ROOM_HOLD_PIN_SECONDS * 1000
    else:
        pinned_until_ms = int(expires_at.timestamp() * 1000) + settings.WAITING_ROOM_HOLD_GRACE_SECONDS * 1000
    with redis_batch.pipeline(queue.client()) as pipe:  # after a hold, in the hold's batch
        pipe.set(
            queue.intent_key(intent_id), f"{event_id}|{visitor_id}", ex=settings.WAITING_ROOM_HOLD_PIN_SECONDS + 3600
        )
        pipe.zadd(RoomKeys.of(event_id).inside, {visitor_id: pinned_until_ms}, xx=True, gt=True)


# --- Admission --------------------------------------------------------------------------


def admit_visitors(*, event_id: int, at_ms: int | None = None, single_flight: bool = True) -> queue.AdmitResult | None:
    """Reclaim lapsed sessions and let the next visitors in. With single_flight, skip when
    an admit ran for this event within the last second (returns None)."""
    conn = queue.client()
    at_ms = at_ms or now_ms()
    if single_flight and not conn.set(RoomKeys.of(event_id).lock, YES, nx=True, px=ADMIT_LOCK_MS):
        return None
    return queue.admit(conn, event_id, at_ms)


def open_prequeue(*, event_id: int, seed: str) -> list[str] | None:
    """At the opening, put the early arrivals in line in the seed's order (once). Returns
    the tickets in their new order, or None when there was nothing to do."""
    conn = queue.client()
    keys = RoomKeys.of(event_id)
    if queue.as_text(conn.hget(keys.state, "shuffled")) == YES:
        return None
    arrivals = [queue.as_text(v) for v in conn.zrange(keys.early, 0, -1)]  # arrival order
    by_ticket = {prequeue.ticket(v): v for v in arrivals}
    tickets = [prequeue.ticket(v) for v in arrivals]
    order = prequeue.shuffled(seed, tickets)
    if queue.open_prequeue(conn, event_id, [by_ticket[t] for t in order]) < 0:
        return None
    conn.set(keys.audit, json.dumps({"arrivals": tickets, "order": order}))
    logger.info("event %s: pre-queue of %d opened", event_id, len(order))
    return order


def refresh_inventory_state(*, event_id: int) -> InventoryState:
    """Tell the line whether seats are left (InventoryState)."""
    counts = inventory_counts(event_id)
    if counts.all_gone:
        inv = InventoryState.FINAL
    elif counts.available == 0:
        inv = InventoryState.SOLD_OUT
    else:
        inv = InventoryState.OK
    queue.client().hset(RoomKeys.of(event_id).state, "inv", inv)
    return inv


def admit_all() -> int:
    """The beat job (every second): re-mirror the settings, open pre-queues whose time came,
    refresh the inventory state and admit, for every event whose room is on."""
    now = timezone.now()
    admitted = 0
    configs = WaitingRoomConfig.objects.select_related("event").filter(event__starts_at__gte=now - timedelta(days=1))
    for config in configs:
        mirror_config(config=config)
        if config.mode == RoomMode.OFF:
            continue
        event = config.event
        try:
            if event.sale_opens_at <= now:
                open_prequeue(event_id=event.id, seed=config.seed)
            refresh_inventory_state(event_id=event.id)
            result = admit_visitors(event_id=event.id)
        except RedisError:
            logger.warning("admit of event %s skipped: Redis unavailable", event.id)
            continue
        if result is not None:
            admitted += len(result.admitted)
    return admitted
