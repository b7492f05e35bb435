"""Writes of the booking core.

Every seat state change is one conditional UPDATE that bumps `version`; its row
count decides who won. Transactions are short and hold no network call. An
expired hold counts as free in every predicate, so correctness never waits for
the beat job. Other apps learn about ended intents through `signals.intent_ended`.
"""

import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from apps.booking import inventory
from apps.booking.errors import (
    HoldExpired,
    IntentNotFound,
    InvalidRequest,
    LimitExceeded,
    NotOnSale,
    SeatsUnavailable,
    UnknownSeats,
)
from apps.booking.models import BookedSeat, Booking, BookingIntent, Event, IntentSeat, Seat, Section
from apps.booking.signals import IntentEnding, IntentHeld, intent_ended, intent_held

logger = logging.getLogger(__name__)

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the gate
REFERENCE_LENGTH = 8


# A seat can be taken when it is available or its hold has run out.
def _free_q(now: datetime) -> Q:
    return Q(status=Seat.Status.AVAILABLE) | Q(status=Seat.Status.HELD, hold_expires_at__lte=now)


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
    seats = []
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
    return len(seats)


# --- Holding ------------------------------------------------------------------------


def _lock_buyer(event_id: int, email: str) -> None:
    """Serialise one buyer's holds on one event (only that buyer waits), so the per-buyer
    limit and the double-submit check see each other's results. Released at commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"buyer:{event_id}:{email}"])
    # SQLite (the newcomer fallback) runs IMMEDIATE transactions: writers are serial already.


_HOLDINGS_SQL = f"""
    SELECT i.id, s.seat_id FROM {BookingIntent._meta.db_table} i
      JOIN {IntentSeat._meta.db_table} s ON s.intent_id = i.id
     WHERE i.event_id = %s AND i.buyer_email = %s AND i.status = %s AND i.expires_at > %s
    UNION ALL
    SELECT NULL, b.seat_id FROM {Booking._meta.db_table} k
      JOIN {BookedSeat._meta.db_table} b ON b.booking_id = k.id
     WHERE k.event_id = %s AND k.buyer_email = %s
"""  # noqa: S608 - table names are ours; values are parameters


def _buyer_holdings(event_id: int, email: str, now: datetime) -> tuple[dict[UUID, set[int]], int]:
    """The buyer's live holds (intent -> seat ids) and how many seats they already bought.

    One round trip of plain SQL: it runs on every hold, under the buyer's lock."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLDINGS_SQL, [event_id, email, BookingIntent.Status.HELD, now, event_id, email])
        rows = cursor.fetchall()
    live: dict[UUID, set[int]] = {}
    bought = 0
    for intent_id, seat_id in rows:
        if intent_id is None:
            bought += 1
        else:
            live.setdefault(UUID(str(intent_id)), set()).add(seat_id)
    return live, bought


def hold_seats(
    *,
    event: Event,
    seat_labels: list[str],
    buyer_name: str,
    buyer_email: str,
    buyer_phone: str,
    session_ref: str = "",
    now: datetime | None = None,
) -> HoldResult:
    """Hold all the seats or none, for `event.hold_minutes`.

    Raises UnknownSeats, InvalidRequest, NotOnSale, LimitExceeded or SeatsUnavailable
    (naming the seats that were taken)."""
    now = now or timezone.now()
    email = buyer_email.strip().lower()
    labels = sorted({label.strip().upper() for label in seat_labels if label.strip()})
    if not labels:
        raise InvalidRequest("Choose at least one seat.")
    if len(labels) > event.max_seats_per_buyer:
        raise InvalidRequest(f"You can choose at most {event.max_seats_per_buyer} seats.")
    if not event.is_on_sale(now):
        raise NotOnSale()

    seats = list(Seat.objects.filter(event=event, label__in=labels).select_related("section", "intent").order_by("id"))
    missing = set(labels) - {s.label for s in seats}
    if missing:
        raise UnknownSeats(missing)
    # Seats this buyer already holds are not "taken": a repeated submit finds its intent below.
    taken = [s.label for s in seats if not s.is_free(now) and not (s.intent and s.intent.buyer_email == email)]
    if taken:
        raise SeatsUnavailable(taken)

    seat_ids = {s.id for s in seats}
    expires_at = now + timedelta(minutes=event.hold_minutes)
    with transaction.atomic(durable=True):
        _lock_buyer(event.id, email)
        live, bought = _buyer_holdings(event.id, email, now)
        for intent_id, ids in live.items():
            if ids == seat_ids:  # a repeated submit (double click, retry) of a hold they already have
                return HoldResult(intent=BookingIntent.objects.get(pk=intent_id), created=False)
        already = bought + sum(len(ids) for ids in live.values())
        if already + len(seats) > event.max_seats_per_buyer:
            raise LimitExceeded(event.max_seats_per_buyer, already)

        intent = BookingIntent.objects.create(
            event=event,
            buyer_name=buyer_name.strip(),
            buyer_email=email,
            buyer_phone=buyer_phone.strip(),
            amount_paise=sum(s.section.price_paise for s in seats),
            expires_at=expires_at,
            session_ref=session_ref[:64],
        )
        # One conditional update per seat, in id order so that concurrent holds never deadlock.
        for seat in seats:
            won = (
                Seat.objects.filter(pk=seat.pk, version=seat.version)
                .filter(_free_q(now))
                .update(status=Seat.Status.HELD, intent=intent, hold_expires_at=expires_at, version=F("version") + 1)
            )
            if not won:
                others = Seat.objects.filter(pk__in=seat_ids).exclude(intent=intent)
                raise SeatsUnavailable({seat.label} | {s.label for s in others if not s.is_free(now)})
        IntentSeat.objects.bulk_create([IntentSeat(intent=intent, seat=s) for s in seats])
        inventory.invalidate_on_commit(event.id)
        held = IntentHeld(intent.id, event.id, intent.session_ref)
        transaction.on_commit(lambda: intent_held.send(sender=BookingIntent, held=held))
    return HoldResult(intent=intent, created=True)


def _announce(endings: list[IntentEnding]) -> None:
    if endings:
        transaction.on_commit(lambda: intent_ended.send(sender=BookingIntent, endings=endings))


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


def release_intent(*, intent_id: UUID, now: datetime | None = None) -> bool:
    """The buyer (or ops) gives the hold back: its seats are free at once.

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
    return True


def expire_intents(*, now: datetime | None = None) -> int:
    """Mark every lapsed hold EXPIRED and free its seats: a constant number of queries
    whatever the count, idempotent, and safe with two sweepers at once (each intent row
    is changed by one UPDATE only; the loser's WHERE no longer matches).

    Returns how many intents this call expired."""
    now = now or timezone.now()
    table = BookingIntent._meta.db_table
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = %s, ended_at = %s "  # noqa: S608 - table name is ours
                "WHERE status = %s AND expires_at <= %s RETURNING id, event_id, session_ref",
                [BookingIntent.Status.EXPIRED, now, BookingIntent.Status.HELD, now],
            )
            rows = cursor.fetchall()
        lapsed = (
            Seat.objects.filter(status=Seat.Status.HELD, hold_expires_at__lte=now)
            .select_for_update(skip_locked=True)
            .values("pk")
        )
        freed_events = set(
            Seat.objects.filter(pk__in=lapsed, status=Seat.Status.HELD, hold_expires_at__lte=now)
            .values_list("event_id", flat=True)
            .distinct()
        )
        Seat.objects.filter(pk__in=lapsed, status=Seat.Status.HELD, hold_expires_at__lte=now).update(
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
        won = BookingIntent.objects.filter(
            pk=intent_id, status=BookingIntent.Status.HELD, expires_at__gt=now, extended_at__isnull=True
        ).update(expires_at=new_expiry, extended_at=now)
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
    payable = [BookingIntent.Status.HELD, BookingIntent.Status.EXPIRED, BookingIntent.Status.RELEASED]
    with transaction.atomic(durable=True):
        won = BookingIntent.objects.filter(pk=intent_id, status__in=payable).update(
            status=BookingIntent.Status.CONFIRMED, ended_at=now
        )
        intent = BookingIntent.objects.filter(pk=intent_id).first()
        if intent is None:
            raise IntentNotFound()
        if not won:
            if intent.status == BookingIntent.Status.CONFIRMED:
                return Booking.objects.get(intent_id=intent_id), False
            raise HoldExpired(f"This order was closed ({intent.get_status_display().lower()}).")

        seats = list(intent.seats.order_by("id"))
        mine_or_free = Q(intent_id=intent_id, status=Seat.Status.HELD) | _free_q(now)
        for seat in seats:
            if (
                not Seat.objects.filter(pk=seat.pk)
                .filter(mine_or_free)
                .update(status=Seat.Status.SOLD, intent_id=intent_id, hold_expires_at=None, version=F("version") + 1)
            ):
                raise SeatsUnavailable([seat.label])
        try:
            booking = _create_booking(intent)
            BookedSeat.objects.bulk_create([BookedSeat(booking=booking, seat=s) for s in seats])
        except IntegrityError as error:
            logger.error("intent %s could not be booked (seats taken as gone): %s", intent_id, error)
            raise SeatsUnavailable([s.label for s in seats]) from error
        inventory.invalidate_on_commit(intent.event_id)
        _announce([IntentEnding(intent.id, intent.event_id, intent.session_ref, BookingIntent.Status.CONFIRMED)])
    return booking, True


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
    payable = [BookingIntent.Status.HELD, BookingIntent.Status.EXPIRED, BookingIntent.Status.RELEASED]
    with transaction.atomic(durable=True):
        won = BookingIntent.objects.filter(pk=intent_id, status__in=payable).update(
            status=BookingIntent.Status.REFUNDED, ended_at=now
        )
        if not won:
            return False
        intent = BookingIntent.objects.only("event_id", "session_ref").get(pk=intent_id)
        _free_seats_of([intent_id], now)
        inventory.invalidate_on_commit(intent.event_id)
        _announce([IntentEnding(intent.id, intent.event_id, intent.session_ref, BookingIntent.Status.REFUNDED)])
    return True
