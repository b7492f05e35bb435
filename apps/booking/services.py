"""Writes of the booking core.

Every seat state change is one conditional UPDATE that bumps `version`; its row
count decides who won. Transactions are short and hold no network call. An
expired hold counts as free in every predicate, so correctness never waits for
the beat job. Other apps learn about ended intents through `signals.intent_ended`, announced
through the outbox in the transaction that ends them (`_announce`), so it is never lost.
"""

import hashlib
import ipaddress
import logging
import math
import secrets
import string
from collections.abc import Callable, Collection
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone
from django.utils.text import slugify

from apps.booking import inventory, tickets
from apps.booking.errors import (
    AlreadyCancelled,
    BookingError,
    HoldCapReached,
    HoldExpired,
    IntentNotFound,
    InvalidRequest,
    LimitExceeded,
    NoSeatsToSell,
    NotOnSale,
    SeatsUnavailable,
    TooManyAttempts,
    UnknownSeats,
)
from apps.booking.models import (
    BookedSeat,
    Booking,
    BookingIntent,
    Cancellation,
    Event,
    IntentSeat,
    Seat,
    SeatQuerySet,
    Section,
)
from apps.booking.signals import (
    BOOKING_CANCELLED,
    EVENT_CALLED_OFF,
    INTENT_ENDED,
    TICKET_EMAIL_REQUESTED,
    IntentEnding,
    IntentHeld,
    intent_held,
)
from apps.core import audit, metrics, outbox, ratelimit, redis_batch
from apps.core.clock import now_ms

logger = logging.getLogger(__name__)

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the gate
REFERENCE_LENGTH = 8
IPV6_NETWORK_PREFIX = 64  # one subscriber's IPv6 network: its addresses share the per-address cap


@dataclass(frozen=True)
class HoldResult:
    intent: BookingIntent
    created: bool


# --- Events and seats ---------------------------------------------------------------


def row_label_for(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: spreadsheet-style row names."""
    label = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        label = string.ascii_uppercase[rem] + label
    return label


def create_event(
    *,
    slug: str,
    name: str,
    starts_at: datetime,
    venue: str = "",
    description: str = "",
    sale_opens_at: datetime | None = None,
    status: str = Event.Status.ON_SALE,
    max_seats_per_buyer: int | None = None,
    max_held_seats_per_ip: int | None = None,
    hold_minutes: int | None = None,
) -> Event:
    """Raises InvalidRequest when a field is refused (a name with a line break would break every
    confirmation email's subject; a slug already taken)."""
    event = Event(
        slug=slugify(slug),
        name=name,
        venue=venue,
        description=description,
        starts_at=starts_at,
        sale_opens_at=sale_opens_at or timezone.now(),
        status=status,
        max_seats_per_buyer=max_seats_per_buyer or settings.MAX_SEATS_PER_BUYER,
        max_held_seats_per_ip=max_held_seats_per_ip,
        hold_minutes=hold_minutes or settings.HOLD_MINUTES,
    )
    try:
        event.full_clean()
    except ValidationError as error:
        raise InvalidRequest(
            " ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
        ) from None
    event.save(force_insert=True)
    return event


@transaction.atomic
def generate_seat_grid(*, event: Event, seats_per_row: int, tiers: list[tuple[str, int, int]]) -> int:
    """Append rows of seats after the event's last row: `tiers` is [(section name, rows, price in paise)].

    Returns how many seats were created."""
    if seats_per_row < 1 or seats_per_row > 500:
        raise InvalidRequest("Seats per row must be between 1 and 500.")
    if not tiers or any(rows < 1 or price < 100 for _, rows, price in tiers):
        raise InvalidRequest("Each tier needs at least one row and a price of at least 100 paise.")
    row_index = event.seats.values("row_label").distinct().count()
    position = event.sections.count()
    seats: list[Seat] = []
    for name, rows, price in tiers:
        section, _ = Section.objects.get_or_create(
            event=event, name=name, defaults={"price_paise": price, "position": position}
        )
        position += 1
        for _ in range(rows):
            row = row_label_for(row_index)
            row_index += 1
            seats.extend(
                Seat(event=event, section=section, row_label=row, number=n, label=f"{row}-{n}")
                for n in range(1, seats_per_row + 1)
            )
    Seat.objects.bulk_create(seats, batch_size=2000)
    inventory.invalidate_on_commit(event.id)
    transaction.on_commit(refresh_seat_statistics)
    return len(seats)


def refresh_seat_statistics() -> None:
    """ANALYZE the seats after a bulk load, as PostgreSQL's documentation advises: a hold finds its
    seats by (event, label), and statistics that predate an event's seats make the planner believe
    the event has none, so it may read all of them through another index on every hold of the drop
    (autovacuum's own ANALYZE can come a minute later, or after the sale opened). Samples, so it
    stays short however many seats there are."""
    _analyze([Seat._meta.db_table])


def _analyze(tables: list[str]) -> None:
    """PostgreSQL's ANALYZE of these tables (samples: short at any size); nothing on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(table) for table in tables))


# The hold's tables: its generic plans are made from their statistics (refresh_hold_statistics).
HOLD_TABLES = (BookingIntent._meta.db_table, IntentSeat._meta.db_table)
HOLD_STATISTICS_MIN_CHANGES = 500  # below this, any plan reads a few pages: not worth an ANALYZE


def refresh_hold_statistics() -> list[str]:
    """ANALYZE the hold's tables once one has changed by as many rows as its statistics counted
    (and by HOLD_STATISTICS_MIN_CHANGES at least); returns the tables analysed (none, most times).

    booking_hold_seats() plans its statements once per connection from the statistics of that
    moment and keeps the plans until the next ANALYZE. On a new database those are the statistics
    of empty tables, and the plans made from them read every earlier hold of the event: a hold read
    45 buffers after 10 holds and 178 after 1,500, growing all through a first drop until
    autovacuum's ANALYZE (about a minute after the first holds in production; never where
    autovacuum is off, as on the CI machine). Beat calls this every HOLD_STATISTICS_EVERY_SECONDS;
    an ANALYZE also makes every connection plan the hold anew. Autovacuum's own rule with the
    table's size for its threshold: a handful of ANALYZEs over a table's life, and otherwise two
    rows of the statistics views read."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
            " WHERE s.relname = ANY (%s) AND s.n_mod_since_analyze >= GREATEST(c.reltuples, %s)",
            [list(HOLD_TABLES), HOLD_STATISTICS_MIN_CHANGES],
        )
        if not cursor.fetchall():
            return []
    _analyze(list(HOLD_TABLES))  # they grow together, and a hold's plans read both: analyse both
    return list(HOLD_TABLES)


def check_can_go_on_sale(*, event: Event) -> None:
    """Raises NoSeatsToSell when the event has no seat a buyer could ever take (none, or all
    blocked): on sale, it would only ever show "Sold out". Every way of putting an event on sale
    asks this first (the admin's form, `put_on_sale`)."""
    if event.pk is None or not event.seats.exclude(status=Seat.Status.BLOCKED).exists():
        raise NoSeatsToSell(event.name)


def put_on_sale(*, event: Event, acting_user: AbstractBaseUser | None = None) -> bool:
    """Puts the event on sale (from its `sale_opens_at`). Returns False when it already was;
    raises NoSeatsToSell when it has no seats."""
    if event.status == Event.Status.ON_SALE:
        return False
    check_can_go_on_sale(event=event)
    with transaction.atomic(durable=True):
        event.status = Event.Status.ON_SALE
        event.save(update_fields=["status"])  # post_save refreshes its pages and its room
        audit.record(acting_user=acting_user, action="put on sale", target=f"event {event.slug}")
    return True


# --- Holding ------------------------------------------------------------------------


def held_seats_cap_per_ip(event: Event) -> int:
    """The most seats held at once from one address: the event's own cap, else a multiple of its
    per-buyer limit (carrier NAT puts many real buyers behind one address, so it is generous)."""
    return event.max_held_seats_per_ip or settings.HELD_SEATS_PER_IP_FACTOR * event.max_seats_per_buyer


def _address(client_ip: str | None) -> tuple[str | None, str | None]:
    """(the address to store, the network it counts against): an IPv4 address counts alone, an IPv6
    address with its /64 (one subscriber's network, where rotating addresses costs nothing).
    (None, None) when there is no usable address (a script, ops): no per-address cap then."""
    try:
        address = ipaddress.ip_address(client_ip or "")
    except ValueError:
        return None, None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    elif address.version == 6 and address.scope_id:
        address = ipaddress.IPv6Address(str(address).partition("%")[0])
    prefix = IPV6_NETWORK_PREFIX if address.version == 6 else 32
    return str(address), str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass
class Holdings:
    """What one buyer, browser and address already have on an event (live holds only, and seats bought)."""

    owner_intents: dict[UUID, set[int]] = field(default_factory=dict)  # the browser's live holds
    email_seats: int = 0  # held or bought under the buyer's email
    owner_seats: int = 0  # held by the browser
    network_seats: int = 0  # held from the address


def _holdings_sql(vendor: str, live_intents: str) -> str:
    """One round trip: live holds (`live_intents`, the event's, a subquery) matching the email, the
    owner or the network, and seats bought under the email. SQLite has no network type: there an
    address counts alone."""
    in_network = "i.client_ip <<= %s::inet" if vendor == "postgresql" else "i.client_ip = %s"
    links, bookings, booked = IntentSeat._meta.db_table, Booking._meta.db_table, BookedSeat._meta.db_table
    return f"""
        SELECT i.id, s.seat_id, i.buyer_email = %s, COALESCE(i.session_ref = %s, FALSE),
               COALESCE({in_network}, FALSE)
          FROM ({live_intents}) i JOIN {links} s ON s.intent_id = i.id
         WHERE i.buyer_email = %s OR i.session_ref = %s OR {in_network}
        UNION ALL
        SELECT NULL, b.seat_id, TRUE, FALSE, FALSE FROM {bookings} k JOIN {booked} b ON b.booking_id = k.id
         WHERE k.event_id = %s AND k.buyer_email = %s AND b.active
    """  # noqa: S608 - table names and the subquery are ours; values are parameters


def _holdings(*, event_id: int, email: str, owner: str, network: str | None, now: datetime) -> Holdings:
    """The SQLite port's count (step 4 of booking_hold_seats): plain SQL, one round trip."""
    owner_or_none = owner or None  # "" owns nothing: ops' holds never match each other
    live = (
        BookingIntent.objects.live(now)
        .filter(event_id=event_id)
        .order_by()
        .values("id", "buyer_email", "session_ref", "client_ip")
    )
    live_sql, live_params = live.query.get_compiler(connection=connection).as_sql()
    params = [email, owner_or_none, network, *live_params, email, owner_or_none, network, event_id, email]
    with connection.cursor() as cursor:
        cursor.execute(_holdings_sql(connection.vendor, live_sql), params)
        rows = cursor.fetchall()
    held = Holdings()
    for intent_id, seat_id, by_email, by_owner, by_network in rows:
        held.email_seats += bool(by_email)
        held.network_seats += bool(by_network)
        if by_owner:
            held.owner_seats += 1
            held.owner_intents.setdefault(UUID(str(intent_id)), set()).add(seat_id)
    return held


@dataclass(frozen=True)
class _Taking:
    """What an attempt to take the seats came to: the row booking_hold_seats() returns (or its port's)."""

    outcome: str  # held | repeat | unknown | taken | limit | cap_visitor | cap_address
    intent_id: UUID | None = None  # held, repeat
    labels: tuple[str, ...] = ()  # unknown, taken: the seats to name
    already: int = 0  # limit, cap_*: the seats already counted
    amount: int = 0  # held: the price in paise


# The database function that holds (migration 0008 holds its source). Control tests swap in a copy
# of it with a guard taken out, to prove their race harness would catch the bug.
HOLD_FUNCTION = "booking_hold_seats"
_HOLD_ARGUMENTS = (
    "%s::bigint, %s::text[], %s::uuid, %s::text, %s::text, %s::text, %s::text, %s::text, %s::inet, %s::text, "
    "%s::integer, %s::integer, %s::timestamptz, %s::timestamptz, %s::timestamptz"
)


def _take_seats_in_one_statement(
    *, event: Event, intent: BookingIntent, labels: list[str], network: str | None, now: datetime
) -> _Taking:
    """The hold as one statement: `booking_hold_seats()`, a plpgsql function whose source is migration
    0008 (a change to it is a new migration).

    Why SQL: the ORM hold was five statements and one UPDATE per seat, each a round trip (read the
    seats, lock, count, insert, update, link), with the buyer's advisory locks and then the seats' row
    locks held across the waits between them. One call is one round trip, and the locks are held for
    the function's microseconds. Why a function and not one CTE: the parts of one statement share one snapshot, taken
    before the advisory lock is granted, so its counts would miss the hold it waited for; each
    statement inside a plpgsql function reads a fresh snapshot. The steps, rules and their order are
    the same as `_take_seats_with_orm` (SQLite's port, which runs the same tests)."""
    params = (
        event.id,
        labels,
        intent.id,
        intent.buyer_name,
        intent.buyer_email,
        intent.buyer_phone,
        intent.currency,
        intent.session_ref,
        intent.client_ip,
        network,
        event.max_seats_per_buyer,
        held_seats_cap_per_ip(event),
        now,
        intent.expires_at,
        intent.created_at,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {HOLD_FUNCTION}({_HOLD_ARGUMENTS})", params)  # noqa: S608 - name is ours
        outcome, intent_id, taken, already, amount = cursor.fetchone()
    if outcome == "held":
        intent.amount_paise = amount
        intent._state.adding, intent._state.db = False, connection.alias  # the row exists: a saved instance
    return _Taking(outcome, intent_id, tuple(taken or ()), already or 0, amount or 0)


def _take_seats_with_orm(
    *, event: Event, intent: BookingIntent, labels: list[str], network: str | None, now: datetime
) -> _Taking:
    """`booking_hold_seats()` step by step through the ORM, for SQLite only: the newcomer fallback of
    settings.py, where plpgsql cannot run. SQLite's IMMEDIATE transactions serialise writers, so it
    takes no locks. Keep its rules in step with the function's: tests/booking/test_hold_fallback.py
    runs the service tests of holding against this port too."""
    owner = intent.session_ref
    seats = list(Seat.objects.filter(event=event, label__in=labels).select_related("section", "intent").order_by("id"))
    missing = set(labels) - {s.label for s in seats}
    if missing:
        return _Taking("unknown", labels=tuple(sorted(missing)))
    taken = [
        s.label for s in seats if not s.is_free(now) and not (owner and s.intent and s.intent.session_ref == owner)
    ]
    if taken:
        return _Taking("taken", labels=tuple(sorted(taken)))

    # SQLite has no network type: there an address counts alone (against its own text, not its /32).
    counted = network if connection.vendor == "postgresql" else intent.client_ip
    held = _holdings(event_id=event.id, email=intent.buyer_email, owner=owner, network=counted, now=now)
    seat_ids = {s.id for s in seats}
    for intent_id, ids in held.owner_intents.items():
        if ids == seat_ids:
            return _Taking("repeat", intent_id=intent_id)
    count, limit = len(seats), event.max_seats_per_buyer
    if held.email_seats + count > limit:
        return _Taking("limit", already=held.email_seats)
    if owner and held.owner_seats + count > limit:
        return _Taking("cap_visitor", already=held.owner_seats)
    if network and held.network_seats + count > held_seats_cap_per_ip(event):
        return _Taking("cap_address", already=held.network_seats)

    intent.amount_paise = sum(s.section.price_paise for s in seats)
    intent.save(force_insert=True)
    for seat in seats:  # in id order, as the function locks them
        won = (
            Seat.objects.free(now)
            .filter(pk=seat.pk, version=seat.version)
            .update(status=Seat.Status.HELD, intent=intent, hold_expires_at=intent.expires_at, version=F("version") + 1)
        )
        if not won:  # the caller's refusal rolls the intent back
            return _Taking("taken", labels=(seat.label,))
    IntentSeat.objects.bulk_create([IntentSeat(intent=intent, seat=s) for s in seats])
    return _Taking("held", intent_id=intent.id, amount=intent.amount_paise)


def _refusal(taking: _Taking, event: Event) -> BookingError:
    match taking.outcome:
        case "unknown":
            return UnknownSeats(taking.labels)
        case "taken":
            return SeatsUnavailable(taking.labels)
        case "limit":
            return LimitExceeded(event.max_seats_per_buyer, taking.already)
        case "cap_visitor":
            return HoldCapReached(event.max_seats_per_buyer, taking.already, per="visitor")
        case "cap_address":
            return HoldCapReached(held_seats_cap_per_ip(event), taking.already, per="address")
    raise ValueError(f"unexpected hold outcome {taking.outcome!r}")


def hold_seats(
    *,
    event: Event,
    seat_labels: list[str],
    buyer_name: str,
    buyer_email: str,
    buyer_phone: str,
    owner: str = "",
    client_ip: str | None = None,
    now: datetime | None = None,
) -> HoldResult:
    """Hold all the seats or none, for `event.hold_minutes`, for the browser `owner` (the visitor
    id the server signed for it; "" for ops and scripts) at `client_ip`.

    The hold is the owner's: a repeated submit (double click, retry) of the same seats by the same
    owner returns its hold; the same seats from anyone else are taken, whatever the email. Caps, all
    counted inside the transaction: the per-buyer limit over the email's holds and purchases, and,
    against hoarding, the same limit over the owner's live holds and `held_seats_cap_per_ip` over the
    live holds from the address's network. On PostgreSQL all of it is one statement
    (`_take_seats_in_one_statement`).

    Raises UnknownSeats, InvalidRequest, NotOnSale, LimitExceeded (HoldCapReached for the caps) or
    SeatsUnavailable (naming the seats that were taken)."""
    now = now or timezone.now()
    labels = sorted({label.strip().upper() for label in seat_labels if label.strip()})
    if not labels or len(labels) > event.max_seats_per_buyer:
        metrics.HOLDS_REFUSED.labels(reason="invalid").inc()
        if not labels:
            raise InvalidRequest("Choose at least one seat.")
        raise InvalidRequest(f"You can choose at most {event.max_seats_per_buyer} seats.")
    if not event.is_on_sale(now):
        metrics.HOLDS_REFUSED.labels(reason="not_on_sale").inc()
        raise NotOnSale()

    address, network = _address(client_ip)
    intent = BookingIntent(
        event=event,
        buyer_name=buyer_name.strip(),
        buyer_email=buyer_email.strip().lower(),
        buyer_phone=buyer_phone.strip(),
        amount_paise=0,  # the seats' price, once they are known
        expires_at=now + timedelta(minutes=event.hold_minutes),
        session_ref=owner[:64],
        client_ip=address,
        created_at=timezone.now(),
    )
    one_statement = connection.vendor == "postgresql"
    take = _take_seats_in_one_statement if one_statement else _take_seats_with_orm
    # One statement is a transaction of its own (autocommit): no BEGIN and COMMIT round trips, and
    # the on_commit callbacks below run once it returns. A refusal has written nothing. The function
    # commits its transaction without waiting for the disk (a hold is a lease; migration 0008 says why
    # that is safe), so never call it inside a transaction that writes anything else.
    with nullcontext() if one_statement else transaction.atomic(durable=True):
        taking = take(event=event, intent=intent, labels=labels, network=network, now=now)
        if taking.outcome == "repeat":  # a repeated submit of a hold this browser already has
            assert taking.intent_id is not None  # a repeat names the hold it repeats
            return HoldResult(intent=BookingIntent.objects.get(pk=taking.intent_id), created=False)
        if taking.outcome != "held":
            metrics.HOLDS_REFUSED.labels(reason=taking.outcome).inc()
            raise _refusal(taking, event)  # and roll back whatever the attempt wrote
        held_event = IntentHeld(intent.id, event.id, intent.session_ref, intent.expires_at)
        transaction.on_commit(lambda: _after_hold(held_event), robust=True)
    metrics.HOLDS.inc()
    return HoldResult(intent=intent, created=True)


def _after_hold(held: IntentHeld) -> None:
    """A committed hold: the event's inventory moves on and the listeners hear of it (the gate pins
    the holder's place). Their Redis writes go as one batch, one round trip on the hold's hot path."""
    with redis_batch.batched("a hold"):
        inventory.bump(held.event_id)
        # Robust: one failing receiver never silences another, nor fails a hold that committed.
        intent_held.send_robust(sender=BookingIntent, held=held)


def _announce(endings: list[IntentEnding]) -> None:
    """Call inside the transaction that ends the intents: the announcement commits with them (one
    outbox row per call, whatever the count) and is delivered after commit, or by the relay."""
    if endings:
        outbox.announce(INTENT_ENDED, endings=endings)


def _free_seats_of(intent_ids: list[UUID], now: datetime) -> int:
    """Put the still-held seats of these intents back on sale.

    Rows another transaction is taking over right now are skipped (SKIP LOCKED): it
    will own them, and waiting on it would only risk a deadlock."""
    lockable = (
        Seat.objects.filter(intent_id__in=intent_ids, status=Seat.Status.HELD)
        .select_for_update(skip_locked=True)
        .values("pk")
    )
    return Seat.objects.filter(pk__in=lockable, intent_id__in=intent_ids, status=Seat.Status.HELD).update(
        status=Seat.Status.AVAILABLE, intent=None, hold_expires_at=None, version=F("version") + 1
    )


def release_intent(
    *, intent_id: UUID, now: datetime | None = None, acting_user: AbstractBaseUser | None = None
) -> bool:
    """The buyer (or ops, `acting_user`, recorded in the audit log) gives the hold back: its seats
    are free at once.

    Returns False when the intent had already ended (a repeat is harmless)."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        won = BookingIntent.objects.filter(pk=intent_id, status=BookingIntent.Status.HELD).update(
            status=BookingIntent.Status.RELEASED, ended_at=now
        )
        if not won:
            if not BookingIntent.objects.filter(pk=intent_id).exists():
                raise IntentNotFound()
            return False
        intent = BookingIntent.objects.only("event_id", "session_ref").get(pk=intent_id)
        _free_seats_of([intent_id], now)
        inventory.invalidate_on_commit(intent.event_id)
        _announce([IntentEnding(intent_id, intent.event_id, intent.session_ref, BookingIntent.Status.RELEASED)])
        if acting_user is not None:
            audit.record(acting_user=acting_user, action="release hold", target=f"intent {intent_id}")
    return True


def _update_returning(queryset: QuerySet, *, values: dict, returning: list[str]) -> list[tuple]:
    """`queryset.update(**values)` that also returns these fields of the rows it changed: one
    statement (UPDATE ... RETURNING), through the path Django's own save() takes for returned fields
    (`QuerySet._update`), which `update()` does not offer. Local-field filters only: the WHERE
    then stays on the updated table, so a row changed meanwhile is re-checked against it."""
    query = queryset.query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)  # chain(klass) returns a klass (the stubs say Query)
    query.add_update_values(values)
    fields = [queryset.model._meta.get_field(name) for name in returning]
    return query.get_compiler(queryset.db).execute_returning_sql(fields)


def expire_intents(*, now: datetime | None = None) -> int:
    """Mark every lapsed hold EXPIRED and free its seats: a constant number of queries
    whatever the count, idempotent, and safe with two sweepers at once (each intent row
    is changed by one UPDATE only; the loser's WHERE no longer matches).

    Returns how many intents this call expired."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        rows = _update_returning(
            BookingIntent.objects.lapsed(now),
            values={"status": BookingIntent.Status.EXPIRED, "ended_at": now},
            returning=["id", "event", "session_ref"],
        )
        # The outer filters repeat `lapsed`: a row another transaction changed meanwhile is
        # re-checked against them (READ COMMITTED), and no longer matches.
        lockable = Seat.objects.lapsed(now).select_for_update(skip_locked=True).values("pk")
        freed_events = set(
            Seat.objects.lapsed(now).filter(pk__in=lockable).values_list("event_id", flat=True).distinct()
        )
        Seat.objects.lapsed(now).filter(pk__in=lockable).update(
            status=Seat.Status.AVAILABLE, intent=None, hold_expires_at=None, version=F("version") + 1
        )
        endings = [
            IntentEnding(UUID(str(intent_id)), event_id, session_ref, BookingIntent.Status.EXPIRED)
            for intent_id, event_id, session_ref in rows
        ]
        for event_id in freed_events | {e.event_id for e in endings}:
            inventory.invalidate_on_commit(event_id)
        _announce(endings)
    if endings:
        logger.info("expired %d intents", len(endings))
    return len(endings)


def extend_hold(*, intent_id: UUID, minutes: int, now: datetime | None = None) -> datetime:
    """Extend a live hold once, when the buyer starts paying, so a slow bank page does
    not turn a paying buyer into a late payment. Returns the (possibly unchanged) expiry."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        intent = BookingIntent.objects.filter(pk=intent_id).first()
        if intent is None:
            raise IntentNotFound()
        if not intent.is_active(now):
            raise HoldExpired()
        if intent.extended_at is not None:
            return intent.expires_at
        new_expiry = intent.expires_at + timedelta(minutes=minutes)
        won = (
            BookingIntent.objects.live(now)
            .filter(pk=intent_id, extended_at__isnull=True)
            .update(expires_at=new_expiry, extended_at=now)
        )
        if not won:
            return BookingIntent.objects.get(pk=intent_id).expires_at
        Seat.objects.filter(intent_id=intent_id, status=Seat.Status.HELD).update(
            hold_expires_at=new_expiry, version=F("version") + 1
        )
        inventory.invalidate_on_commit(intent.event_id)
    return new_expiry


# --- Confirming ---------------------------------------------------------------------


def _new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def confirm_intent(*, intent_id: UUID, now: datetime | None = None) -> tuple[Booking, bool]:
    """Turn a paid intent into a Booking, exactly once, whoever calls (verify callback,
    webhook task, reconciliation) and however many race.

    A late payment (hold expired or released) still wins its seats if they are free.
    Returns (booking, created). Raises SeatsUnavailable when a seat went to someone
    else, or the seats cannot be booked for any reason the database gives (a row made
    by hand, say): everything rolls back and the caller refunds, so a paid order never
    loops on an error. Raises IntentNotFound."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        won = (
            BookingIntent.objects.payable()
            .filter(pk=intent_id)
            .update(status=BookingIntent.Status.CONFIRMED, ended_at=now)
        )
        intent = BookingIntent.objects.filter(pk=intent_id).first()
        if intent is None:
            raise IntentNotFound()
        if not won:
            if intent.status == BookingIntent.Status.CONFIRMED:
                return Booking.objects.get(intent_id=intent_id), False
            raise HoldExpired(f"This order was closed ({intent.get_status_display().lower()}).")

        seats = list(intent.seats.select_related("section").order_by("id"))
        mine_or_free = Q(intent_id=intent_id, status=Seat.Status.HELD) | SeatQuerySet.free_q(now)
        for seat in seats:
            if (
                not Seat.objects.filter(pk=seat.pk)
                .filter(mine_or_free)
                .update(status=Seat.Status.SOLD, intent_id=intent_id, hold_expires_at=None, version=F("version") + 1)
            ):
                raise SeatsUnavailable([seat.label])
        try:
            booking = _create_booking(intent)
            prices = _seat_prices(intent, seats)
            BookedSeat.objects.bulk_create(
                [BookedSeat(booking=booking, seat=s, price_paise=p) for s, p in zip(seats, prices, strict=True)]
            )
        except IntegrityError as error:
            logger.error("intent %s could not be booked (seats taken as gone): %s", intent_id, error)
            raise SeatsUnavailable([s.label for s in seats]) from error
        inventory.invalidate_on_commit(intent.event_id)
        _announce([IntentEnding(intent.id, intent.event_id, intent.session_ref, BookingIntent.Status.CONFIRMED)])
    metrics.BOOKINGS_CONFIRMED.inc()
    return booking, True


def _seat_prices(intent: BookingIntent, seats: list[Seat]) -> list[int]:
    """What each seat cost in this booking: its section's price. They add up to what was paid, so a
    cancellation refunds exactly its seats' share; if a price changed between the hold and the
    payment, the difference goes on the first seat (never below zero)."""
    prices = [s.section.price_paise for s in seats]
    difference = intent.amount_paise - sum(prices)
    if difference and prices:
        logger.warning("intent %s: paid %d, seats priced %d now", intent.id, intent.amount_paise, sum(prices))
        prices[0] = max(0, prices[0] + difference)
    return prices


def _create_booking(intent: BookingIntent) -> Booking:
    for _ in range(5):
        try:
            with transaction.atomic():
                return Booking.objects.create(
                    reference=_new_reference(),
                    intent=intent,
                    event_id=intent.event_id,
                    buyer_name=intent.buyer_name,
                    buyer_email=intent.buyer_email,
                    buyer_phone=intent.buyer_phone,
                    amount_paise=intent.amount_paise,
                    currency=intent.currency,
                )
        except IntegrityError:
            if Booking.objects.filter(intent=intent).exists():
                raise
    raise RuntimeError("could not draw a unique booking reference")


def mark_intent_refunded(*, intent_id: UUID, now: datetime | None = None) -> bool:
    """A payment that cannot become a booking is being refunded: end the intent as REFUNDED
    and free anything it still holds. Returns False if it had already ended that way."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        won = (
            BookingIntent.objects.payable()
            .filter(pk=intent_id)
            .update(status=BookingIntent.Status.REFUNDED, ended_at=now)
        )
        if not won:
            return False
        intent = BookingIntent.objects.only("event_id", "session_ref").get(pk=intent_id)
        _free_seats_of([intent_id], now)
        inventory.invalidate_on_commit(intent.event_id)
        _announce([IntentEnding(intent.id, intent.event_id, intent.session_ref, BookingIntent.Status.REFUNDED)])
    return True


# --- After buying -------------------------------------------------------------------


def request_ticket_email(*, booking_id: int, acting_user: AbstractBaseUser | None = None) -> None:
    """Send a booking's ticket email again (the same email, with its signed ticket link), to its
    buyer. Announced through the outbox: a broker down now delays it, never loses it. The one-time
    confirmation email is its own matter (payments' claim on it); this never counts as it.

    Raises Booking.DoesNotExist for no such booking."""
    booking = Booking.objects.only("reference", "buyer_email").get(pk=booking_id)
    with transaction.atomic(durable=True):
        outbox.announce(TICKET_EMAIL_REQUESTED, reference=booking.reference, email=booking.buyer_email)
        if acting_user is not None:
            audit.record(acting_user=acting_user, action="resend ticket email", target=f"booking {booking.reference}")


def _find_tickets_buckets(*, email: str, client_ip: str | None) -> list[tuple[str, float, float]]:
    """Per client address (an IPv6 address with its /64) and per email (hashed: no address kept in
    Redis); one hash tag, so both are taken in one call."""
    limits = settings.FIND_TICKETS_RATE_LIMITS
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    buckets = [(f"rl:{{tickets}}:email:{digest}", *limits["per_email"])]
    _, network = _address(client_ip)
    if network is not None:
        buckets.append((f"rl:{{tickets}}:ip:{network}", *limits["per_ip"]))
    return buckets


def send_tickets_again(*, email: str, reference: str, client_ip: str | None) -> None:
    """Find my tickets: the ticket email of booking `reference` goes again to its buyer, if `email`
    is theirs. Whether it is, is checked by the sender off this request (see
    signals.TICKET_EMAIL_REQUESTED): the work done here, and so the answer and its time, are the
    same either way, and the page tells nobody whether an address booked.

    Raises TooManyAttempts past the limits per client address and per email."""
    wait_ms = ratelimit.take_tokens(
        inventory.redis(), _find_tickets_buckets(email=email, client_ip=client_ip), now_ms()
    )
    if wait_ms:
        raise TooManyAttempts(math.ceil(wait_ms / 1000))
    with transaction.atomic(durable=True):  # the announcement is delivered after this commit, or by the relay
        outbox.announce(TICKET_EMAIL_REQUESTED, reference=reference.upper(), email=email)


# --- At the door ----------------------------------------------------------------------


class CheckInOutcome(StrEnum):
    ADMITTED = "admitted"  # green: let them in
    ALREADY_IN = "already_in"  # red: this seat's code was checked in before
    OTHER_EVENT = "other_event"  # red: a genuine ticket, for another event
    NOT_A_TICKET = "not_a_ticket"  # red: not one of our codes (forged, damaged) or no such seat
    CANCELLED = "cancelled"  # red: a genuine ticket whose seat was cancelled (refunded, maybe sold again)


@dataclass(frozen=True)
class CheckIn:
    outcome: CheckInOutcome
    seat_label: str = ""
    buyer: str = ""  # "Asha R.": enough for the door to match a face, no more
    checked_in_at: datetime | None = None
    gate: str = ""

    @property
    def admitted(self) -> bool:
        return self.outcome == CheckInOutcome.ADMITTED


def check_in(*, event: Event, code: str, gate: str, now: datetime | None = None) -> CheckIn:
    """Let one seat in, exactly once: one conditional UPDATE (`checked_in_at IS NULL`) decides,
    so two gates scanning the same code at the same moment get one green and one red. The code
    is checked first without the database (tickets.read): a forged code costs no query."""
    ticket = tickets.read(code)
    if ticket is None:
        return CheckIn(CheckInOutcome.NOT_A_TICKET)
    if ticket.event_id != event.id:
        return CheckIn(CheckInOutcome.OTHER_EVENT, seat_label=ticket.seat_label)
    now = now or timezone.now()
    seat = (
        BookedSeat.objects.select_related("seat", "booking")
        .filter(pk=ticket.booked_seat_id, seat__event_id=event.id, booking__reference=ticket.reference)
        .first()
    )
    if seat is None:
        return CheckIn(CheckInOutcome.NOT_A_TICKET)
    if not seat.active:
        return CheckIn(
            CheckInOutcome.CANCELLED, seat_label=seat.seat.label, buyer=tickets.short_name(seat.booking.buyer_name)
        )
    # Only the row's own columns in the WHERE: a filter through a join makes Django write
    # `WHERE id IN (subquery)`, which PostgreSQL does not re-evaluate after waiting for a racing
    # gate's lock, and then both gates would win.
    # `active` too: a cancellation committed since the read above wins over the door.
    won = BookedSeat.objects.filter(pk=seat.pk, checked_in_at__isnull=True, active=True).update(
        checked_in_at=now, checked_in_gate=gate[:40]
    )
    if won:
        seat.checked_in_at, seat.checked_in_gate = now, gate[:40]
    else:
        seat.refresh_from_db(fields=["checked_in_at", "checked_in_gate", "active"])
        if not seat.active:
            return CheckIn(
                CheckInOutcome.CANCELLED, seat_label=seat.seat.label, buyer=tickets.short_name(seat.booking.buyer_name)
            )
    outcome = CheckInOutcome.ADMITTED if won else CheckInOutcome.ALREADY_IN
    return CheckIn(
        outcome,
        seat_label=seat.seat.label,
        buyer=tickets.short_name(seat.booking.buyer_name),
        checked_in_at=seat.checked_in_at,
        gate=seat.checked_in_gate,
    )


def create_door_staff(*, username: str, password: str, email: str = "") -> AbstractBaseUser:
    """A login for the door: staff (so the admin's login page lets it in), with the check-in
    permission and nothing else, so a lost phone opens the door page and no admin screen. The
    password passes the project's validators; an existing username is refused, never changed."""
    user_model = get_user_model()
    if not username.strip():
        raise InvalidRequest("Give the door staff a username.")
    if not password:
        raise InvalidRequest("Give the door staff a password.")
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        raise InvalidRequest(f"A user named {username!r} exists already: choose another name.")
    user = user_model(**{user_model.USERNAME_FIELD: username}, email=email, is_staff=True)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise InvalidRequest(" ".join(error.messages)) from None
    user.set_password(password)
    check_in = Permission.objects.get(content_type__app_label="booking", codename="check_in")
    try:
        with transaction.atomic(durable=True):
            user.save()
            user.user_permissions.set([check_in])
            audit.record(acting_user=None, action="create door staff", target=f"user {username}")
    except IntegrityError:  # the same name created at the same moment elsewhere
        raise InvalidRequest(f"A user named {username!r} exists already: choose another name.") from None
    return user


SYNC_BATCH_MAX = 200  # scans per sync request: a gate's offline queue goes in several
SCAN_TIME_TRUSTED = timedelta(hours=12)  # a phone's scan time older than this is its clock, not a scan


@dataclass(frozen=True)
class QueuedScan:
    """A check-in a gate made while offline: the code, the gate, and when the phone scanned it."""

    code: str
    gate: str
    scanned_at: datetime | None


class SyncOutcome(StrEnum):
    ADMITTED = "admitted"  # checked in now, at the scan's time (or this very scan, sent again)
    DUPLICATE = "duplicate"  # checked in before, at another gate or time: the door should know
    NOT_VALID = "not_valid"  # not a ticket of this event


@dataclass(frozen=True)
class SyncAnswer:
    scan: QueuedScan
    outcome: SyncOutcome
    check_in: CheckIn


def _check_in_time(scanned_at: datetime | None, now: datetime) -> datetime:
    """The scan's own time when it is plausible, so the record says when the person came in; never
    in the future (a phone's clock ahead), and `now` for a time too old to be this evening's."""
    if scanned_at is None or scanned_at < now - SCAN_TIME_TRUSTED:
        return now
    return min(scanned_at, now)


def sync_check_ins(*, event: Event, scans: list[QueuedScan], now: datetime | None = None) -> list[SyncAnswer]:
    """Apply a gate's offline queue: each scan through `check_in`, so each seat is let in exactly
    once (its conditional UPDATE decides, whatever other gates sync or scan at the same moment),
    and say per scan whether it was admitted, a duplicate (in before: when, and at which gate) or
    not valid. A scan the gate sends again (the answer to an earlier sync was lost) finds its own
    check-in, same gate and same time, and is answered admitted again, not as a duplicate. A batch
    over SYNC_BATCH_MAX is refused whole, before any check-in."""
    if len(scans) > SYNC_BATCH_MAX:
        raise InvalidRequest(f"At most {SYNC_BATCH_MAX} scans per sync; send the rest in another.")
    now = now or timezone.now()
    answers = []
    for scan in scans:
        at = _check_in_time(scan.scanned_at, now)
        result = check_in(event=event, code=scan.code, gate=scan.gate, now=at)
        if result.admitted:
            outcome = SyncOutcome.ADMITTED
        elif result.outcome != CheckInOutcome.ALREADY_IN:
            outcome = SyncOutcome.NOT_VALID
        elif result.gate == scan.gate[:40] and result.checked_in_at == at:
            outcome = SyncOutcome.ADMITTED  # this scan's own check-in, from a sync whose answer was lost
        else:
            outcome = SyncOutcome.DUPLICATE
        answers.append(SyncAnswer(scan=scan, outcome=outcome, check_in=result))
    if answers:
        logger.info(
            "door sync for event %s: %s",
            event.id,
            {o.value: sum(a.outcome == o for a in answers) for o in SyncOutcome},
        )
    return answers


# --- Cancellation -------------------------------------------------------------------

# What decides a cancellation: its booked seats are still active, its seats still sold to it. The control test of
# tests/cancel swaps them for Q() to prove its race harness would catch a double cancellation.
_STILL_ACTIVE = Q(active=True)


def _still_sold_to(intent_id: UUID) -> Q:
    return Q(status=Seat.Status.SOLD, intent_id=intent_id)


# Called between reading the seats and the deciding UPDATE; tests widen the race window with it
# (pretix's concurrency tests do the same). None in production.
RACE_WINDOW: Callable[[], None] | None = None


def cancel_booking(
    *,
    booking_id: int,
    reason: str,
    booked_seat_ids: Collection[int] | None = None,
    release_seats: bool = True,
    acting_user: AbstractBaseUser | None = None,
    call_off: bool = False,
) -> Cancellation:
    """Cancel some seats of a booking (`booked_seat_ids`, all its active seats by default), exactly
    once, however many operators or retries press it at the same moment.

    One transaction: one conditional UPDATE (`active` still true, the row's own columns only, so
    PostgreSQL re-checks it after waiting for a racing cancellation's lock) decides, by its row count,
    whether this call won every seat; a loser rolls back and changes nothing (AlreadyCancelled). The
    seats go back on sale or are blocked (`release_seats`) by one conditional versioned UPDATE. The
    refund due is the seats' price, so the money kept always equals the value of the seats still
    valid. The cancellation is announced through the outbox in the same transaction: payments refunds
    it (idempotency key per cancellation) and emails the buyer, even if the broker is down now.

    Raises InvalidRequest (no reason, unknown booking or seats), AlreadyCancelled."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Give a reason for the cancellation (the buyer is told).")
    with transaction.atomic(durable=True):
        booking = Booking.objects.only("reference", "event_id", "intent_id").filter(pk=booking_id).first()
        if booking is None:
            raise InvalidRequest("No such booking.")
        seats = list(
            BookedSeat.objects.filter(booking_id=booking_id).values_list("pk", "seat_id", "price_paise", "active")
        )
        if booked_seat_ids is not None:
            wanted = set(booked_seat_ids)
            if not wanted:
                raise InvalidRequest("Choose at least one seat to cancel.")
            if wanted - {pk for pk, *_ in seats}:
                raise InvalidRequest("Those seats are not of this booking.")
            seats = [row for row in seats if row[0] in wanted]
        chosen = [(pk, seat_id, price) for pk, seat_id, price, active in seats if active]
        if not chosen or len(chosen) < len(seats) and booked_seat_ids is not None:
            raise AlreadyCancelled()
        if RACE_WINDOW is not None:
            RACE_WINDOW()
        cancellation = Cancellation.objects.create(
            booking_id=booking_id,
            amount_paise=sum(price for _, _, price in chosen),
            seats_released=release_seats,
            call_off=call_off,
            reason=reason[:200],
            actor_name=acting_user.get_username() if acting_user is not None else "",
        )
        won = (
            BookedSeat.objects.filter(pk__in=[pk for pk, _, _ in chosen])
            .filter(_STILL_ACTIVE)
            .update(active=False, cancellation=cancellation)
        )
        if won != len(chosen):
            raise AlreadyCancelled()  # another cancellation took them first: roll back, change nothing
        seat_ids = [seat_id for _, seat_id, _ in chosen]
        changed = (
            Seat.objects.filter(pk__in=seat_ids)
            .filter(_still_sold_to(booking.intent_id))
            .update(
                status=Seat.Status.AVAILABLE if release_seats else Seat.Status.BLOCKED,
                intent=None,
                hold_expires_at=None,
                version=F("version") + 1,
            )
        )
        if changed != len(seat_ids):
            raise AlreadyCancelled()  # the seats were no longer this booking's: change nothing
        Booking.objects.filter(pk=booking_id).update(status=Booking.Status.CANCELLED)
        if cancellation.amount_paise == 0:  # nothing to refund: settled at once
            Cancellation.objects.filter(pk=cancellation.pk).update(refunded_at=timezone.now())
            _settle_booking_status(booking_id)
        inventory.invalidate_on_commit(booking.event_id)
        outbox.announce(
            BOOKING_CANCELLED,
            cancellation_id=cancellation.pk,
            booking_id=booking_id,
            event_id=booking.event_id,
            call_off=call_off,
        )
        audit.record(
            acting_user=acting_user,
            action="cancel booking",
            target=f"booking {booking.reference}",
            detail=f"{len(chosen)} seat(s), refund {cancellation.amount_paise} paise, "
            f"seats {'back on sale' if release_seats else 'blocked'}: {reason}",
        )
    return cancellation


def _settle_booking_status(booking_id: int) -> str:
    """The booking's status from its cancellations: a refund still pending says CANCELLED; else
    REFUNDED when no seat is left, PARTLY_REFUNDED when some are. Call inside a transaction; the
    booking's row lock orders two refunds settling at once."""
    Booking.objects.select_for_update().only("pk").get(pk=booking_id)
    cancellations = Cancellation.objects.filter(booking_id=booking_id)
    if not cancellations.exists():
        status = Booking.Status.CONFIRMED
    elif cancellations.filter(refunded_at__isnull=True).exists():
        status = Booking.Status.CANCELLED
    elif BookedSeat.objects.filter(booking_id=booking_id, active=True).exists():
        status = Booking.Status.PARTLY_REFUNDED
    else:
        status = Booking.Status.REFUNDED
    Booking.objects.filter(pk=booking_id).update(status=status)
    return status


def record_cancellation_refunded(*, cancellation_id: int, now: datetime | None = None) -> bool:
    """Payments: Razorpay processed this cancellation's refund (its answer, or the refund webhook).
    The booking becomes refunded or partly refunded. Idempotent: returns False when already recorded."""
    with transaction.atomic(durable=True):
        won = Cancellation.objects.filter(pk=cancellation_id, refunded_at__isnull=True).update(
            refunded_at=now or timezone.now(), refund_error=""
        )
        if won:
            _settle_booking_status(Cancellation.objects.values_list("booking_id", flat=True).get(pk=cancellation_id))
    return bool(won)


def record_cancellation_refund_failed(*, cancellation_id: int, error: str) -> None:
    """Payments: an attempt to refund this cancellation failed (it is retried); ops see why."""
    Cancellation.objects.filter(pk=cancellation_id, refunded_at__isnull=True).update(refund_error=error[:300])


def call_off_event(*, event_id: int, reason: str, acting_user: AbstractBaseUser | None = None) -> bool:
    """Call the event off: in one transaction sales stop (status CANCELLED, so no hold is taken
    again), every live hold ends (RELEASED, announced as usual: the buyers' slots are freed), every
    seat not sold is blocked, and the call-off is announced through the outbox: the waiting room
    closes, and payments starts its resumable job that cancels every booking (seats blocked) and
    refunds it at the gateway's pace. Returns False when the event was already called off."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Give a reason for calling the event off (every buyer is told).")
    now = timezone.now()
    with transaction.atomic(durable=True):
        won = (
            Event.objects.filter(pk=event_id)
            .exclude(status=Event.Status.CANCELLED)
            .update(status=Event.Status.CANCELLED)
        )
        if not won:
            if not Event.objects.filter(pk=event_id).exists():
                raise InvalidRequest("No such event.")
            return False
        event = Event.objects.get(pk=event_id)
        event.save(update_fields=["status"])  # post_save refreshes its pages and its room's mirror
        rows = _update_returning(
            BookingIntent.objects.filter(event_id=event_id, status=BookingIntent.Status.HELD),
            values={"status": BookingIntent.Status.RELEASED, "ended_at": now},
            returning=["id", "session_ref"],
        )
        Seat.objects.filter(event_id=event_id, status__in=[Seat.Status.AVAILABLE, Seat.Status.HELD]).update(
            status=Seat.Status.BLOCKED, intent=None, hold_expires_at=None, version=F("version") + 1
        )
        _announce(
            [
                IntentEnding(UUID(str(intent_id)), event_id, session_ref, BookingIntent.Status.RELEASED)
                for intent_id, session_ref in rows
            ]
        )
        inventory.invalidate_on_commit(event_id)
        outbox.announce(EVENT_CALLED_OFF, event_id=event_id)
        audit.record(
            acting_user=acting_user,
            action="call off event",
            target=f"event {event.slug}",
            detail=f"{len(rows)} hold(s) released: {reason}",
        )
    return True
