"""Per-event waiting-room settings. The database row is the source of truth; the gate
reads its mirror in Redis (see services.mirror_config), so a change here is live at once."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.waitingroom.contract import RoomMode


def default_capacity() -> int:
    return settings.WAITING_ROOM_DEFAULT_CAPACITY


def default_rate() -> int:
    return settings.WAITING_ROOM_DEFAULT_RATE


def default_session_minutes() -> int:
    return settings.WAITING_ROOM_DEFAULT_SESSION_MINUTES


def default_grace_seconds() -> int:
    return settings.WAITING_ROOM_DEFAULT_GRACE_SECONDS


def new_seed() -> str:
    return secrets.token_hex(32)


class WaitingRoomConfig(models.Model):
    event = models.OneToOneField("booking.Event", on_delete=models.CASCADE, related_name="waiting_room")
    mode = models.CharField(max_length=16, choices=RoomMode.choices, default=RoomMode.ALWAYS)
    capacity = models.PositiveIntegerField(default=default_capacity, help_text="How many buyers may be inside at once.")
    rate_per_minute = models.PositiveIntegerField(
        default=default_rate, help_text="New buyers let in per minute, at most."
    )
    session_minutes = models.PositiveSmallIntegerField(
        default=default_session_minutes,
        help_text="How long an admitted buyer stays inside without activity (renewed on every page).",
    )
    grace_seconds = models.PositiveIntegerField(
        default=default_grace_seconds,
        help_text="A waiting visitor who stops polling for longer loses the place.",
    )
    paused = models.BooleanField(default=False, help_text="Stop admitting (those inside stay).")
    closed = models.BooleanField(default=False, help_text="The line is closed: nobody new joins or is admitted.")
    seed = models.CharField(max_length=64, default=new_seed, editable=False, help_text="Secret pre-queue shuffle seed.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "waiting room"
        constraints = [
            models.CheckConstraint(name="wr_mode_valid", condition=Q(mode__in=RoomMode.values)),
            models.CheckConstraint(name="wr_capacity_positive", condition=Q(capacity__gte=1)),
            models.CheckConstraint(name="wr_rate_positive", condition=Q(rate_per_minute__gte=1)),
            models.CheckConstraint(name="wr_session_positive", condition=Q(session_minutes__gte=1)),
            models.CheckConstraint(name="wr_grace_at_least_10s", condition=Q(grace_seconds__gte=10)),
        ]

    def __str__(self) -> str:
        return f"Waiting room of {self.event}"
