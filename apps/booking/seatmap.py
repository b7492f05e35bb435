"""The seat map as documents: a shell page the same for every buyer, the event's layout, and its
availability per inventory generation. Each is built once, kept gzipped in Redis and answered
with an ETag, so an unchanged map costs a 304 and a changed one a few hundred bytes.

- The shell (`/events/<slug>/seats/`): HTML with no per-buyer byte and no cookie, pre-built like
  the event page and, like it, not gated and micro-cached by nginx. The hold's CSRF token travels
  in the CSRF cookie, which the availability sets and static/js/seatmap.js reads.
- The layout (`/events/<slug>/layout.json?v=<version>`): sections, rows, seat numbers and prices.
  Seat changes do not touch it, so it is kept for INVENTORY_CACHE_SECONDS whatever the generation,
  and under its version it never changes (immutable for browsers and caches).
- Availability (`.../seats/availability.json`, `.../seats/availability/<section>.json`) and the
  overview of free seats per section (`.../seats/overview.json`): per generation, and true only
  until the earliest live hold lapses (a lapsing hold frees its seats with no write, so no bump).
"""

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_vary_headers

from apps.booking import inventory, rendering, selectors
from apps.booking.models import Event
from apps.booking.pages import forget_page, store_page
from apps.core.prebuilt import PUBLIC_CACHE_CONTROL

GZIP_LEVEL = 9  # compressed once per generation, sent many times: the smallest bytes are worth it
SINGLE_VIEW_SEATS = 2_000  # up to this many seats the map shows every section at once
# While one request rebuilds a layout (65 ms for 50,000 seats), the others get the previous one.
LAYOUT_STALE_SECONDS = 3600
ACCEPTS_GZIP = re.compile(r"\bgzip\b")
JSON = "application/json"
HTML = "text/html; charset=utf-8"
# Gated documents (the gate may set per-visitor cookies on any of them): browsers keep them and
# ask again with If-None-Match each time; shared caches must not keep them.
PRIVATE = "private, no-cache"


@dataclass(frozen=True)
class Document:
    gz: bytes

    @property
    def version(self) -> str:
        return hashlib.blake2b(self.gz, digest_size=12).hexdigest()

    @property
    def etag(self) -> str:
        # Weak: the gzip and the identity bodies are the same document.
        return f'W/"{self.version}"'

    @property
    def text(self) -> str:
        return gzip.decompress(self.gz).decode()


def compress(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)  # mtime=0: same bytes, same ETag


def answer(request, document: Document, *, content_type: str, cache_control: str) -> HttpResponse:
    """The document gzipped (or plain, for the rare client that cannot take gzip), or a 304 when
    the browser already has it. nginx passes an already encoded body through untouched."""
    response = get_conditional_response(request, etag=document.etag)
    if response is None:
        if ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
            response = HttpResponse(document.gz, content_type=content_type)
            response["Content-Encoding"] = "gzip"
        else:
            response = HttpResponse(gzip.decompress(document.gz), content_type=content_type)
        response["Content-Length"] = str(len(response.content))
    response["ETag"] = document.etag
    response["Cache-Control"] = cache_control
    patch_vary_headers(response, ("Accept-Encoding",))
    return response


def _until(event: Event, now: datetime, next_change: datetime | None) -> float:
    """Seconds a document built at `now` stays true: until the earliest live hold lapses or the
    sale opens, and never longer than INVENTORY_CACHE_SECONDS (changes made by hand in the admin)."""
    seconds = float(settings.INVENTORY_CACHE_SECONDS)
    for moment in (next_change, event.sale_opens_at):
        if moment is not None and moment > now:
            seconds = min(seconds, (moment - now).total_seconds())
    return seconds


def layout(event_id: int) -> Document | None:
    """The event's layout; None when there is no such (visible) event."""

    def build():
        event = selectors.visible_event(event_id)
        if event is None:
            return b"", None
        return compress(rendering.layout_json(selectors.seat_layout(event))), True

    payload = inventory.cached(
        event_id,
        "layout",
        build,
        lambda found: settings.INVENTORY_CACHE_SECONDS if found else 0,
        per_generation=False,
        stale_for=LAYOUT_STALE_SECONDS,
    )
    return Document(payload) if payload else None


def availability(event_id: int, *, section_id: int | None = None, seats: bool = True) -> Document | None:
    """Free counts per section and, with `seats`, the seats that are not free (of one section or of
    all). None when there is no such event or section."""
    name = "overview" if not seats else f"availability:{section_id or 'all'}"

    def build():
        event = selectors.visible_event(event_id)
        if event is None:
            return b"", None
        now = timezone.now()
        found = selectors.seat_availability(event, now, section_id=section_id, seats=seats)
        if section_id is not None and section_id not in found.left:
            return b"", None
        return compress(rendering.availability_json(found)), _until(event, now, found.next_change)

    payload = inventory.cached(event_id, name, build, lambda seconds: seconds or 0)
    return Document(payload) if payload else None


def sections_of(layout_document: Document) -> list[dict]:
    """The sections of a layout (id, name, price, seats), without their rows."""
    return [
        {key: section[key] for key in ("id", "name", "price", "seats")}
        for section in json.loads(layout_document.text)["sections"]
    ]


def shows_all_at_once(sections: list[dict]) -> bool:
    return len(sections) <= 1 or sum(s["seats"] for s in sections) <= SINGLE_VIEW_SEATS


SHELL_PATH = re.compile(r"^/events/[-\w]+/seats/$")


def is_shell(request) -> bool:
    """Whether this asks for the seat page's shell (`?released=` included; `?section=` is the seat
    list without JavaScript). The same bytes for every visitor, and nothing in it about which seats
    are free: not gated, no cookie set, so nginx and browsers keep one copy for everyone."""
    shell = request.method in ("GET", "HEAD") and SHELL_PATH.match(request.path_info) is not None
    return shell and "section" not in request.GET


def answer_shell(request, document: Document) -> HttpResponse:
    """The shell as every buyer gets it: public for a moment, like an event page (prebuilt.py)."""
    return answer(request, document, content_type=HTML, cache_control=PUBLIC_CACHE_CONTROL)


def shell_key(request) -> str:
    """Where the shell this request asks for is kept (booking.pages): the page, or its variant with
    the notice that a hold was released."""
    return request.path_info + ("?released=1" if request.GET.get("released") else "")


def shell(request, slug: str, *, load_event) -> Document:
    """Render the seat page and keep it: the same bytes for every buyer, re-rendered every few
    seconds by one request. PublicPageShortcut answers it from what is kept, so only that request
    comes here (it has claimed the rebuild, and must not look again: it would find the stale page)."""
    path = shell_key(request)
    released = path != request.path_info
    try:
        event = load_event()
    except Http404:
        forget_page(path)
        raise
    layout_document = layout(event.id)
    sections = sections_of(layout_document) if layout_document else []
    version = f"?v={layout_document.version}" if layout_document else ""
    config = {
        "mode": "all" if shows_all_at_once(sections) else "sections",
        "sections": sections,
        "on_sale": event.is_on_sale(),
        "max": event.max_seats_per_buyer,
        "layout": reverse("booking:seat_layout", args=[slug]) + version,
        "availability": reverse("booking:seat_availability", args=[slug]),
        "overview": reverse("booking:seat_overview", args=[slug]),
        "section": reverse("booking:seat_map", args=[slug]) + "availability/",
        "hold": reverse("booking:hold", args=[slug]),
        "page": reverse("booking:seat_map", args=[slug]),
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
    }
    html = render_to_string(
        "booking/seat_map_shell.html",
        {
            "event": event,
            "sections": sections,
            "all_at_once": config["mode"] == "all",
            "on_sale": config["on_sale"],
            "released": released,
            "config": config,
        },
    )
    return Document(store_page(path, compress(html.encode())).body)
