"""The public pages (event list, event pages) as pre-built bytes in Redis.

They are the same for everyone and take the first blow of a drop: every arrival opens one.
A page is rendered once and kept; after FRESH_SECONDS one request (single flight) renders it
again while every other request keeps getting the previous bytes, so arrivals never wait for
the database and PostgreSQL sees at most one render per page every few seconds. Redis trouble
means rendering, never an error.

How stale a page can be (its price range and sale badge: on sale, opens at, few left, sold out):
an inventory change shows within FRESH_SECONDS plus the front's micro-cache
(SURGE_MICROCACHE_SECONDS, 2 s) plus the browser's max-age (PUBLIC_MAX_AGE, 2 s); a change by the
clock alone (the opening, a hold lapsing on a sold-out event) is a page's end of freshness, so it
shows within a second of that moment plus the same front and browser seconds."""

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


def store_page(path: str, body: bytes, *, fresh_seconds: float = FRESH_SECONDS) -> Prebuilt:
    """Keep the page; it is rebuilt after `fresh_seconds` (FRESH_SECONDS, or less when its content
    turns with the clock sooner)."""
    page = prebuild(body)
    try:
        cache.set(_key(path), (page, time.time() + min(fresh_seconds, FRESH_SECONDS)), KEEP_SECONDS)
        cache.delete(_key(path) + ":rebuild")
    except RedisError:
        pass
    return page


def forget_page(path: str) -> None:
    try:
        cache.delete(_key(path))
    except RedisError:
        pass
