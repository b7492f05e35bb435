"""Money records: one Payment per Razorpay order, every webhook received, every refund.

Nothing here is ever deleted: failed, expired and refunded payments stay visible to ops."""

from enum import StrEnum

from django.db import models
from django.db.models import Q

from apps.booking.models import BookingIntent, Cancellation


class PaymentStatus(models.TextChoices):
    CREATED = "created", "Order created"
    ATTEMPTED = "attempted", "Payment attempted"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Captured"
    FAILED = "failed", "Failed"
    REFUNDED = "refunded", "Refunded"


# The money was taken (and may have been given back since): a capture happened.
MONEY_TAKEN_STATUSES = (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED)
# Nothing was paid yet: only these may still turn into a failure.
UNPAID_STATUSES = (PaymentStatus.CREATED, PaymentStatus.ATTEMPTED)


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (not yet accepted by Razorpay)"
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class Payment(models.Model):
    """A Razorpay order for one intent, and what became of the money paid against it."""

    Status = PaymentStatus

    intent = models.OneToOneField(BookingIntent, on_delete=models.PROTECT, related_name="payment")
    order_id = models.CharField(max_length=40, unique=True)
    payment_id = models.CharField(max_length=40, blank=True, db_index=True)
    amount_paise = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="INR")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATED)
    error_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True, help_text="Last reconciliation against Razorpay.")
    confirmation_sent_at = models.DateTimeField(null=True, blank=True, help_text="The confirmation email went out.")
    confirmation_claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending the confirmation (a lease: a dead worker's claim lapses)."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="payment_status_valid",
                condition=Q(status__in=PaymentStatus.values),
            ),
            models.CheckConstraint(name="payment_amount_positive", condition=Q(amount_paise__gte=100)),
            models.CheckConstraint(
                name="payment_captured_has_id", condition=~Q(status=PaymentStatus.CAPTURED) | ~Q(payment_id="")
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="payment_status_created_idx")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


class Refund(models.Model):
    Status = RefundStatus

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    refund_id = models.CharField(max_length=40, unique=True, null=True, blank=True)
    razorpay_payment_id = models.CharField(
        max_length=40, help_text="The Razorpay payment refunded (an order can carry a second, duplicate payment)."
    )
    idempotency_key = models.CharField(max_length=64, unique=True)
    amount_paise = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(max_length=200)
    last_error = models.CharField(max_length=300, blank=True)
    # The booking cancellation this refund returns the money of (its idempotency key is cancellation-<id>):
    # one refund per cancellation, the database says so.
    cancellation = models.OneToOneField(
        Cancellation, null=True, blank=True, on_delete=models.PROTECT, related_name="refund"
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Requests made to Razorpay so far.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not accepted yet: asked again from then (exponential backoff)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(refund_id__isnull=True), name="refund_unaccepted_due_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(name="refund_status_valid", condition=Q(status__in=RefundStatus.values)),
            models.CheckConstraint(name="refund_amount_positive", condition=Q(amount_paise__gte=100)),
        ]

    def __str__(self) -> str:
        return f"{self.refund_id or self.idempotency_key} {self.status}"


class RemoteStatus(StrEnum):
    """A payment's status as Razorpay's API reports it (its words, not our Payment.Status)."""

    CREATED = "created"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    FAILED = "failed"


PAID_STATUSES = (RemoteStatus.CAPTURED, RemoteStatus.REFUNDED)  # Razorpay holds the money (or gave it back)
SETTLED_STATUSES = (RemoteStatus.AUTHORIZED, *PAID_STATUSES)  # an attempt that took money, or will


class RemotePayment(models.Model):
    """A payment Razorpay reported on one of our orders (its API, a listing of the order's payments,
    or a signed webhook that agreed with it), with the furthest status seen.

    The audit's view of Razorpay: every one it saw captured must end as the order's booking or a
    refund. Reconciliation keeps it current by listing each order's payments, so the audit never
    calls Razorpay itself."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="remote_payments")
    razorpay_payment_id = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=12, help_text="Razorpay's status, the furthest seen (its words).")
    amount_paise = models.PositiveIntegerField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-first_seen_at"]

    def __str__(self) -> str:
        return f"{self.razorpay_payment_id} {self.status}"


class WebhookEvent(models.Model):
    """Every webhook Razorpay delivered, once per X-Razorpay-Event-Id."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Acknowledged and ignored"
        FAILED = "failed", "Failed (will retry)"
        MALFORMED = "malformed", "Failed: malformed payload (answered 400, not processed)"

    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=40, db_index=True)
    order_id = models.CharField(max_length=40, blank=True, db_index=True)
    payment_id = models.CharField(max_length=40, blank=True, db_index=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    detail = models.CharField(max_length=300, blank=True)
    deliveries = models.PositiveIntegerField(default=1, help_text="How many times Razorpay delivered it.")

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class CaptureMismatch(models.Model):
    """A payment reported against one of our orders that does not match it (order, amount or currency).

    It never confirms a booking. When Razorpay holds that money on our order it is refunded in full
    (`refund_due`); a payment Razorpay does not know, or one of another order, is kept for ops as a
    sign of forged webhooks or callbacks."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        CHECKOUT = "checkout", "Checkout callback (verify)"
        RECONCILIATION = "reconcile", "Reconciliation"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="mismatches")
    razorpay_payment_id = models.CharField(max_length=40)
    source = models.CharField(max_length=10, choices=Source.choices)
    problem = models.CharField(max_length=300)
    reported = models.JSONField(null=True, blank=True, help_text="What the webhook or callback claimed.")
    remote = models.JSONField(
        null=True, blank=True, help_text="The payment as Razorpay's API reports it (empty: Razorpay does not know it)."
    )
    refund_due = models.BooleanField(
        default=False, help_text="Razorpay captured this money on our order: it must be refunded in full."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "razorpay_payment_id"], name="capturemismatch_once_per_payment")
        ]

    def __str__(self) -> str:
        return f"{self.razorpay_payment_id} on {self.payment.order_id}: {self.problem}"


class EmailFailure(models.Model):
    """A buyer email that failed to send: retried with backoff, and left here for ops when the
    retries ran out (`gave_up_at`), so a promised ticket or refund notice is never lost silently."""

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", "Booking confirmation"
        REFUND_NOTICE = "refund", "Refund notice"
        CANCELLATION = "cancellation", "Cancellation notice"

    intent = models.ForeignKey(BookingIntent, on_delete=models.PROTECT, related_name="email_failures")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts so far.")
    last_error = models.CharField(max_length=300)
    last_failed_at = models.DateTimeField()
    gave_up_at = models.DateTimeField(null=True, blank=True, help_text="Retries exhausted: needs ops.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Sent after all, by a later attempt.")

    class Meta:
        ordering = ["-last_failed_at"]
        constraints = [models.UniqueConstraint(fields=["intent", "kind"], name="emailfailure_once_per_email")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.intent.buyer_email}"
