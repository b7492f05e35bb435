"""Request helpers every app uses, and the one function that turns an error into a response.

`error_response` is the single place an `ApplicationError` becomes an HTTP answer: the mapper
middleware calls it for errors a view lets through, and code that answers outside a view (the
waiting room's gate and its status poll, ahead of the middleware stack) calls it directly."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from apps.core.errors import ApplicationError, ServiceUnavailable


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind the front (nginx), the proxy's header names it
    (CLIENT_IP_HEADER, e.g. HTTP_X_REAL_IP, which nginx overwrites on every request); the header
    is believed only when the request really came from a trusted proxy (TRUSTED_PROXIES), so a
    client talking to gunicorn directly cannot pick its own address."""
    peer = request.META.get("REMOTE_ADDR", "")
    header = settings.WAITING_ROOM_CLIENT_IP_HEADER
    if header != "REMOTE_ADDR" and peer in settings.TRUSTED_PROXIES:
        value = request.META.get(header, "").split(",")[0].strip()
        if value:
            return value
    return peer or "unknown"


def visitor_of(request: HttpRequest) -> str:
    """The browser making the request: the visitor id the waiting room's gate read from its signed
    `wr_vid` cookie, or minted for it ("" where the gate does not run)."""
    return getattr(request, "visitor_id", "")


def error_json(error: ApplicationError) -> dict:
    """The one JSON shape of an error: `{"error": code, "detail": message, ...extra}`."""
    return {"error": error.code, "detail": error.message, **error.extra()}


def error_response[E: ApplicationError](
    request: HttpRequest,
    error: E,
    *,
    page: Callable[[E], HttpResponse] | None = None,
    as_json: bool | None = None,
) -> HttpResponse:
    """The answer to `error`: JSON for API clients (`as_json`, else the Accept header), else a
    page: the error's template, or `page(error)` where a view shows the error on its own page (the
    seat map re-shown with the refused seats). Retry-After whenever the error says how long to wait.
    (`E`: a `page` written for one family of errors, such as BookingError, takes them.)"""
    response: HttpResponse
    if as_json if as_json is not None else wants_json(request):
        response = JsonResponse(error_json(error), status=error.status)
    elif page is not None:
        response = page(error)
    else:
        context = {"error": error, "message": error.message, "retry_after": error.retry_after}
        response = render(request, error.template, context, status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def service_unavailable(request: HttpRequest, what: str, retry_after: int | None = None) -> HttpResponse:
    """The one 503 answer: JSON for API clients, a page that retries by itself for people."""
    return error_response(request, ServiceUnavailable(what, retry_after))
