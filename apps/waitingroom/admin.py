"""Ops screens: live figures per event, pause/resume, capacity and rate (edited in the list
or the form, live at once), and closing or flushing the line after a confirmation page.
Every change goes through the services, which mirror it to Redis."""

import time

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core.admin_base import OpsModelAdmin
from apps.waitingroom import prequeue, selectors, services
from apps.waitingroom.models import WaitingRoomConfig

EDITABLE = ["mode", "capacity", "rate_per_minute", "session_minutes", "grace_seconds", "paused", "closed"]


def _figure(name: str, description: str):
    @admin.display(description=description)
    def show(self, obj):
        figures = self._figures(obj)
        if figures is None:
            return "Redis down"
        value = getattr(figures, name)
        return "–" if value is None else value

    return show


@admin.register(WaitingRoomConfig)
class WaitingRoomConfigAdmin(OpsModelAdmin):
    list_display = [
        "event",
        "mode",
        "capacity",
        "rate_per_minute",
        "paused",
        "closed",
        "waiting",
        "inside",
        "admitted_per_minute",
        "eta_last_seconds",
        "holds",
        "seats_sold",
    ]
    list_editable = ["capacity", "rate_per_minute"]
    list_select_related = ["event"]
    search_fields = ["event__name", "event__slug"]
    list_filter = ["mode", "paused", "closed"]
    fields = [
        "event",
        *EDITABLE,
        "live",
        "seed_sha256",
        "seed_revealed",
        "updated_at",
    ]
    readonly_fields = ["event", "live", "seed_sha256", "seed_revealed", "updated_at"]
    actions = ["pause", "resume", "close_line", "reopen_line", "flush_line"]
    _cache: dict = {}

    waiting = _figure("waiting", "waiting")
    inside = _figure("inside", "inside")
    admitted_per_minute = _figure("admitted_per_minute", "admitted/min")
    eta_last_seconds = _figure("eta_last_seconds", "ETA of last (s)")
    holds = _figure("holds", "holds")
    seats_sold = _figure("seats_sold", "sold")

    def _figures(self, obj):
        """One read per event per page (the columns share it for a second)."""
        cached = self._cache.get(obj.pk)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            figures = selectors.live_figures(obj)
        except RedisError:
            figures = None
        self._cache[obj.pk] = (figures, time.monotonic() + 1.0)
        return figures

    @admin.display(description="live figures")
    def live(self, obj):
        f = self._figures(obj)
        if f is None:
            return "Redis is unavailable."
        return (
            f"{f.waiting} waiting ({f.early} before the opening), {f.inside} inside, {f.admitted_per_minute} admitted "
            f"in the last minute, last in line in ~{f.eta_last_seconds} s; seats: {f.seats_available} free, "
            f"{f.holds} held, {f.seats_sold} sold (inventory state: {f.inventory_state})."
        )

    @admin.display(description="seed SHA-256 (published)")
    def seed_sha256(self, obj):
        return prequeue.seed_hash(obj.seed)

    @admin.display(description="seed (revealed after the opening)")
    def seed_revealed(self, obj):
        return obj.seed if obj.event.sale_opens_at <= timezone.now() else "hidden until the sale opens"

    def has_add_permission(self, request):
        return False  # every event gets its room when it is created

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.update_config(
            event=obj.event, acting_user=request.user, **{name: getattr(obj, name) for name in EDITABLE}
        )

    def _set(self, request, queryset, **changes):
        for config in queryset.select_related("event"):
            services.update_config(event=config.event, acting_user=request.user, **changes)
        self.message_user(request, f"Updated {queryset.count()} waiting room(s).", messages.SUCCESS)

    @admin.action(description="Pause admission")
    def pause(self, request, queryset):
        self._set(request, queryset, paused=True)

    @admin.action(description="Resume admission")
    def resume(self, request, queryset):
        self._set(request, queryset, paused=False)

    @admin.action(description="Reopen the line")
    def reopen_line(self, request, queryset):
        self._set(request, queryset, closed=False)

    def _confirm(self, request, queryset, *, action: str, title: str, warning: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "warning": warning,
            "action": action,
            "configs": queryset.select_related("event"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/waitingroom/confirm.html", context)

    @admin.action(description="Close the line (asks for confirmation)")
    def close_line(self, request, queryset):
        if "confirm" not in request.POST:
            return self._confirm(
                request,
                queryset,
                action="close_line",
                title="Close the line",
                warning="Nobody new can join and nobody waiting will be admitted; buyers inside keep going.",
            )
        self._set(request, queryset, closed=True)
        return None

    @admin.action(description="Flush the line (asks for confirmation)")
    def flush_line(self, request, queryset):
        if "confirm" not in request.POST:
            return self._confirm(
                request,
                queryset,
                action="flush_line",
                title="Flush the line",
                warning="Everyone waiting loses their place (they join again at the end if they come back). "
                "Buyers inside keep going.",
            )
        for config in queryset:
            services.flush_line(event_id=config.event_id, acting_user=request.user)
        self.message_user(request, f"Flushed {queryset.count()} line(s).", messages.WARNING)
        return None
