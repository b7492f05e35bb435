"""The waiting page, its no-JavaScript twin and the status endpoint. None touches the database
once the event is mirrored in Redis."""

import time

from django.conf import settings
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from apps.core.clock import now_ms
from apps.core.http import client_ip, error_response, service_unavailable
from apps.core.prebuilt import Prebuilt, prebuild, respond
from apps.waitingroom import selectors, services, tokens
from apps.waitingroom.contract import StatusState
from apps.waitingroom.errors import RateLimited
from apps.waitingroom.presentation import Status, opening, until_opening

MESSAGES = {
    StatusState.WAITING: "You are in line. Keep this page open: it moves on by itself when it is your turn.",
    StatusState.ADMITTED: "It is your turn! Taking you to the seat map…",
    StatusState.PAUSED: "Admission is paused for a moment. You keep your place.",
    StatusState.SOLD_OUT: "Sold out: every seat is taken.",
    StatusState.CLOSED: "The line for this event is closed.",
    StatusState.OPEN: "No waiting needed. Taking you to the seat map…",
}
ONWARD = (StatusState.ADMITTED, StatusState.OPEN)  # the visitor goes on to the seat map

_events: dict[str, tuple[selectors.RoomEvent, float]] = {}
_pages: dict[str, tuple[Prebuilt, float]] = {}
PAGE_SECONDS = 5  # a process rebuilds the waiting page at most this often (the event's name may change)


def _room_event_or_404(slug: str) -> selectors.RoomEvent:
    cached = _events.get(slug)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    event = selectors.room_event(slug)
    if event is None:
        raise Http404("No such event.")
    if len(_events) > 10_000:
        _events.clear()
    _events[slug] = (event, time.monotonic() + 60)
    return event


def _next_url(request, event) -> str:
    target = request.GET.get("next", "")
    if (
        target
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
        and target.startswith("/")
    ):
        return target
    return reverse("booking:seat_map", args=[event.slug])


def _finish(response, *, event, visitor: str, new_visitor: bool, admitted: bool):
    if new_visitor:
        tokens.set_visitor_cookie(response, visitor)
    if admitted:
        token, _ = tokens.issue(event_id=event.id, visitor_id=visitor)
        tokens.set_cookie(response, event_id=event.id, token=token)
    response["Cache-Control"] = "no-store"
    return response


def _panel_context(event: selectors.RoomEvent, status: Status | None = None) -> dict:
    """What the panel shows before the script's first status call (the pre-built page: the same
    for everyone, so the opening but no countdown) or without a script (the place page)."""
    opens_in = status.opens_in_seconds if status is not None else None
    return {
        "event": event,
        "opening": (status and status.opening) or opening(event.clock, event.opens_ms, now_ms()),
        "opens_in": until_opening(opens_in) if opens_in is not None else "",
        "status_url": reverse("waitingroom:status", args=[event.slug]),
        "place_url": reverse("waitingroom:place", args=[event.slug]),
        "next_url": reverse("booking:seat_map", args=[event.slug]),
        "status": status,
        "message": MESSAGES[status.state] if status else "Finding your place in line…",
    }


def waiting_page(request, slug: str):
    """The waiting page: the same bytes for every visitor (the script asks for the visitor's
    place), built at most every few seconds per process. Also answered ahead of the middleware
    stack (middleware.LobbyShortcut) and micro-cached by the front."""
    event = _room_event_or_404(slug)
    cached = _pages.get(slug)
    now = time.monotonic()
    if cached is None or cached[1] <= now:
        page = prebuild(render_to_string("waitingroom/queue.html", _panel_context(event)).encode())
        if len(_pages) > 10_000:
            _pages.clear()
        _pages[slug] = cached = (page, now + PAGE_SECONDS)
    return respond(request, cached[0])


@require_GET
def queue_page(request, slug: str):
    return waiting_page(request, slug)


@never_cache
@require_GET
def queue_place(request, slug: str):
    """The waiting page for browsers without JavaScript: rendered per visitor, refreshing itself."""
    event = _room_event_or_404(slug)
    visitor, new_visitor = tokens.visitor_from(request)
    next_url = _next_url(request, event)
    try:
        status = services.poll_status(event_id=event.id, visitor_id=visitor, ip=client_ip(request))
    except RateLimited as error:
        response = error_response(request, error)
        return _finish(response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=False)
    if status.state in ONWARD:
        response = HttpResponseRedirect(next_url)
    else:
        context = {
            **_panel_context(event, status),
            "next_url": next_url,
            "refresh_seconds": max(2, status.poll_after_ms // 1000),
            "progress_percent": int(status.progress * 100),
            "poll_ms": status.poll_after_ms,
        }
        response = render(request, "waitingroom/place.html", context)
    return _finish(
        response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=status.state == StatusState.ADMITTED
    )


@never_cache
@require_GET
def queue_status(request, slug: str):
    return status_response(request, slug)


JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"


def status_response(request, slug: str):
    """The status JSON (also served by middleware.LobbyShortcut, ahead of the stack). For a
    newcomer it is the join: one Redis round trip gives the place, and the signed visitor
    cookie set here keeps it for every later poll, reload and tab."""
    event = _room_event_or_404(slug)
    visitor, new_visitor = tokens.visitor_from(request)
    try:
        status = services.poll_status(event_id=event.id, visitor_id=visitor, ip=client_ip(request))
    except RateLimited as error:
        response = error_response(request, error, as_json=True)  # data, whatever the Accept header says
        return _finish(response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=False)
    except RedisError:
        return service_unavailable(request, "waiting room", settings.WAITING_ROOM_RETRY_AFTER)
    body = status.as_json()
    body["message"] = MESSAGES[status.state]
    if status.state in ONWARD:
        body["next"] = _next_url(request, event)
    response = JsonResponse(body)
    response["X-Content-Type-Options"] = "nosniff"
    # Data, never a document: the strictest policy, set here so the CSP middleware does not build
    # the pages' policy for the hottest response of a drop.
    response["Content-Security-Policy"] = JSON_POLICY
    response["Content-Length"] = str(len(response.content))  # no CommonMiddleware on the shortcut
    return _finish(
        response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=status.state == StatusState.ADMITTED
    )
