"""Reads of the booking core. Expiry is a predicate here: a lapsed hold reads as free."""

import copy
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import Length
from django.utils import timezone

from apps.booking import tickets
from apps.booking.links import active_booked_seats
from apps.booking.models import BookedSeat, Booking, BookingIntent, Cancellation, Event, Seat, SeatQuerySet


def events_listed(now: datetime | None = None) -> list[Event]:
    """Events a buyer can see: on sale or about to be, not yet started."""
    now = now or timezone.now()
    return list(Event.objects.filter(status=Event.Status.ON_SALE, starts_at__gte=now).order_by("starts_at"))


EVENT_MEMO_SECONDS = 1.0
_recent_events: dict[str, tuple[float, Event]] = {}


def event_by_slug(slug: str) -> Event | None:
    """The event as this process read it within the last second. Buyers' hottest URLs (a hold, the
    seat availability documents) need it on every request, and during a drop a query each was a
    third of a hold's cost. A change saved elsewhere (ops pausing a sale) reaches every process
    within the second, and at once the one that saved it (`forget_event`). Never the judge of a
    seat: the hold's statement is. Each caller gets its own copy."""
    now = time.monotonic()
    recent = _recent_events.get(slug)
    if recent is None or now - recent[0] > EVENT_MEMO_SECONDS:
        event = Event.objects.filter(slug=slug).first()
        if event is None:
            _recent_events.pop(slug, None)
            return None
        recent = _recent_events[slug] = (now, event)
    return copy.copy(recent[1])


def forget_event(slug: str | None = None) -> None:
    """Drop the memo of one event (on save or delete), or of all."""
    if slug is None:
        _recent_events.clear()
    else:
        _recent_events.pop(slug, None)


def visible_event(event_id: int) -> Event | None:
    """The event, unless it is a draft (drafts have no buyer pages)."""
    return Event.objects.filter(pk=event_id).exclude(status=Event.Status.DRAFT).first()


@dataclass
class SeatView:
    label: str
    number: int
    state: str  # available, held, sold, blocked (expiry already applied)


@dataclass
class SectionView:
    name: str
    price_paise: int
    rows: list[tuple[str, list[SeatView]]] = field(default_factory=list)
    available: int = 0


@dataclass
class SeatMap:
    sections: list[SectionView]
    available: int
    total: int
    next_change: datetime | None  # when the earliest live hold lapses


def seat_map(event: Event, now: datetime | None = None, *, section_ids: list[int] | None = None) -> SeatMap:
    """The inventory of an event (or of some of its sections) in one query, grouped by section and row."""
    now = now or timezone.now()
    sections: dict[int, SectionView] = {}
    chosen = event.sections.all() if section_ids is None else event.sections.filter(id__in=section_ids)
    for section in chosen:
        sections[section.id] = SectionView(section.name, section.price_paise)
    available = 0
    total = 0
    next_change: datetime | None = None
    rows = (
        Seat.objects.filter(event=event, section_id__in=list(sections))
        .order_by("section__position", "section_id", "id")
        .values_list("section_id", "row_label", "number", "label", "status", "hold_expires_at")
    )
    for section_id, row_label, number, label, status, hold_expires_at in rows:
        total += 1
        status = Seat.status_at(status, hold_expires_at, now)
        # A held seat always has its expiry (constraint seat_held_has_expiry_and_intent).
        if (
            status == Seat.Status.HELD
            and hold_expires_at is not None
            and (next_change is None or hold_expires_at < next_change)
        ):
            next_change = hold_expires_at
        view = sections[section_id]
        if not view.rows or view.rows[-1][0] != row_label:
            view.rows.append((row_label, []))
        view.rows[-1][1].append(SeatView(label, number, status.lower()))
        if status == Seat.Status.AVAILABLE:
            available += 1
            view.available += 1
    return SeatMap(list(sections.values()), available, total, next_change)


@dataclass
class LayoutSection:
    id: int
    name: str
    price_paise: int
    seats: int = 0
    rows: list[tuple[str, list[int]]] = field(default_factory=list)  # (row label, seat numbers in order)


@dataclass
class SeatLayout:
    """Where the seats are: what changes only when seats are added, moved or renamed."""

    sections: list[LayoutSection]
    labels: dict[str, str]  # "<row>-<number>" -> the seat's label, only where it is something else

    @property
    def seats(self) -> int:
        return sum(section.seats for section in self.sections)


def seat_layout(event: Event) -> SeatLayout:
    """The event's sections, their rows and seat numbers: two queries, no seat state.

    Rows keep the order their seats were created in (A, B, ... Z, AA), numbers go up."""
    sections = {s.id: LayoutSection(s.id, s.name, s.price_paise) for s in event.sections.all()}
    rows: dict[tuple[int, str], list[int]] = {}
    labels: dict[str, str] = {}
    seats = Seat.objects.filter(event=event).order_by("id").values_list("section_id", "row_label", "number", "label")
    for section_id, row_label, number, label in seats:
        section = sections.get(section_id)
        if section is None:  # a seat moved by hand to another event's section: not on this map
            continue
        numbers = rows.get((section_id, row_label))
        if numbers is None:
            numbers = rows[(section_id, row_label)] = []
            section.rows.append((row_label, numbers))
        numbers.append(number)
        section.seats += 1
        if label != f"{row_label}-{number}":
            labels[f"{row_label}-{number}"] = label
    for numbers in rows.values():
        numbers.sort()
    return SeatLayout([s for s in sections.values() if s.seats], labels)


@dataclass
class Availability:
    """Which seats cannot be taken right now, as (row label, number), by state; free counts per section."""

    on_sale: bool
    left: dict[int, int]  # section id -> free seats (available, or held by a hold that lapsed)
    taken: dict[str, dict[str, list[int]]]  # "held" | "sold" | "blocked" -> row label -> numbers
    next_change: datetime | None  # when the earliest live hold lapses: this answer is true until then


def seat_availability(
    event: Event, now: datetime | None = None, *, section_id: int | None = None, seats: bool = True
) -> Availability:
    """Free counts per section (one aggregate query) and, with `seats`, the seats that are not free
    (one query that reads only those). A free seat costs nothing here, so a fresh event is cheap."""
    now = now or timezone.now()
    scope = Seat.objects.filter(event=event)
    if section_id is not None:
        scope = scope.filter(section_id=section_id)
    left: dict[int, int] = {}
    next_change = None
    counts = (
        scope.order_by()
        .values("section_id")
        .annotate(
            free=Count("id", filter=SeatQuerySet.free_q(now)),
            next=Min("hold_expires_at", filter=SeatQuerySet.on_hold_q(now)),
        )
    )
    for row in counts:
        left[row["section_id"]] = row["free"]
        if row["next"] is not None and (next_change is None or row["next"] < next_change):
            next_change = row["next"]
    taken: dict[str, dict[str, list[int]]] = {}
    if seats:
        for row_label, number, status in scope.taken(now).order_by("id").values_list("row_label", "number", "status"):
            taken.setdefault(status.lower(), {}).setdefault(row_label, []).append(number)
        for rows in taken.values():
            for numbers in rows.values():
                numbers.sort()
    return Availability(event.is_on_sale(now), left, taken, next_change)


def section_ids_of(event: Event, labels: list[str]) -> list[int]:
    """The sections (in map order) of the seats a buyer chose: the no-JavaScript page shows those."""
    chosen = [label.strip().upper() for label in labels]
    ids = set(Seat.objects.filter(event=event, label__in=chosen).values_list("section_id", flat=True))
    return [s for s in event.sections.values_list("id", flat=True) if s in ids]


@dataclass(frozen=True)
class InventoryCounts:
    available: int
    held: int  # live holds, which may still come back
    sold: int

    @property
    def all_gone(self) -> bool:
        """Nothing free and no live hold that could come back: sold out for good (with live holds,
        a seat may still come free)."""
        return self.available == 0 and self.held == 0


def inventory_counts(event_id: int, now: datetime | None = None) -> InventoryCounts:
    now = now or timezone.now()
    counts = Seat.objects.filter(event_id=event_id).aggregate(
        available=Count("id", filter=SeatQuerySet.free_q(now)),
        held=Count("id", filter=SeatQuerySet.on_hold_q(now)),
        sold=Count("id", filter=Q(status=Seat.Status.SOLD)),
    )
    return InventoryCounts(**counts)


class OnItsClock(Protocol):
    """An event, or what a page keeps of one (the waiting room's mirror): it tells the venue's time."""

    def local(self, moment: datetime) -> datetime: ...


def on_another_day(event: OnItsClock, moment: datetime, now: datetime) -> bool:
    """Whether `moment` falls on another day than `now` on the venue's clock: a time shown then
    names its date ("Opens Sat 12 Dec 2026, 10:00 IST"), else only the time ("Opens at 10:00 IST")."""
    return event.local(moment).date() != event.local(now).date()


class SaleBadge(StrEnum):
    """What the event list and the event page say about buying, in one word (the badge's class)."""

    ON_SALE = "on_sale"
    OPENS = "opens"  # on sale from sale_opens_at: "Opens at 10:00 IST"
    FEW_LEFT = "few_left"
    SOLD_OUT = "sold_out"  # nothing free now (seats on a live hold may come back)
    NOT_ON_SALE = "not_on_sale"  # closed or cancelled


# "Few left" when at most this share of the sellable seats (not blocked) is free: relative, so it
# means the same for a club and a stadium, and during a drop it warns before the last seats go.
FEW_LEFT_SHARE = 0.10
# A page whose badge turns with the clock (the opening, a hold that lapses on a sold-out event) is
# rebuilt at that moment, but never more often than this (a drop has a lapse every instant).
SALE_FACTS_MIN_FRESH_SECONDS = 1.0


@dataclass(frozen=True)
class SaleFacts:
    """An event as the buyer pages show it before buying: its price range and its badge."""

    badge: SaleBadge
    lowest_paise: int | None  # None: no seats at all
    highest_paise: int | None
    available: int
    held: int  # seats on a live hold: they come back if not paid for
    opens_on_another_day: bool  # the badge then names the date, not only the time
    true_until: datetime | None  # when the clock alone may change the badge (the opening, a hold lapse)

    @property
    def can_choose_seats(self) -> bool:
        return self.badge in (SaleBadge.ON_SALE, SaleBadge.FEW_LEFT)

    @property
    def opens_later(self) -> bool:
        return self.badge == SaleBadge.OPENS


def sale_facts(events: list[Event], now: datetime | None = None) -> dict[int, SaleFacts]:
    """Price range, free seats and badge of each event: one aggregate query for them all, on the
    seats' (event, ...) index, whatever the number of events or seats."""
    now = now or timezone.now()
    sellable = ~Q(status=Seat.Status.BLOCKED)
    rows = (
        Seat.objects.filter(event_id__in=[e.id for e in events])
        .order_by()
        .values("event_id")
        .annotate(
            sellable=Count("id", filter=sellable),
            available=Count("id", filter=SeatQuerySet.free_q(now)),
            held=Count("id", filter=SeatQuerySet.on_hold_q(now)),
            next_lapse=Min("hold_expires_at", filter=SeatQuerySet.on_hold_q(now)),
            lowest=Min("section__price_paise", filter=sellable),
            highest=Max("section__price_paise", filter=sellable),
        )
    )
    counts = {row["event_id"]: row for row in rows}
    return {event.id: _facts(event, counts.get(event.id, {}), now) for event in events}


def _facts(event: Event, counts: Mapping[str, Any], now: datetime) -> SaleFacts:
    available, held, sellable = counts.get("available", 0), counts.get("held", 0), counts.get("sellable", 0)
    true_until = None
    if event.status != Event.Status.ON_SALE:
        badge = SaleBadge.NOT_ON_SALE
    elif event.sale_opens_at > now:
        badge, true_until = SaleBadge.OPENS, event.sale_opens_at
    elif available == 0:
        badge, true_until = SaleBadge.SOLD_OUT, counts.get("next_lapse")  # a lapse frees a seat
    elif available <= math.ceil(sellable * FEW_LEFT_SHARE):
        badge = SaleBadge.FEW_LEFT
    else:
        badge = SaleBadge.ON_SALE
    return SaleFacts(
        badge=badge,
        lowest_paise=counts.get("lowest"),
        highest_paise=counts.get("highest"),
        available=available,
        held=held,
        opens_on_another_day=on_another_day(event, event.sale_opens_at, now),
        true_until=true_until,
    )


def sale_facts_true_for(facts: list[SaleFacts], now: datetime, at_most: float) -> float:
    """Seconds a page showing these facts stays true by the clock alone (at most `at_most`, at least
    SALE_FACTS_MIN_FRESH_SECONDS): inventory changes are caught by the page's own rebuild cadence."""
    seconds = at_most
    for fact in facts:
        if fact.true_until is not None:
            seconds = min(seconds, (fact.true_until - now).total_seconds())
    return max(SALE_FACTS_MIN_FRESH_SECONDS, seconds)


def _owned(intent_id: UUID, owner: str):
    """The one owner check of every buyer URL scoped to a hold (checkout, pay start and verify,
    release, the way to the ticket): the hold, only for the browser that made it. Knowing the id,
    the email or being staff is not enough; ops see holds in the admin. No owner owns nothing."""
    if not owner:
        return BookingIntent.objects.none()
    return BookingIntent.objects.filter(pk=intent_id, session_ref=owner)


def intent_for_owner(intent_id: UUID, owner: str) -> BookingIntent | None:
    return _owned(intent_id, owner).select_related("event").first()


def intent_for_checkout(intent_id: UUID, owner: str) -> BookingIntent | None:
    """The owner's hold with what the checkout page shows (seats and their sections)."""
    return _owned(intent_id, owner).select_related("event").prefetch_related("intent_seats__seat__section").first()


def booking_by_reference(reference: str) -> Booking | None:
    return (
        Booking.objects.filter(reference=reference.upper())
        .select_related("event")
        .prefetch_related("booked_seats__seat__section")
        .first()
    )


def booking_of_buyer(*, reference: str, email: str) -> Booking | None:
    """The booking `reference` when `email` is its buyer's (letter case aside), else None."""
    return (
        Booking.objects.filter(reference=reference.upper(), buyer_email__iexact=email.strip())
        .select_related("event")
        .prefetch_related("booked_seats__seat__section")
        .first()
    )


# --- After the sale: who is coming, who is in ---------------------------------------------

ATTENDEE_COLUMNS = (
    "booking reference",
    "buyer name",
    "email",
    "phone",
    "seat",
    "section",
    "status",
    "checked in at",
    "gate",
)
# A seat's standing in the list: still valid, or cancelled (refunded, maybe sold again to someone else).
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV Injection"):
# a buyer named "=HYPERLINK(...)" must reach ops as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """The cell as text a spreadsheet will not run: a leading apostrophe before a formula start.
    A phone number in +91 form gets one too, which also keeps Excel from turning it into 9.2E+11."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def attendee_rows(event: Event) -> Iterator[list[str]]:
    """The attendee list of an event for the door and the box office: a header, then one row per
    booked seat, by booking reference then seat as the ticket lists them. One query, read in chunks, whatever
    the number of bookings; times on the venue's clock with its offset (ISO 8601)."""
    yield list(ATTENDEE_COLUMNS)
    seats = (
        BookedSeat.objects.filter(booking__event_id=event.id)
        # The ticket's order of seats (links.seat_order): section, row (A before AA), number.
        .order_by(
            "booking__reference",
            "seat__section__position",
            Length("seat__row_label"),
            "seat__row_label",
            "seat__number",
        )
        .values_list(
            "booking__reference",
            "booking__buyer_name",
            "booking__buyer_email",
            "booking__buyer_phone",
            "seat__label",
            "seat__section__name",
            "checked_in_at",
            "checked_in_gate",
            "active",
        )
    )
    for reference, name, email, phone, seat, section, checked_in_at, gate, active in seats.iterator(chunk_size=2000):
        checked_in = event.local(checked_in_at).isoformat(timespec="seconds") if checked_in_at else ""
        status = CONFIRMED if active else CANCELLED
        row = [reference, name, email, phone, seat, section, status, checked_in, gate]
        yield [spreadsheet_text(cell) for cell in row]


@dataclass(frozen=True)
class CheckInCounts:
    booked: int  # seats with a booking: who may come
    checked_in: int
    by_gate: list[tuple[str, int]]  # (gate, seats it let in), by gate name

    def __str__(self) -> str:
        """What follows "Checked in:" on the event's page: "120 of 500 seats; Gate 1: 70, Gate 2: 50"."""
        gates = ", ".join(f"{gate or 'no gate named'}: {count}" for gate, count in self.by_gate)
        return f"{self.checked_in} of {self.booked} seats" + (f"; {gates}" if gates else "")


def check_in_counts(event: Event) -> CheckInCounts:
    """How many booked seats are in, in total and per gate: one grouped query on the booked seats
    still valid (a cancelled seat is nobody's to use)."""
    rows = (
        BookedSeat.objects.filter(booking__event_id=event.id, active=True)
        .order_by("checked_in_gate")
        .values("checked_in_gate")
        .annotate(booked=Count("id"), checked_in=Count("id", filter=Q(checked_in_at__isnull=False)))
    )
    booked = checked_in = 0
    by_gate = []
    for row in rows:
        booked += row["booked"]
        checked_in += row["checked_in"]
        if row["checked_in"]:
            by_gate.append((row["checked_in_gate"], row["checked_in"]))
    return CheckInCounts(booked=booked, checked_in=checked_in, by_gate=by_gate)


@dataclass(frozen=True)
class DoorSeat:
    booked_seat_id: int
    seat_label: str
    buyer: str  # tickets.short_name: "Asha R."
    checked_in_at: datetime | None
    gate: str
    cancelled: bool  # its booking (or this seat of it) was cancelled: not a way in


def door_manifest(event: Event) -> list[DoorSeat]:
    """What a door phone keeps to answer while offline: per booked seat of the event its label, the
    buyer's short name (no email, no phone: a lost phone gives little away) and whether and where it
    was let in already. One query, whatever the number of seats."""
    rows = (
        BookedSeat.objects.filter(booking__event_id=event.id)
        .order_by("pk")
        .values_list("pk", "seat__label", "booking__buyer_name", "checked_in_at", "checked_in_gate", "active")
    )
    return [
        DoorSeat(
            booked_seat_id=pk,
            seat_label=label,
            buyer=tickets.short_name(name),
            checked_in_at=at,
            gate=gate,
            cancelled=not active,
        )
        for pk, label, name, at, gate, active in rows.iterator(chunk_size=2000)
    ]


# --- Cancellations ------------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationPlan:
    """What cancelling a booking would do, for the admin's confirmation page."""

    booking: Booking
    seats: list[BookedSeat]  # the active seats, any of which may be chosen
    amount_paid: int
    already_refunded: int  # by earlier cancellations (due or done)

    @property
    def full_refund(self) -> int:
        """The refund if every seat still valid is cancelled: their prices."""
        return sum(b.price_paise for b in self.seats)


def cancellation_plans(booking_ids: list[int]) -> list[CancellationPlan]:
    """The confirmation page's facts for each booking: two queries whatever the count."""
    bookings = list(
        Booking.objects.filter(pk__in=booking_ids)
        .select_related("event")
        .prefetch_related("booked_seats__seat__section")
        .annotate(cancelled_paise=Sum("cancellations__amount_paise"))
        .order_by("reference")
    )
    return [
        CancellationPlan(
            booking=b,
            seats=active_booked_seats(b),
            amount_paid=b.amount_paise,
            already_refunded=getattr(b, "cancelled_paise", None) or 0,
        )
        for b in bookings
    ]


@dataclass(frozen=True)
class CallOffProgress:
    """Where calling an event off stands: bookings not yet cancelled, and the cancellations'
    refunds processed, pending (not answered yet, or waiting for their turn) and failed (the last
    attempt failed; retried with backoff), with the failures' reasons."""

    to_cancel: int
    refunded: int
    pending: int
    failed: int
    reasons: list[tuple[str, int]]  # (the last error, how many cancellations it is the last error of)

    @property
    def done(self) -> bool:
        return not (self.to_cancel or self.pending or self.failed)


def call_off_progress(event: Event) -> CallOffProgress:
    """Two grouped queries, whatever the number of bookings."""
    unrefunded = Q(cancellations__refunded_at__isnull=True, cancellations__isnull=False)
    counts = Booking.objects.filter(event_id=event.id).aggregate(
        to_cancel=Count("id", filter=Q(status=Booking.Status.CONFIRMED), distinct=True),
        refunded=Count("cancellations", filter=Q(cancellations__refunded_at__isnull=False)),
        pending=Count("cancellations", filter=unrefunded & Q(cancellations__refund_error="")),
        failed=Count("cancellations", filter=unrefunded & ~Q(cancellations__refund_error="")),
    )
    reasons = (
        Cancellation.objects.filter(booking__event_id=event.id, refunded_at__isnull=True)
        .exclude(refund_error="")
        .values("refund_error")
        .annotate(n=Count("id"))
        .order_by("-n", "refund_error")[:10]
    )
    return CallOffProgress(
        to_cancel=counts["to_cancel"],
        refunded=counts["refunded"],
        pending=counts["pending"],
        failed=counts["failed"],
        reasons=[(row["refund_error"], row["n"]) for row in reasons],
    )


@dataclass(frozen=True)
class CallOffSummary:
    """What calling an event off would do, for the admin's confirmation page."""

    event: Event
    bookings: int  # bookings with seats still valid: each is cancelled, refunded and emailed
    refund_paise: int  # the value of those seats: what will be refunded
    live_holds: int  # holds released at once


def call_off_summaries(event_ids: list[int]) -> list[CallOffSummary]:
    """Three grouped queries whatever the number of events and bookings."""
    events = list(Event.objects.filter(pk__in=event_ids).order_by("pk"))
    valid: dict[int, tuple[int, int]] = {
        event_id: (bookings, value or 0)
        for event_id, bookings, value in BookedSeat.objects.filter(booking__event_id__in=event_ids, active=True)
        .values("booking__event_id")
        .annotate(bookings=Count("booking_id", distinct=True), value=Sum("price_paise"))
        .values_list("booking__event_id", "bookings", "value")
    }
    holds = dict(
        BookingIntent.objects.live(timezone.now())
        .filter(event_id__in=event_ids)
        .values("event_id")
        .annotate(n=Count("id"))
        .values_list("event_id", "n")
    )
    return [
        CallOffSummary(
            event=e,
            bookings=valid.get(e.pk, (0, 0))[0],
            refund_paise=valid.get(e.pk, (0, 0))[1],
            live_holds=holds.get(e.pk, 0),
        )
        for e in events
    ]
