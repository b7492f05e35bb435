"""The one mapper: an application error a view lets through, or a dependency outage, becomes its
answer here (apps.core.http.error_response), never a 500 page."""

import logging

from django.db import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout
from redis.exceptions import ClusterDownError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.core.errors import ApplicationError, ServiceUnavailable
from apps.core.http import error_response

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError, PoolTimeout)
# A Redis Cluster shard failing over answers CLUSTERDOWN or TRYAGAIN for a few seconds: down, not a bug.
DEPENDENCY_ERRORS = (*DATABASE_ERRORS, RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError)


class ErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ApplicationError):
            return error_response(request, exception)
        if isinstance(exception, DEPENDENCY_ERRORS):
            what = "database" if isinstance(exception, DATABASE_ERRORS) else "cache"
            logger.warning("dependency down (%s) on %s: %s", what, request.path, exception)
            return error_response(request, ServiceUnavailable(what))
        return None
