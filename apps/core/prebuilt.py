"""Pre-built pages: bytes that are the same for every visitor (the event list, an event page,
the waiting page), built once and answered many times with headers a CDN or nginx honours.

During a drop these are what arrivals open, so answering one must cost no template rendering,
no session and no database: the bytes are kept (in Redis or in the process) and sent as they
are, with an ETag so a browser's reload costs a 304."""

import hashlib
from dataclasses import dataclass

from django.http import HttpResponse
from django.utils.cache import get_conditional_response

PUBLIC_MAX_AGE = 2  # seconds a browser, CDN or the nginx micro-cache may reuse a public page
STALE_SECONDS = 10  # ... and may serve it stale while fetching a fresh one
PUBLIC_CACHE_CONTROL = f"public, max-age={PUBLIC_MAX_AGE}, stale-while-revalidate={STALE_SECONDS}"


@dataclass(frozen=True)
class Prebuilt:
    body: bytes
    etag: str
    content_type: str = "text/html; charset=utf-8"


def prebuild(body: bytes, content_type: str = "text/html; charset=utf-8") -> Prebuilt:
    return Prebuilt(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"', content_type)


def _cache_headers(response: HttpResponse, page: Prebuilt) -> HttpResponse:
    response["ETag"] = page.etag
    response["Cache-Control"] = PUBLIC_CACHE_CONTROL
    return response


def respond(request, page: Prebuilt) -> HttpResponse:
    """The page, or Django's conditional answer (a 304 when the browser already has these bytes)."""
    not_modified = get_conditional_response(request, etag=page.etag)
    if not_modified is not None:
        return _cache_headers(not_modified, page)
    response = HttpResponse(page.body, content_type=page.content_type)
    response["Content-Length"] = str(len(page.body))  # ahead of CommonMiddleware
    return _cache_headers(response, page)
