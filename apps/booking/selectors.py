"""Reads of the booking core. Expiry is a predicate here: a lapsed hold reads as free."""

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db.models import Count, Q
from django.utils import timezone

from apps.booking.models import Booking, BookingIntent, Event, Seat


def events_listed(now: datetime | None = None) -> list[Event]:
    """Events a buyer can see: on sale or about to be, not yet started."""
    now = now or timezone.now()
    return list(Event.objects.filter(status=Event.Status.ON_SALE, starts_at__gte=now).order_by("starts_at"))


def event_by_slug(slug: str) -> Event | None:
    return Event.objects.filter(slug=slug).first()


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


def seat_map(event: Event, now: datetime | None = None) -> SeatMap:
    """The whole inventory of an event in one query, grouped by section and row."""
    now = now or timezone.now()
    sections: dict[int, SectionView] = {}
    for section in event.sections.all():
        sections[section.id] = SectionView(section.name, section.price_paise)
    available = 0
    total = 0
    next_change = None
    rows = (
        Seat.objects.filter(event=event)
        .order_by("section__position", "section_id", "id")
        .values_list("section_id", "row_label", "number", "label", "status", "hold_expires_at")
    )
    for section_id, row_label, number, label, status, hold_expires_at in rows:
        total += 1
        if status == Seat.Status.HELD and hold_expires_at <= now:
            status = Seat.Status.AVAILABLE
        elif status == Seat.Status.HELD and (next_change is None or hold_expires_at < next_change):
            next_change = hold_expires_at
        view = sections[section_id]
        if not view.rows or view.rows[-1][0] != row_label:
            view.rows.append((row_label, []))
        view.rows[-1][1].append(SeatView(label, number, status.lower()))
        if status == Seat.Status.AVAILABLE:
            available += 1
            view.available += 1
    return SeatMap(list(sections.values()), available, total, next_change)


@dataclass(frozen=True)
class InventoryCounts:
    available: int
    held: int  # live holds, which may still come back
    sold: int

    @property
    def sold_out(self) -> bool:
        """Nothing free and nothing that could come back."""
        return self.available == 0 and self.held == 0


def inventory_counts(event_id: int, now: datetime | None = None) -> InventoryCounts:
    now = now or timezone.now()
    free = Q(status=Seat.Status.AVAILABLE) | Q(status=Seat.Status.HELD, hold_expires_at__lte=now)
    counts = Seat.objects.filter(event_id=event_id).aggregate(
        available=Count("id", filter=free),
        held=Count("id", filter=Q(status=Seat.Status.HELD, hold_expires_at__gt=now)),
        sold=Count("id", filter=Q(status=Seat.Status.SOLD)),
    )
    return InventoryCounts(**counts)


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
