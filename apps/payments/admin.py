"""Ops screens for money: payments, refunds, mismatched captures, webhook log, failed buyer emails.
Actions call services (or queue the task that does).

Nothing here can be added, edited or deleted by hand: every row is the record of something that
happened at Razorpay, and a hand-made one once turned a paid order into a 500 and a retry loop."""

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.html import format_html

from apps.booking.errors import BookingError
from apps.booking.models import Booking, BookingIntent
from apps.core.admin_base import OpsModelAdmin, OpsTabularInline, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from apps.payments import services, tasks
from apps.payments.errors import GatewayRejected, GatewayUnavailable
from apps.payments.models import CaptureMismatch, EmailFailure, Payment, Refund, RemotePayment, WebhookEvent


class RefundInline(ReadOnlyInlineMixin, OpsTabularInline):
    model = Refund
    fields = (
        "refund_id",
        "razorpay_payment_id",
        "amount_paise",
        "status",
        "reason",
        "attempts",
        "last_error",
        "created_at",
    )
    readonly_fields = fields


class CaptureMismatchInline(ReadOnlyInlineMixin, OpsTabularInline):
    model = CaptureMismatch
    fields = ("razorpay_payment_id", "source", "problem", "refund_due", "created_at")
    readonly_fields = fields


class RemotePaymentInline(ReadOnlyInlineMixin, OpsTabularInline):
    """Every payment Razorpay reported on the order: a second captured one shows here with its refund above."""

    model = RemotePayment
    fields = ("razorpay_payment_id", "status", "amount_paise", "first_seen_at", "updated_at")
    readonly_fields = fields


def booking_link(intent: BookingIntent) -> str:
    """The booking the order became, linked to its admin page; or why there is none."""
    try:
        booking = intent.booking
    except Booking.DoesNotExist:
        return f"none (hold {intent.get_status_display().lower()})"
    return format_html('<a href="{}">{}</a>', reverse("admin:booking_booking_change", args=[booking.pk]), booking)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    list_display = [
        "order_id",
        "payment_id",
        "intent",
        "booking",
        "amount_paise",
        "status",
        "created_at",
        "last_checked_at",
    ]
    list_select_related = ["intent__booking"]
    list_filter = ["status"]
    search_fields = [
        "order_id",
        "payment_id",
        "intent__buyer_email",
        "intent__buyer_phone",
        "intent__booking__reference",
    ]
    readonly_fields = [*(f.name for f in Payment._meta.fields), "booking"]
    inlines = [RefundInline, CaptureMismatchInline, RemotePaymentInline]

    @admin.display(description="booking", ordering="intent__booking__reference")
    def booking(self, obj: Payment) -> str:
        return booking_link(obj.intent)

    actions = ["reprocess", "refund"]

    @admin.action(description="Re-process now (reconcile with Razorpay)")
    def reprocess(self, request, queryset):
        for payment in queryset:
            try:
                outcome = services.reconcile_payment(payment_id=payment.pk)
            except (GatewayUnavailable, GatewayRejected, BookingError) as error:
                self.message_user(request, f"{payment.order_id}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"{payment.order_id}: {outcome}")

    @admin.action(description="Refund in full (payments without a booking)")
    def refund(self, request, queryset):
        for payment in queryset:
            try:
                refund = services.refund_payment(
                    payment_id=payment.pk, reason="refunded by ops", acting_user=request.user
                )
            except BookingError as error:
                self.message_user(request, f"{payment.order_id}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{payment.order_id}: refund {refund.refund_id or 'requested'} ({refund.status})"
                )


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    list_display = [
        "refund_id",
        "payment",
        "booking",
        "razorpay_payment_id",
        "amount_paise",
        "status",
        "reason",
        "attempts",
        "last_error",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["payment__intent__booking"]
    search_fields = ["refund_id", "payment__order_id", "razorpay_payment_id", "payment__intent__buyer_email"]
    readonly_fields = [*(f.name for f in Refund._meta.fields), "booking"]

    def lookup_allowed(self, lookup, value, request):
        """A booking's page links to its refunds by its intent (`?payment__intent=<id>`)."""
        return lookup == "payment__intent" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="booking", ordering="payment__intent__booking__reference")
    def booking(self, obj: Refund) -> str:
        return booking_link(obj.payment.intent)


@admin.register(CaptureMismatch)
class CaptureMismatchAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    """Payments reported against our orders that did not match them: never confirmed; refunded when
    Razorpay held that money on our order. Many of them mean a leaked webhook or key secret."""

    list_display = ["razorpay_payment_id", "payment", "source", "problem", "refund_due", "refunded", "created_at"]
    list_filter = ["refund_due", "source"]
    search_fields = ["razorpay_payment_id", "payment__order_id", "payment__intent__buyer_email"]
    list_select_related = ["payment"]
    readonly_fields = [f.name for f in CaptureMismatch._meta.fields]

    def get_queryset(self, request):
        refunds = Refund.objects.filter(razorpay_payment_id=OuterRef("razorpay_payment_id"))
        return super().get_queryset(request).annotate(has_refund=Exists(refunds))

    @admin.display(boolean=True, description="refund requested")
    def refunded(self, obj) -> bool | None:
        return obj.has_refund if obj.refund_due else None


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    list_display = ["event_id", "event_type", "order_id", "outcome", "deliveries", "received_at", "processed_at"]
    list_filter = ["event_type", "outcome"]
    search_fields = ["event_id", "order_id", "payment_id"]
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]


@admin.register(EmailFailure)
class EmailFailureAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    """Buyer emails that failed: still retrying, given up (needs ops), or sent after all."""

    list_display = ["kind", "buyer_email", "state", "attempts", "last_error", "last_failed_at", "intent"]
    list_filter = ["kind", ("gave_up_at", admin.EmptyFieldListFilter), ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["intent__buyer_email", "intent__booking__reference", "last_error"]
    list_select_related = ["intent"]
    readonly_fields = [f.name for f in EmailFailure._meta.fields]
    actions = ["send_again"]

    @admin.display(description="buyer", ordering="intent__buyer_email")
    def buyer_email(self, obj) -> str:
        return obj.intent.buyer_email

    @admin.display(description="state")
    def state(self, obj) -> str:
        if obj.sent_at:
            return "sent after all"
        return "gave up: needs ops" if obj.gave_up_at else "retrying"

    @admin.action(description="Send again (after fixing the cause)")
    def send_again(self, request, queryset):
        task_of = {
            EmailFailure.Kind.CONFIRMATION: tasks.send_booking_confirmation,
            EmailFailure.Kind.REFUND_NOTICE: tasks.send_refund_notice,
        }
        pending = queryset.filter(sent_at__isnull=True)
        for failure in pending:
            task_of[failure.kind].delay(str(failure.intent_id))
        self.message_user(request, f"Queued {pending.count()} email(s) again.")
