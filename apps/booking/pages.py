"""The public pages (event list, event pages) as pre-built bytes in Redis.

They are the same for everyone and take the first blow of a drop: every arrival opens one.
A page is rendered once and kept; after FRESH_SECONDS one request (single flight) renders it
again while every other request keeps getting the previous bytes, so arrivals never wait for
the database and PostgreSQL sees at most one render per page every few seconds. Redis trouble
means rendering, never an error."""

import re
import time

from django.core.cache import cache
from redis.exceptions import RedisError

from apps.core.prebuilt import Prebuilt, prebuild

PUBLIC_PATH = re.compile(r"^/(events/[-\w]+/)?$")
FRESH_SECONDS = 5
KEEP_SECONDS = 3600


def _key(path: str) -> str:
    return f"page:{path}"


def prebuilt_page(path: str) -> Prebuilt | None:
    """The stored page, unless there is none or it is stale and this caller is the one to rebuild it."""
    try:
        entry = cache.get(_key(path))
        if entry is None:
            return None
        page, fresh_until = entry
        if fresh_until < time.time() and cache.add(_key(path) + ":rebuild", 1, FRESH_SECONDS * 2):
            return None
        return page
    except RedisError:
        return None


def store_page(path: str, body: bytes) -> Prebuilt:
    page = prebuild(body)
    try:
        cache.set(_key(path), (page, time.time() + FRESH_SECONDS), KEEP_SECONDS)
        cache.delete(_key(path) + ":rebuild")
    except RedisError:
        pass
    return page


def forget_page(path: str) -> None:
    try:
        cache.delete(_key(path))
    except RedisError:
        pass
