"""Turn a dependency outage into a clear 503 with Retry-After instead of a 500 page."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.template.response import TemplateResponse
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

DEPENDENCY_ERRORS = (OperationalError, InterfaceError, PoolTimeout, RedisConnectionError, RedisTimeoutError)
RETRY_AFTER_SECONDS = 5


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def client_ip(request) -> str:
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


def service_unavailable(request, what: str, retry_after: int = RETRY_AFTER_SECONDS):
    """The one 503 answer: JSON for API clients, a friendly page for people."""
    message = f"We are very busy right now ({what}). Please try again in a few seconds."
    if wants_json(request):
        response = JsonResponse({"error": "unavailable", "detail": message}, status=503)
    else:
        response = TemplateResponse(request, "503.html", {"message": message, "retry_after": retry_after}, status=503)
        response.render()
    response["Retry-After"] = str(retry_after)
    return response


class DependencyDownMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DEPENDENCY_ERRORS):
            what = "database" if isinstance(exception, (OperationalError, InterfaceError, PoolTimeout)) else "cache"
            logger.warning("dependency down (%s) on %s: %s", what, request.path, exception)
            return service_unavailable(request, what)
        return None
