"""The drop dashboard in the admin: a page per event (or for every event on sale) whose charts
poll a small JSON document of the same figures every few seconds. Both are staff-only
(booking_site/urls.py wraps them in the admin's own login check)."""

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.ops.selectors import drop_figures

POLL_SECONDS = 3  # how often an open dashboard asks for its figures


class BadEvent(ValueError):
    pass


def _event_id(request: HttpRequest) -> int | None:
    raw = request.GET.get("event", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise BadEvent(raw)
    return int(raw)


@require_GET
def dashboard(request: HttpRequest, event_id: int | None = None) -> HttpResponse:
    figures = drop_figures(event_id=event_id)
    if event_id is not None and not figures.events:
        raise Http404("No such event.")
    title = f"Drop dashboard: {figures.events[0].name}" if event_id is not None else "Drop dashboard: events on sale"
    figures_url = reverse("ops:figures") + (f"?event={event_id}" if event_id is not None else "")
    context = {
        **admin.site.each_context(request),
        "title": title,
        "figures": figures,
        "shown": figures.events[0] if event_id is not None else figures.totals,
        "event_id": event_id,
        "figures_url": figures_url,
        "poll_seconds": POLL_SECONDS,
        "latency_ms": {
            view: None if p95 is None else round(p95 * 1000, 1) for view, p95 in figures.latency_p95_s.items()
        },
    }
    return render(request, "admin/ops/dashboard.html", context)


@require_GET
def figures_json(request: HttpRequest) -> JsonResponse:
    """The dashboard's figures (apps.ops.selectors.DropFigures as JSON; money in paise)."""
    try:
        event_id = _event_id(request)
    except BadEvent:
        return JsonResponse({"error": "bad_event", "detail": "event must be an event's number."}, status=400)
    figures = drop_figures(event_id=event_id)
    if event_id is not None and not figures.events:
        raise Http404("No such event.")
    response = JsonResponse(figures.as_json())
    response["Cache-Control"] = "no-store"
    return response
