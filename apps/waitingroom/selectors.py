"""Reads of the waiting room: event lookups for the views (Redis first), the ops figures and the audit."""

import math
import time
from dataclasses import dataclass

from django.utils import timezone

from apps.booking.models import BookingIntent, Event
from apps.booking.selectors import inventory_counts
from apps.core.clock import now_ms
from apps.waitingroom import queue
from apps.waitingroom.contract import RATE_WINDOW_MS, YES, InventoryState, RoomKeys, RoomMode
from apps.waitingroom.models import WaitingRoomConfig
from apps.waitingroom.presentation import VenueClock


@dataclass(frozen=True)
class RoomEvent:
    """What the waiting pages show of an event: its name, and its opening on the venue's clock."""

    id: int
    slug: str
    name: str
    opens_ms: int  # the sale's opening, epoch ms
    time_zone: str

    @property
    def clock(self) -> VenueClock:
        return VenueClock(self.time_zone)


def room_event(slug: str) -> RoomEvent | None:
    """The event behind a waiting-room URL, from the Redis mirror (no database) when it is
    there; otherwise (or when the mirror predates a field it now has) from the database,
    re-creating the mirror."""
    conn = queue.client()
    event_id = conn.get(queue.slug_key(slug))
    if event_id is not None:
        name, real_slug, opens_ms, tz = conn.hmget(RoomKeys.of(int(event_id)).cfg, "name", "slug", "opens_ms", "tz")
        if None not in (name, opens_ms, tz) and real_slug is not None and real_slug.decode() == slug:
            return RoomEvent(int(event_id), slug, name.decode(), int(opens_ms), tz.decode())
    event = Event.objects.filter(slug=slug).exclude(status=Event.Status.DRAFT).first()
    if event is None:
        return None
    from apps.waitingroom import services  # a read that repairs the mirror: the one restore path

    services.restore_room(event_id=event.id)
    return RoomEvent(event.id, event.slug, event.name, int(event.sale_opens_at.timestamp() * 1000), event.time_zone)


@dataclass(frozen=True)
class LiveFigures:
    waiting: int
    early: int
    inside: int
    admitted_per_minute: int
    eta_last_seconds: int | None
    holds: int
    seats_sold: int
    seats_available: int
    inventory_state: InventoryState


def live_figures(config: WaitingRoomConfig) -> LiveFigures:
    """What ops watch during a drop: the line from Redis, the seats from the database."""
    event_id = config.event_id
    keys = RoomKeys.of(event_id)
    now = now_ms()
    pipe = queue.client().pipeline(transaction=False)
    pipe.zcard(keys.line)
    pipe.zcard(keys.early)
    pipe.zcount(keys.inside, now, "+inf")
    pipe.zcount(keys.admitted, now - RATE_WINDOW_MS, "+inf")
    pipe.hget(keys.state, "inv")
    waiting, early, inside, per_minute, inv = pipe.execute()
    per_second = (per_minute or config.rate_per_minute) / 60
    counts = inventory_counts(event_id)
    return LiveFigures(
        waiting=waiting,
        early=early,
        inside=inside,
        admitted_per_minute=per_minute,
        eta_last_seconds=math.ceil((waiting + early) / per_second) if per_second else None,
        holds=counts.held,
        seats_sold=counts.sold,
        seats_available=counts.available,
        inventory_state=InventoryState(inv.decode()) if inv else InventoryState.OK,
    )


def leaked_slots_now(event_id: int) -> set[str]:
    """Visitors counted inside whose holds have all ended (confirmed, released, expired,
    refunded): the slot is given back when the last one ends (receivers.intent_ended_frees_slots),
    so one still counted keeps a buyer out of the line. A visitor inside with no hold at all is
    not one: they are still choosing seats."""
    inside = {v.decode() for v in queue.client().zrangebyscore(RoomKeys.of(event_id).inside, now_ms(), "+inf")}
    if not inside:
        return set()
    intents = BookingIntent.objects.filter(event_id=event_id, session_ref__in=inside)
    holders = set(intents.values_list("session_ref", flat=True))
    live = intents.filter(status=BookingIntent.Status.HELD, expires_at__gt=timezone.now())
    return holders - set(live.values_list("session_ref", flat=True))


def leaked_slots(event_ids: list[int], *, settle_seconds: float = 3.0) -> dict[int, set[str]]:
    """Each event's leaked slots that are still there after a settle.

    Redis and PostgreSQL are read one after the other, and a hold that ends in between (the
    expiry sweep runs all along) frees its slot just after its commit: at one instant a slot
    can be legitimately in flight, so only what is still leaked settle_seconds later counts."""
    first = {event_id: leaked_slots_now(event_id) for event_id in event_ids}
    if settle_seconds and any(first.values()):
        time.sleep(settle_seconds)
        return {event_id: seen & leaked_slots_now(event_id) if seen else seen for event_id, seen in first.items()}
    return first


@dataclass(frozen=True)
class RoomCounts:
    """One room's figures for ops: the line, who is inside, admissions (a running total and the
    last minute's), and the configured rate."""

    waiting: int  # in line, pre-queue included
    inside: int
    admitted_total: int  # ever let in (the admit script's counter)
    admitted_last_minute: int
    rate_per_minute: int  # configured (0: no room settings in Redis)
    # Should let people in: on (or its settings lost, which stalls it), open, not paused, closed or
    # sold out (admit's own checks, lib/admit.lua): waiting and no admission is then a stall.
    admitting: bool


def room_counts(event_ids: list[int], now: int | None = None) -> dict[int, RoomCounts]:
    """Every room's counts in one Redis round trip (a pipeline), whatever the number of events."""
    if not event_ids:
        return {}
    now = now_ms() if now is None else now
    pipe = queue.client().pipeline(transaction=False)
    for event_id in event_ids:
        keys = RoomKeys.of(event_id)
        pipe.zcard(keys.line)
        pipe.zcard(keys.early)
        pipe.zcount(keys.inside, now, "+inf")
        pipe.get(keys.admissions)
        pipe.zcount(keys.admitted, now - RATE_WINDOW_MS, "+inf")
        pipe.hmget(keys.cfg, "rate", "mode", "paused", "closed", "opens_ms")
        pipe.hget(keys.state, "inv")
    replies = pipe.execute()
    counts = {}
    for index, event_id in enumerate(event_ids):
        line, early, inside, total, last_minute, (rate, mode, paused, closed, opens), inv = replies[
            7 * index : 7 * index + 7
        ]
        counts[event_id] = RoomCounts(
            waiting=line + early,
            inside=inside,
            admitted_total=int(total or 0),
            admitted_last_minute=last_minute,
            rate_per_minute=int(rate or 0),
            admitting=mode != RoomMode.OFF.value.encode()
            and YES.encode() not in (paused, closed)
            and inv in (None, InventoryState.OK.value.encode())
            and int(opens or 0) <= now,
        )
    return counts
