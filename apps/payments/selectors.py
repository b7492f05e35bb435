"""Reads of the payments app, including the invariants the audit checks straight from the database."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from apps.booking.models import BookedSeat, Booking, BookingIntent, Seat
from apps.payments.models import CaptureMismatch, Payment, Refund, WebhookEvent


def invariant_violations(*, now=None) -> dict[str, int]:
    """Each line must be zero: the promise "no seat sold twice; nobody pays without a ticket or a refund"."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.EXPIRE_INTENTS_EVERY_SECONDS * 2 + 5)
    has_booking = Exists(Booking.objects.filter(intent_id=OuterRef("intent_id")))
    has_refund = Exists(Refund.objects.filter(payment_id=OuterRef("pk")))
    mismatch_refunded = Exists(Refund.objects.filter(razorpay_payment_id=OuterRef("razorpay_payment_id")))
    return {
        "seats sold twice": BookedSeat.objects.values("seat").annotate(n=Count("id")).filter(n__gt=1).count()
        + Seat.objects.filter(status=Seat.Status.SOLD, booked_seat__isnull=True).count()
        + BookedSeat.objects.exclude(seat__status=Seat.Status.SOLD).count(),
        "bookings without a captured payment": Booking.objects.exclude(
            intent__payment__status=Payment.Status.CAPTURED
        ).count(),
        "captured payments with neither booking nor refund": Payment.objects.filter(
            status__in=[Payment.Status.CAPTURED, Payment.Status.REFUNDED]
        )
        .annotate(booked=has_booking, refunded=has_refund)
        .filter(booked=False, refunded=False)
        .count(),
        "mismatched captures not refunded": CaptureMismatch.objects.filter(refund_due=True)
        .annotate(refunded=mismatch_refunded)
        .filter(refunded=False)
        .count(),
        "holds past expiry": Seat.objects.lapsed(grace).count() + BookingIntent.objects.lapsed(grace).count(),
    }


def stale_webhook_ids(*, older_than_seconds: int = 60) -> list[int]:
    """Webhooks stored but never processed (the broker was down when they arrived) or failed, for as
    long as reconciliation keeps trying; older ones stay failed for ops, never retried forever."""
    now = timezone.now()
    return list(
        WebhookEvent.objects.filter(
            Q(outcome=WebhookEvent.Outcome.PENDING) | Q(outcome=WebhookEvent.Outcome.FAILED),
            received_at__lte=now - timedelta(seconds=older_than_seconds),
            received_at__gte=now - timedelta(hours=settings.RECONCILE_GIVE_UP_HOURS),
        ).values_list("pk", flat=True)[:500]
    )


def capture_mismatches_recorded() -> int:
    """Payments reported against our orders that did not match them (forged or wrong money)."""
    return CaptureMismatch.objects.count()
