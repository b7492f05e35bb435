from django.contrib import admin

from apps.core.admin_base import OpsModelAdmin, ReadOnlyAdminMixin
from apps.core.models import AuditEntry, OutboxMessage


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    list_display = ["at", "actor_name", "action", "target", "detail"]
    list_filter = ["action"]
    search_fields = ["actor_name", "target", "detail"]
    date_hierarchy = "at"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, OpsModelAdmin):
    list_display = ["id", "topic", "created_at", "attempts", "due_at", "delivered_at", "last_error"]
    list_filter = ["topic", ("delivered_at", admin.EmptyFieldListFilter)]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
