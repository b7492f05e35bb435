"""Liveness and readiness probes."""

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse

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
