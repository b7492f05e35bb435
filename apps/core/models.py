"""The outbox of announcements and the ops audit log: rows other apps write inside their own
transactions, so what they record commits, or rolls back, with the change it describes."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    """An announcement written in the transaction of the change it announces, and delivered by
    `apps.core.outbox` to each receiver of its signal until every one of them has taken it."""

    topic = models.CharField(max_length=60, help_text="The announcement (a registered outbox topic).")
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(help_text="When the relay may next try to deliver it (a claim pushes it on).")
    attempts = models.PositiveIntegerField(default=0)
    done = models.JSONField(default=list, blank=True, help_text="The receivers that have taken it.")
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="Every receiver has taken it.")
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(delivered_at__isnull=True), name="outbox_undelivered_idx"),
            models.Index(fields=["delivered_at"], condition=Q(delivered_at__isnull=False), name="outbox_delivered_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"


class AuditEntry(models.Model):
    """Who did an ops action, when, and to what (Zulip's `acting_user`): refunds, releases, pauses,
    flushes. Written by the service that acts, in its own transaction where it has one."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, help_text="Kept if the account is deleted.")
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=200, help_text="What it was done to, e.g. 'payment order_X'.")
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.action} {self.target}"
