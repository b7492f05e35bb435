from django import template
from django.utils.dateformat import format as format_date

from apps.core.money import format_rupees

register = template.Library()


@register.filter
def rupees(paise) -> str:
    """Paise as rupees with Indian grouping (apps.core.money)."""
    return format_rupees(paise)


def _on_event_clock(moment, event, fmt: str) -> str:
    if moment is None:
        return ""
    local = event.local(moment)
    return f"{format_date(local, fmt)} {local.tzname()}"


@register.filter
def event_time(moment, event) -> str:
    """A moment on the event's own clock, naming its zone: 'Sat 12 Dec 2026, 19:30 IST'.
    Usage: {{ event.starts_at|event_time:event }}."""
    return _on_event_clock(moment, event, "D j M Y, H:i")


@register.filter
def event_clock(moment, event) -> str:
    """Only the time of day, naming the zone: '10:00 IST'."""
    return _on_event_clock(moment, event, "H:i")
