"""Inventory and orders: events, price tiers, seats, booking intents and bookings.

Rules that can be database constraints are constraints; the services rely on
them as the last guard (a seat row is booked at most once, an intent yields at
most one booking).
"""

import unicodedata
import uuid

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


class Event(models.Model):
    class Status(models.TextChoices):
        DRAFT = "DRAFT", "Draft"
        ON_SALE = "ON_SALE", "On sale"
        CLOSED = "CLOSED", "Sales closed"
        CANCELLED = "CANCELLED", "Cancelled"

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                name="event_status_valid", condition=Q(status__in=["DRAFT", "ON_SALE", "CLOSED", "CANCELLED"])
            ),
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


class Seat(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "AVAILABLE", "Available"
        HELD = "HELD", "Held"
        SOLD = "SOLD", "Sold"
        BLOCKED = "BLOCKED", "Blocked"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="seats")
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

    class Meta:
        ordering = ["event", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "label"], name="seat_unique_label_per_event"),
            models.UniqueConstraint(fields=["event", "row_label", "number"], name="seat_unique_position_per_event"),
            models.CheckConstraint(
                name="seat_status_valid", condition=Q(status__in=["AVAILABLE", "HELD", "SOLD", "BLOCKED"])
            ),
            # A held seat always says until when and for whom.
            models.CheckConstraint(
                name="seat_held_has_expiry_and_intent",
                condition=~Q(status="HELD") | (Q(hold_expires_at__isnull=False) & Q(intent__isnull=False)),
            ),
            models.CheckConstraint(name="seat_sold_has_intent", condition=~Q(status="SOLD") | Q(intent__isnull=False)),
        ]
        indexes = [
            models.Index(fields=["status", "hold_expires_at"], name="seat_status_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.status})"

    def is_free(self, now) -> bool:
        """Free means available, or held by a hold that has already expired."""
        return self.status == self.Status.AVAILABLE or (
            self.status == self.Status.HELD and self.hold_expires_at is not None and self.hold_expires_at <= now
        )


class BookingIntent(models.Model):
    """A buyer's claim on seats while they pay. It ends exactly once."""

    class Status(models.TextChoices):
        HELD = "HELD", "Held"
        CONFIRMED = "CONFIRMED", "Confirmed"
        RELEASED = "RELEASED", "Released by buyer or ops"
        EXPIRED = "EXPIRED", "Expired"
        REFUNDED = "REFUNDED", "Paid late and refunded"

    ACTIVE_STATUSES = (Status.HELD,)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="intents")
    buyer_name = models.CharField(max_length=120)
    buyer_email = models.EmailField(db_index=True)
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

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="intent_status_valid",
                condition=Q(status__in=["HELD", "CONFIRMED", "RELEASED", "EXPIRED", "REFUNDED"]),
            ),
            models.CheckConstraint(name="intent_amount_positive", condition=Q(amount_paise__gte=100)),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="intent_status_expiry_idx"),
            models.Index(fields=["event", "buyer_email", "status"], name="intent_buyer_idx"),
            # The caps count live holds by owner and by address, on every hold.
            models.Index(fields=["event", "session_ref"], condition=Q(status="HELD"), name="intent_held_owner_idx"),
            models.Index(fields=["event", "client_ip"], condition=Q(status="HELD"), name="intent_held_ip_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.buyer_email} {self.status} {self.id}"

    def is_active(self, now=None) -> bool:
        return self.status == self.Status.HELD and self.expires_at > (now or timezone.now())


class IntentSeat(models.Model):
    """Which seats an intent asked for: kept after the hold ends, for audit and late payments."""

    intent = models.ForeignKey(BookingIntent, on_delete=models.CASCADE, related_name="intent_seats")
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="intent_seats")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["intent", "seat"], name="intentseat_unique")]

    def __str__(self) -> str:
        return f"{self.intent_id}: {self.seat_id}"


class Booking(models.Model):
    """A paid ticket order. One per intent, at most."""

    reference = models.CharField(max_length=12, unique=True)
    intent = models.OneToOneField(BookingIntent, on_delete=models.PROTECT, related_name="booking")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="bookings")
    buyer_name = models.CharField(max_length=120)
    buyer_email = models.EmailField(db_index=True)
    buyer_phone = models.CharField(max_length=20, db_index=True)
    amount_paise = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="INR")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference


class BookedSeat(models.Model):
    """The seat of a booking. `seat` is unique: the database refuses to sell a seat twice."""

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="booked_seats")
    seat = models.OneToOneField(Seat, on_delete=models.PROTECT, related_name="booked_seat")

    def __str__(self) -> str:
        return f"{self.booking.reference}: {self.seat.label}"
