"""The waiting page and its status endpoint. Neither touches the database once the event
is mirrored in Redis; both call one service."""

import time

from django.conf import settings
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from apps.waitingroom import selectors, services, tokens
from apps.waitingroom.errors import RateLimited
from apps.waitingroom.middleware import client_ip
from booking_site.middleware import service_unavailable

MESSAGES = {
    "waiting": "You are in line. Keep this page open: it moves on by itself when it is your turn.",
    "admitted": "It is your turn! Taking you to the seat map…",
    "paused": "Admission is paused for a moment. You keep your place.",
    "sold_out": "Sold out: every seat is taken.",
    "closed": "The line for this event is closed.",
    "open": "No waiting needed. Taking you to the seat map…",
}

_events: dict[str, tuple[selectors.RoomEvent, float]] = {}


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


def _visitor(request) -> tuple[str, bool]:
    visitor = request.COOKIES.get(tokens.VISITOR_COOKIE, "")
    return (visitor, False) if visitor else (tokens.new_visitor_id(), True)


def _finish(response, *, event, visitor: str, new_visitor: bool, admitted: bool):
    if new_visitor:
        tokens.set_visitor_cookie(response, visitor)
    if admitted:
        token, _ = tokens.issue(event_id=event.id, visitor_id=visitor)
        tokens.set_cookie(response, event_id=event.id, token=token)
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_GET
def queue_page(request, slug: str):
    event = _room_event_or_404(slug)
    visitor, new_visitor = _visitor(request)
    next_url = _next_url(request, event)
    try:
        status = services.poll_status(event_id=event.id, visitor_id=visitor, ip=client_ip(request))
    except RateLimited as error:
        response = render(request, "waitingroom/too_many.html", {"message": error.message}, status=429)
        response["Retry-After"] = str(error.retry_after)
        return _finish(response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=False)
    if status.state in ("admitted", "open"):
        response = HttpResponseRedirect(next_url)
    else:
        context = {
            "event": event,
            "status": status,
            "message": MESSAGES[status.state],
            "next_url": next_url,
            "status_url": reverse("waitingroom:status", args=[event.slug]),
            "refresh_seconds": max(2, status.poll_after_ms // 1000),
            "progress_percent": int(status.progress * 100),
        }
        response = render(request, "waitingroom/queue.html", context)
    return _finish(response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=status.state == "admitted")


@never_cache
@require_GET
def queue_status(request, slug: str):
    return status_response(request, slug)


def status_response(request, slug: str):
    """The status JSON (also served by middleware.QueueStatusShortcut, ahead of the stack)."""
    event = _room_event_or_404(slug)
    visitor, new_visitor = _visitor(request)
    try:
        status = services.poll_status(event_id=event.id, visitor_id=visitor, ip=client_ip(request))
    except RateLimited as error:
        response = JsonResponse({"error": error.code, "detail": error.message}, status=429)
        response["Retry-After"] = str(error.retry_after)
        return _finish(response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=False)
    except RedisError:
        return service_unavailable(request, "waiting room", settings.WAITING_ROOM_RETRY_AFTER)
    body = status.as_json()
    body["message"] = MESSAGES[status.state]
    if status.state in ("admitted", "open"):
        body["next"] = _next_url(request, event)
    response = JsonResponse(body)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Length"] = str(len(response.content))  # no CommonMiddleware on the shortcut
    return _finish(response, event=event, visitor=visitor, new_visitor=new_visitor, admitted=status.state == "admitted")
