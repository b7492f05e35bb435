from django.contrib import admin

from apps.core.models import AuditEntry, OutboxMessage


class _ReadOnly(admin.ModelAdmin):
    """A record, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(_ReadOnly):
    list_display = ["at", "actor_name", "action", "target", "detail"]
    list_filter = ["action"]
    search_fields = ["actor_name", "target", "detail"]
    date_hierarchy = "at"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(_ReadOnly):
    list_display = ["id", "topic", "created_at", "attempts", "due_at", "delivered_at", "last_error"]
    list_filter = ["topic", ("delivered_at", admin.EmptyFieldListFilter)]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
