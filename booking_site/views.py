"""Liveness and readiness probes."""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django_redis.exceptions import ConnectionInterrupted

from apps.core import heartbeat
from apps.core.errors import ServiceUnavailable
from apps.core.middleware import DEPENDENCY_ERRORS


def healthz(request):
    """Liveness: touches nothing, so it is also the benchmarks' trivial baseline."""
    return HttpResponse("ok", content_type="text/plain")


def readyz(request):
    down = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DEPENDENCY_ERRORS:
        down.append("database")
    try:
        cache.client.get_client(write=True).ping()
    except DEPENDENCY_ERRORS:
        down.append("redis")
    if down:
        response = JsonResponse({"status": "unavailable", "down": down}, status=503)
        response["Retry-After"] = str(ServiceUnavailable.retry_after)
        return response
    return JsonResponse({"status": "ok"})


def beat_health(request):
    """Beat's liveness for the alert: 503 when its heartbeat is older than BEAT_STALE_SECONDS or
    missing. Not part of readyz: a stopped beat is no reason to take web processes out."""
    try:
        age = heartbeat.beat_age()
    except (ConnectionInterrupted, *DEPENDENCY_ERRORS):
        return JsonResponse({"status": "unknown", "down": ["redis"]}, status=503)
    if age is None or age > settings.BEAT_STALE_SECONDS:
        return JsonResponse({"status": "stale", "age_seconds": None if age is None else round(age)}, status=503)
    return JsonResponse({"status": "ok", "age_seconds": round(age)})
