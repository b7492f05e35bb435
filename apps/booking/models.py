"""Inventory and orders: events, price tiers, seats, booking intents and bookings.

Rules that can be database constraints are constraints; the services rely on
them as the last guard (a seat row has at most one active booked seat, an intent
yields at most one booking).
"""

import unicodedata
import uuid
import zoneinfo
from datetime import datetime, tzinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: none belongs in
# a one-line name, and a CR/LF in an email subject makes every send fail. A regex both PostgreSQL
# and Python understand, for the database's own check.
CONTROL_CHARACTERS_REGEX = r"[\x01-\x1f\x7f-\x9f\u2028\u2029]"


def validate_single_line(value: str) -> None:
    """Refuse line breaks, tabs and other control characters in a one-line text."""
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        raise ValidationError(
            "Use one line of plain text: no line breaks, tabs or other control characters.", code="control_character"
        )


def validate_time_zone(value: str) -> None:
    """An IANA zone name (Asia/Kolkata, Europe/London): what every page names its times in."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Use an IANA time zone name, for example Asia/Kolkata.", code="time_zone") from None


# The state names live in these enums (module level, so each model's Meta can build its check
# constraint from them: a class body's names are not visible inside its nested Meta).
class EventStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    ON_SALE = "ON_SALE", "On sale"
    CLOSED = "CLOSED", "Sales closed"
    CANCELLED = "CANCELLED", "Cancelled"


class Event(models.Model):
    Status = EventStatus

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200, validators=[validate_single_line])
    venue = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    sale_opens_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    max_seats_per_buyer = models.PositiveSmallIntegerField(default=6)
    max_held_seats_per_ip = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Most seats held at once from one network address (an IPv4 address, an IPv6 /64). "
            "Blank: HELD_SEATS_PER_IP_FACTOR (4 unless ops set it) times the per-buyer limit. "
            "Raise it for an audience behind one address (a campus, an office)."
        ),
    )
    hold_minutes = models.PositiveSmallIntegerField(default=8)
    time_zone = models.CharField(
        max_length=64,
        default="Asia/Kolkata",
        validators=[validate_time_zone],
        help_text="IANA zone of the venue (Asia/Kolkata). Every time a buyer sees is in it, and names it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(name="event_status_valid", condition=Q(status__in=EventStatus.values)),
            models.CheckConstraint(name="event_max_seats_positive", condition=Q(max_seats_per_buyer__gte=1)),
            models.CheckConstraint(name="event_hold_minutes_positive", condition=Q(hold_minutes__gte=1)),
            # Below the per-buyer limit, one buyer alone could not hold what the event allows.
            models.CheckConstraint(
                name="event_ip_cap_at_least_one_buyer",
                condition=Q(max_held_seats_per_ip__isnull=True)
                | Q(max_held_seats_per_ip__gte=F("max_seats_per_buyer")),
                violation_error_message="The per-address cap cannot be below the per-buyer limit.",
            ),
            # Emails put the name in their subject: the last guard behind the validator.
            models.CheckConstraint(
                name="event_name_single_line",
                condition=~Q(name__regex=CONTROL_CHARACTERS_REGEX),
                violation_error_message="Use one line of plain text: no line breaks, tabs or other control characters.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_on_sale(self, now=None) -> bool:
        return self.status == self.Status.ON_SALE and self.sale_opens_at <= (now or timezone.now())

    @property
    def zone(self) -> tzinfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def local(self, moment: datetime) -> datetime:
        """A moment as the venue's clock shows it (its tzname() is the zone's abbreviation, IST)."""
        return moment.astimezone(self.zone)


class Section(models.Model):
    """A price tier of an event (for example Premium rows A-E)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="sections")
    name = models.CharField(max_length=80)
    price_paise = models.PositiveIntegerField(help_text="Price of one seat in paise (INR x 100).")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["event", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "name"], name="section_unique_name_per_event"),
            models.CheckConstraint(name="section_price_at_least_one_rupee", condition=Q(price_paise__gte=100)),
        ]

    def __str__(self) -> str:
        return f"{self.event.slug}: {self.name}"


class SeatStatus(models.TextChoices):
    AVAILABLE = "AVAILABLE", "Available"
    HELD = "HELD", "Held"
    SOLD = "SOLD", "Sold"
    BLOCKED = "BLOCKED", "Blocked"


class SeatQuerySet(models.QuerySet):
    """The seat predicates at an instant, each spelled once: `free`, `lapsed`, `on_hold`, `taken`.

    Expiry is a predicate, not a job: a HELD seat whose hold ran out (`hold_expires_at <= now`) is
    free at once, whether or not the sweeper has put it back. The `*_q` forms are the same
    predicates as Q objects, for aggregates' filters and for combining with other conditions.
    `Seat.status_at` is their Python twin for rows already read; booking_hold_seats() (migration
    0008, PostgreSQL) spells `free` in SQL too and must change with it, by a new migration."""

    @staticmethod
    def lapsed_q(now: datetime) -> Q:
        """Still marked HELD, but the hold has run out: free, waiting for the sweeper."""
        return Q(status=SeatStatus.HELD, hold_expires_at__lte=now)

    @staticmethod
    def free_q(now: datetime) -> Q:
        """Can be taken: available, or held by a hold that has run out."""
        return Q(status=SeatStatus.AVAILABLE) | SeatQuerySet.lapsed_q(now)

    @staticmethod
    def on_hold_q(now: datetime) -> Q:
        """Held by a hold still running: it may come back when the hold ends."""
        return Q(status=SeatStatus.HELD, hold_expires_at__gt=now)

    @staticmethod
    def taken_q(now: datetime) -> Q:
        """Cannot be taken: sold, blocked or on a running hold (the complement of `free_q`)."""
        return Q(status__in=[SeatStatus.SOLD, SeatStatus.BLOCKED]) | SeatQuerySet.on_hold_q(now)

    def free(self, now: datetime) -> "SeatQuerySet":
        return self.filter(self.free_q(now))

    def lapsed(self, now: datetime) -> "SeatQuerySet":
        return self.filter(self.lapsed_q(now))

    def on_hold(self, now: datetime) -> "SeatQuerySet":
        return self.filter(self.on_hold_q(now))

    def taken(self, now: datetime) -> "SeatQuerySet":
        return self.filter(self.taken_q(now))


class Seat(models.Model):
    """A seat of an event. Which seats are free at an instant: `SeatQuerySet` (and, for a row
    already read, `status_at`); booking_hold_seats() (migration 0008) mirrors it in SQL."""

    Status = SeatStatus

    # No index of its own: the unique (event, label) index leads with it. Every hold rewrites a seat's
    # index entries (its status is indexed), so each index is paid for on every hold.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="seats", db_index=False)
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="seats")
    row_label = models.CharField(max_length=8)
    number = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=16, help_text="What buyers see, e.g. A-12.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    version = models.PositiveIntegerField(default=0)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    intent = models.ForeignKey(
        "BookingIntent", null=True, blank=True, on_delete=models.SET_NULL, related_name="held_seats"
    )

    objects = SeatQuerySet.as_manager()

    class Meta:
        ordering = ["event", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "label"], name="seat_unique_label_per_event"),
            models.UniqueConstraint(fields=["event", "row_label", "number"], name="seat_unique_position_per_event"),
            models.CheckConstraint(name="seat_status_valid", condition=Q(status__in=SeatStatus.values)),
            # A held seat always says until when and for whom.
            models.CheckConstraint(
                name="seat_held_has_expiry_and_intent",
                condition=~Q(status=SeatStatus.HELD) | (Q(hold_expires_at__isnull=False) & Q(intent__isnull=False)),
            ),
            models.CheckConstraint(
                name="seat_sold_has_intent", condition=~Q(status=SeatStatus.SOLD) | Q(intent__isnull=False)
            ),
        ]
        indexes = [
            models.Index(fields=["status", "hold_expires_at"], name="seat_status_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.status})"

    @staticmethod
    def status_at(status: str, hold_expires_at: datetime | None, now: datetime) -> str:
        """The status buyers see at `now`: a hold that has run out reads AVAILABLE. The Python twin
        of `SeatQuerySet.lapsed_q`, for rows already read."""
        if status == SeatStatus.HELD and hold_expires_at is not None and hold_expires_at <= now:
            return SeatStatus.AVAILABLE
        return status

    def is_free(self, now: datetime) -> bool:
        """Available, or held by a hold that has already run out (`SeatQuerySet.free_q`)."""
        return self.status_at(self.status, self.hold_expires_at, now) == SeatStatus.AVAILABLE


class IntentStatus(models.TextChoices):
    HELD = "HELD", "Held"
    CONFIRMED = "CONFIRMED", "Confirmed"
    RELEASED = "RELEASED", "Released by buyer or ops"
    EXPIRED = "EXPIRED", "Expired"
    REFUNDED = "REFUNDED", "Paid late and refunded"


class BookingIntentQuerySet(models.QuerySet):
    """The intent predicates, each spelled once: `live`, `lapsed`, `payable`.

    A HELD intent past `expires_at` is over for the buyer at once (`lapsed`), before the sweeper
    marks it EXPIRED. `BookingIntent.is_active` is the Python twin of `live`; booking_hold_seats()
    (migration 0004) spells `live` in SQL too."""

    # A payment can still become a booking (or be refunded) from these: a late payment of a hold
    # that expired or was given back still wins its seats if they are free.
    PAYABLE_STATUSES = (IntentStatus.HELD, IntentStatus.EXPIRED, IntentStatus.RELEASED)

    @staticmethod
    def live_q(now: datetime) -> Q:
        """Held and not yet run out: its seats are the buyer's, and it counts against the caps."""
        return Q(status=IntentStatus.HELD, expires_at__gt=now)

    @staticmethod
    def lapsed_q(now: datetime) -> Q:
        """Still HELD, but run out: what the sweeper marks EXPIRED."""
        return Q(status=IntentStatus.HELD, expires_at__lte=now)

    def live(self, now: datetime) -> "BookingIntentQuerySet":
        return self.filter(self.live_q(now))

    def lapsed(self, now: datetime) -> "BookingIntentQuerySet":
        return self.filter(self.lapsed_q(now))

    def payable(self) -> "BookingIntentQuerySet":
        return self.filter(status__in=self.PAYABLE_STATUSES)


class BookingIntent(models.Model):
    """A buyer's claim on seats while they pay. It ends exactly once. Live or lapsed at an
    instant: `BookingIntentQuerySet`."""

    Status = IntentStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Neither has an index of its own: intent_buyer_idx leads with both, and every hold inserts an
    # intent, so each index is paid for on every hold.
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="intents", db_index=False)
    buyer_name = models.CharField(max_length=120)
    buyer_email = models.EmailField()
    buyer_phone = models.CharField(max_length=20)
    seats = models.ManyToManyField(Seat, through="IntentSeat", related_name="intents")
    amount_paise = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="INR")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    expires_at = models.DateTimeField()
    extended_at = models.DateTimeField(null=True, blank=True, help_text="When the hold was extended for payment.")
    # The owner: the server-signed visitor id of the browser that made the hold. Only that browser
    # reaches the hold's buyer URLs (selectors.intent_for_owner); "" for holds made by ops or scripts.
    session_ref = models.CharField(
        max_length=64,
        blank=True,
        help_text="Owner: the visitor id (server-minted, signed cookie) of the browser that made the hold.",
    )
    client_ip = models.GenericIPAddressField(
        null=True, blank=True, help_text="The address the hold came from (per-address cap against hoarding)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = BookingIntentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="intent_status_valid",
                condition=Q(status__in=IntentStatus.values),
            ),
            models.CheckConstraint(name="intent_amount_positive", condition=Q(amount_paise__gte=100)),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="intent_status_expiry_idx"),
            models.Index(fields=["event", "buyer_email", "status"], name="intent_buyer_idx"),
            # The caps count live holds by owner and by address, on every hold.
            models.Index(
                fields=["event", "session_ref"], condition=Q(status=IntentStatus.HELD), name="intent_held_owner_idx"
            ),
            models.Index(
                fields=["event", "client_ip"], condition=Q(status=IntentStatus.HELD), name="intent_held_ip_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.buyer_email} {self.status} {self.id}"

    def is_active(self, now: datetime | None = None) -> bool:
        """Live (`BookingIntentQuerySet.live_q`), for an intent already read."""
        return self.status == IntentStatus.HELD and self.expires_at > (now or timezone.now())

    def is_lapsed(self, now: datetime | None = None) -> bool:
        """The hold ran out, swept by the beat job (EXPIRED) or not yet (HELD past its expiry)."""
        return self.status == IntentStatus.EXPIRED or (
            self.status == IntentStatus.HELD and self.expires_at <= (now or timezone.now())
        )


class IntentSeat(models.Model):
    """Which seats an intent asked for: kept after the hold ends, for audit and late payments."""

    # No index of its own for the intent: intentseat_unique leads with it.
    intent = models.ForeignKey(BookingIntent, on_delete=models.CASCADE, related_name="intent_seats", db_index=False)
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="intent_seats")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["intent", "seat"], name="intentseat_unique")]

    def __str__(self) -> str:
        return f"{self.intent_id}: {self.seat_id}"


class BookingStatus(models.TextChoices):
    """A booking's standing, from its cancellations (services.cancel_booking) and their refunds."""

    CONFIRMED = "CONFIRMED", "Confirmed"
    CANCELLED = "CANCELLED", "Cancelled (refund pending)"  # a cancellation whose refund is not processed yet
    REFUNDED = "REFUNDED", "Cancelled and refunded"  # every seat cancelled, every refund processed
    PARTLY_REFUNDED = "PARTLY_REFUNDED", "Partly refunded"  # some seats cancelled and refunded, others still valid


class Booking(models.Model):
    """A paid ticket order. One per intent, at most."""

    Status = BookingStatus

    reference = models.CharField(max_length=12, unique=True)
    intent = models.OneToOneField(BookingIntent, on_delete=models.PROTECT, related_name="booking")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="bookings")
    buyer_name = models.CharField(max_length=120)
    buyer_email = models.EmailField(db_index=True)
    buyer_phone = models.CharField(max_length=20, db_index=True)
    amount_paise = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="INR")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONFIRMED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("cancel_booking", "Can cancel bookings (and so refund them)")]
        constraints = [
            models.CheckConstraint(name="booking_status_valid", condition=Q(status__in=BookingStatus.values))
        ]
        indexes = [
            models.Index(fields=["event", "status"], name="booking_event_status_idx"),
            # Every hold counts the buyer's tickets for the event (booking_hold_seats): one range.
            models.Index(fields=["event", "buyer_email"], name="booking_event_buyer_idx"),
        ]

    def __str__(self) -> str:
        return self.reference


class Cancellation(models.Model):
    """Some or all seats of a booking, cancelled once (services.cancel_booking), and the refund due
    for them: their price. Payments refunds it (idempotency key per cancellation) and reports back
    (`refunded_at`, or the last failure in `refund_error`)."""

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="cancellations")
    amount_paise = models.PositiveIntegerField(help_text="The refund due: the price of the seats cancelled.")
    seats_released = models.BooleanField(help_text="The seats went back on sale (else they were blocked).")
    call_off = models.BooleanField(
        default=False, help_text="Part of calling the event off: its refund is paced by the call-off job."
    )
    reason = models.CharField(max_length=200)
    actor_name = models.CharField(max_length=150, blank=True, help_text="Who cancelled (empty: the system).")
    created_at = models.DateTimeField(auto_now_add=True)
    refunded_at = models.DateTimeField(null=True, blank=True, help_text="Razorpay processed the refund.")
    refund_error = models.CharField(max_length=300, blank=True, help_text="The last failed refund attempt, for ops.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.booking.reference}: cancellation {self.pk}"


class BookedSeat(models.Model):
    """A seat of a booking. A seat can be booked again once its booked seat is cancelled (`active`
    false), so the database's guard is "at most one *active* booked seat per seat"."""

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="booked_seats")
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="booked_seats")
    # What this seat cost in the booking: a cancellation refunds exactly its seats' prices, so the money
    # kept always equals the value of the seats still valid (audit_bookings checks it per event).
    price_paise = models.PositiveIntegerField(default=0)
    # Cleared once, by the conditional UPDATE of services.cancel_booking, never set again.
    active = models.BooleanField(default=True)
    cancellation = models.ForeignKey(
        Cancellation, null=True, blank=True, on_delete=models.PROTECT, related_name="seats"
    )
    # Let in at the door: set once, by a conditional UPDATE (services.check_in), never cleared.
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_gate = models.CharField(max_length=40, blank=True)

    class Meta:
        permissions = [("check_in", "Can check tickets in at the door")]
        constraints = [
            models.UniqueConstraint(fields=["seat"], condition=Q(active=True), name="bookedseat_one_active_per_seat"),
            models.CheckConstraint(
                name="bookedseat_inactive_has_cancellation",
                condition=Q(active=True) | Q(cancellation__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.booking.reference}: {self.seat.label}"
