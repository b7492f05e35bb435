"""Buyer pages. Views parse input, call one service or selector, and render; errors become HTTP
answers in `apps.core.http.error_response` only (a view lets them through to the mapper
middleware, or, to show one on its own page, hands that page over)."""

import base64
import hashlib
import json
from datetime import UTC, datetime
from functools import wraps
from uuid import UUID

import segno
from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import rotate_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.booking import inventory, links, seatmap, selectors, services, tickets
from apps.booking.access import owned_intent
from apps.booking.errors import BookingError, InvalidForm, InvalidRequest
from apps.booking.forms import FindTicketsForm, HoldForm
from apps.booking.pages import FRESH_SECONDS, forget_page, store_page
from apps.booking.rendering import seat_grid_html
from apps.booking.templatetags.booking_tags import event_clock
from apps.core import metrics
from apps.core.http import client_ip, error_response, visitor_of, wants_json
from apps.core.prebuilt import respond


def _event_or_404(slug: str):
    event = selectors.event_by_slug(slug)
    if event is None or event.status == event.Status.DRAFT:
        raise Http404("No such event.")
    return event


class PublicPage(HttpResponse):
    """A public page and for how many seconds it stays true by the clock alone."""

    fresh_seconds: float = FRESH_SECONDS


def public_page(view):
    """A page that is the same for every visitor: rendered here, then kept as pre-built bytes
    (pages.py) that PublicPageShortcut answers ahead of the middleware stack. A view whose page
    turns with the clock sooner than pages.FRESH_SECONDS answers a PublicPage saying when."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            fresh_seconds = response.fresh_seconds if isinstance(response, PublicPage) else FRESH_SECONDS
            return respond(request, store_page(request.path_info, response.content, fresh_seconds=fresh_seconds))
        if response.status_code == 404:
            forget_page(request.path_info)
        return response

    return wrapped


def _sale_page(request, template: str, context: dict, facts: list[selectors.SaleFacts], now) -> PublicPage:
    response = PublicPage(render_to_string(template, context, request))
    response.fresh_seconds = selectors.sale_facts_true_for(facts, now, at_most=FRESH_SECONDS)
    return response


@require_GET
@public_page
def event_list(request):
    now = timezone.now()
    events = selectors.events_listed(now)
    facts = selectors.sale_facts(events, now)
    cards = [(event, facts[event.id]) for event in events]
    return _sale_page(request, "booking/event_list.html", {"cards": cards}, list(facts.values()), now)


@require_GET
@public_page
def event_detail(request, slug: str):
    now = timezone.now()
    event = _event_or_404(slug)
    facts = selectors.sale_facts([event], now)[event.id]
    context = {
        "event": event,
        "sale": facts,
        "lobby_template": settings.BOOKING_EVENT_LOBBY_TEMPLATE,
    }
    return _sale_page(request, "booking/event_detail.html", context, [facts], now)


def _seat_grid_html(event, section_ids: list[int] | None) -> str:
    """The seat grid of the page without JavaScript, for some sections or all: rendered once per
    inventory change and served from Redis until the next change or the next hold lapse."""

    def build():
        now = timezone.now()
        seat_map = selectors.seat_map(event, now, section_ids=section_ids)
        return seat_grid_html(seat_map).encode(), (seat_map, now)

    def ttl_of(context):
        seat_map, now = context
        ttl = settings.INVENTORY_CACHE_SECONDS
        if seat_map.next_change is not None:
            ttl = min(ttl, (seat_map.next_change - now).total_seconds())
        return ttl

    name = "seatgrid:" + ("all" if section_ids is None else "-".join(map(str, section_ids)))
    return inventory.cached(event.id, name, build, ttl_of).decode()


def _sections_to_show(event, sections: list[dict], wanted: str | list[str]) -> list[int] | None:
    """Which sections the page without JavaScript shows: `?section=<id>`, or `all` (every section
    of a small venue), or after a refused hold the section of the seats the buyer had chosen.
    None is all."""
    if seatmap.shows_all_at_once(sections):
        return None
    ids = [s["id"] for s in sections]
    if isinstance(wanted, list):
        chosen = selectors.section_ids_of(event, wanted) if wanted else []
        return [i for i in ids if i in chosen][:1] or ids[:1]
    if wanted.isdigit() and int(wanted) in ids:
        return [int(wanted)]
    if wanted == "all":
        return ids[:1]  # too many seats for one page: the first section, with links to the others
    raise Http404("No such section.")


def _render_seat_map(request, event, *, section: str = "all", form=None, error=None, status=200):
    """The seat map for browsers without JavaScript: one section's seats (or all, for a small
    venue) as checkboxes in the hold form, as before the JavaScript map."""
    layout = seatmap.layout(event.id)
    sections = seatmap.sections_of(layout) if layout else []
    chosen = sorted(set(form.seat_labels)) if form is not None else []
    shown = _sections_to_show(event, sections, chosen if form is not None else section)
    context = {
        "event": event,
        "sections": sections,
        "shown": shown,
        "all_at_once": seatmap.shows_all_at_once(sections),
        "seat_grid": _seat_grid_html(event, shown),
        "form": form,
        "error": error,
        "chosen": chosen,  # JSON for seats.js
        "on_sale": event.is_on_sale(),
    }
    response = render(request, "booking/seat_map.html", context, status=status)
    response["Cache-Control"] = seatmap.PRIVATE
    return response


@require_GET
def seat_map(request, slug: str):
    """The seat page: the shell drawn by seatmap.js, the same bytes for every buyer, with no
    cookie, so nginx and browsers keep it like an event page (the gate lets it through: the
    documents it reads are gated); with `?section=` the form for browsers without JavaScript."""
    if "section" in request.GET:
        return _render_seat_map(request, _event_or_404(slug), section=request.GET["section"])
    page = seatmap.shell(request, slug, load_event=lambda: _event_or_404(slug))
    return seatmap.answer_shell(request, page)


@require_GET
def seat_layout(request, slug: str):
    """Sections, rows and seat numbers: nothing about who holds what, so not gated; under the
    version the shell names it never changes, and any cache may keep it."""
    document = seatmap.layout(_event_or_404(slug).id)
    if document is None:
        raise Http404("No such event.")
    if request.GET.get("v") == document.version:
        cache_control = "public, max-age=31536000, immutable"
    else:
        cache_control = f"public, max-age={settings.INVENTORY_CACHE_SECONDS}"
    return seatmap.answer(request, document, content_type=seatmap.JSON, cache_control=cache_control)


def _availability(request, slug: str, **which):
    """The first gated document seatmap.js reads, before any hold: a new visitor's CSRF cookie is
    minted here, not by the shell (which every visitor shares, cookies and all, from nginx). The hold
    takes its token from the cookie, so rotate_token mints the cookie alone, without get_token's
    masked copy for a page."""
    document = seatmap.availability(_event_or_404(slug).id, **which)
    if document is None:
        raise Http404("No such event or section.")
    response = seatmap.answer(request, document, content_type=seatmap.JSON, cache_control=seatmap.PRIVATE)
    if settings.CSRF_COOKIE_NAME not in request.COOKIES:
        rotate_token(request)
    return response


@require_GET
def seat_overview(request, slug: str):
    """Free seats per section, for the first view of a large venue."""
    return _availability(request, slug, seats=False)


@require_GET
def seat_availability(request, slug: str, section_id: int | None = None):
    """The seats that are not free, of the whole event or of one section."""
    return _availability(request, slug, section_id=section_id)


@require_POST
@metrics.timed_view("hold")
def hold(request, slug: str):
    event = _event_or_404(slug)
    form = HoldForm(request.POST)

    def seat_map_again(error: BookingError):
        """A refused hold shows the seat map again, with the buyer's choice and why (the form
        shows its own field errors)."""
        shown = None if isinstance(error, InvalidForm) else error
        return _render_seat_map(request, event, form=form, error=shown, status=error.status)

    if not form.is_valid():
        return error_response(request, InvalidForm(form.errors.get_json_data()), page=seat_map_again)
    try:
        result = services.hold_seats(
            event=event,
            seat_labels=form.seat_labels,
            buyer_name=form.cleaned_data["name"],
            buyer_email=form.cleaned_data["email"],
            buyer_phone=form.cleaned_data["phone"],
            owner=visitor_of(request),
            client_ip=client_ip(request),
        )
    except BookingError as error:
        return error_response(request, error, page=seat_map_again)
    intent = result.intent
    checkout_url = reverse(settings.BOOKING_CHECKOUT_URL_NAME, args=[intent.id])
    if wants_json(request):
        return JsonResponse(
            {
                "intent": str(intent.id),
                "expires_at": intent.expires_at.isoformat(),
                "amount": intent.amount_paise,
                "currency": intent.currency,
                "checkout_url": checkout_url,
            },
            status=201 if result.created else 200,
        )
    return _see_other(checkout_url)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


@require_POST
def release(request, intent_id: UUID):
    intent = owned_intent(request, intent_id)  # IntentNotFound: the mapper answers 404
    services.release_intent(intent_id=intent.id)
    if wants_json(request):
        intent.refresh_from_db(fields=["status"])
        return JsonResponse({"intent": str(intent.id), "status": intent.status})
    return _see_other(reverse("booking:seat_map", args=[intent.event.slug]) + "?released=1")


@require_GET
def ticket(request, reference: str):
    """The ticket behind the signed link of the confirmation email: no login, the key is the proof."""
    if not links.ticket_key_valid(reference, request.GET.get("key", "")):
        raise Http404("No such booking.")
    booking = selectors.booking_by_reference(reference)
    if booking is None:
        raise Http404("No such booking.")
    seats = [b.seat for b in links.active_booked_seats(booking)]  # a cancelled seat is no longer a ticket
    codes = [
        {"admits": admits, "qr": segno.make_qr(text, error="m").svg_inline(omitsize=True, title=admits)}
        for admits, text in links.gate_codes(booking)
    ]
    return render(
        request,
        "booking/booking_detail.html",
        {"booking": booking, "event": booking.event, "seats": seats, "codes": codes},
    )


@require_http_methods(["GET", "POST"])
def find_tickets(request):
    """Find my tickets: an email and a booking reference; when they match, the ticket email goes
    again. The answer is the same whether or not they do (services.send_tickets_again)."""
    form = FindTicketsForm(request.POST if request.method == "POST" else None)
    if request.method == "GET":
        return _no_store(render(request, "booking/find_tickets.html", {"form": form}))
    if not form.is_valid():

        def form_again(error: BookingError) -> HttpResponse:
            return render(request, "booking/find_tickets.html", {"form": form}, status=error.status)

        return _no_store(error_response(request, InvalidForm(form.errors.get_json_data()), page=form_again))
    email, reference = form.cleaned_data["email"], form.cleaned_data["reference"]
    services.send_tickets_again(email=email, reference=reference, client_ip=client_ip(request))
    if wants_json(request):
        return _no_store(JsonResponse({"status": "requested"}))
    return _no_store(render(request, "booking/find_tickets_sent.html", {"email": email, "reference": reference}))


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages carrying a buyer's email or a form's CSRF token are kept by no cache."""
    response["Cache-Control"] = "no-store"
    return response


def _check_in_json(result: services.CheckIn, event) -> dict:
    return {
        "outcome": result.outcome,
        "seat": result.seat_label,
        "buyer": result.buyer,
        "checked_in_at": result.checked_in_at.isoformat() if result.checked_in_at else None,
        "clock": event_clock(result.checked_in_at, event),  # "19:02 IST", as the page shows it
        "gate": result.gate,
    }


@require_http_methods(["GET", "POST"])
@permission_required("booking.check_in", login_url="admin:login")
def door(request, slug: str):
    """The door: door staff (the check-in permission, no other admin right) scan or type a ticket
    code and get a large green or red answer: JSON for the page's script, the page itself without
    one. The last gate name is kept in a cookie."""
    event = _event_or_404(slug)
    gate = (request.POST.get("gate") or request.COOKIES.get("door_gate") or "Gate 1").strip()[:40]
    result = None
    if request.method == "POST":
        result = services.check_in(event=event, code=request.POST.get("code", ""), gate=gate)
    if wants_json(request) and result is not None:
        response = _no_store(JsonResponse(_check_in_json(result, event)))
    else:
        zone_name = event.local(timezone.now()).tzname()  # "IST": the page's own clock names it too
        context = {"event": event, "gate": gate, "result": result, "zone_name": zone_name}
        response = render(request, "booking/door.html", context)
    response.set_cookie("door_gate", gate, max_age=86400, samesite="Strict", httponly=True)
    return response


def door_staff_only(view):
    """The door's JSON endpoints: a 403 in JSON without the check-in permission, not the login
    page's redirect a script cannot follow (the page then tells the staff to sign in again)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.has_perm("booking.check_in"):
            return _no_store(JsonResponse({"error": "signed_out", "detail": "Sign in as door staff."}, status=403))
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@door_staff_only
def door_manifest(request, slug: str):
    """What a door phone keeps to answer while offline: the event's door key (tickets.door_key:
    it signs this event's codes only, so a lost phone can forge no other event's tickets) and,
    per booked seat, its label, the buyer's short name, whether it is in already and whether it
    was cancelled (an offline phone answers red "Cancelled" for it)."""
    event = _event_or_404(slug)
    seats = selectors.door_manifest(event)
    return _no_store(
        JsonResponse(
            {
                "event": event.id,
                "key": base64.b64encode(tickets.door_key(event.id)).decode(),
                "seats": {
                    str(s.booked_seat_id): [
                        s.seat_label,
                        s.buyer,
                        event_clock(s.checked_in_at, event) if s.checked_in_at else "",
                        s.gate,
                        s.cancelled,
                    ]
                    for s in seats
                },
            }
        )
    )


@require_GET
@door_staff_only
def door_worker(request, slug: str):
    """The door page's service worker (templates/booking/door_worker.js): served under the page's
    own path so its scope is that page, it keeps the page and its files for a phone gone offline."""
    event = _event_or_404(slug)
    page = reverse("booking:door", args=[event.slug])
    assets = [static(name) for name in ("css/site.css", "favicon.svg", "js/door.js", "vendor/jsqr/jsQR.js")]
    prefix = f"surge-door-{event.id}-"
    version = hashlib.sha256("\n".join([page, *assets]).encode()).hexdigest()[:12]
    config = json.dumps({"page": page, "assets": assets, "prefix": prefix, "cache": prefix + version})
    response = render(request, "booking/door_worker.js", {"config": config}, content_type="text/javascript")
    response["Cache-Control"] = "no-cache"  # the browser checks for a new worker on every visit
    return response


SCAN_CODE_MAX = 200  # a ticket code is about 50 characters; anything far longer is not one
SCAN_TIME_MAX_MS = 4_102_444_800_000  # 2100-01-01: a later "time" is garbage, not a phone's clock


def _queued_scans(body: bytes) -> list[services.QueuedScan]:
    """The sync's JSON, {"scans": [{"code", "gate", "scanned_at" (ms since the epoch)}, ...]}, or
    InvalidRequest: a batch with one bad scan is refused whole, before any check-in."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidRequest("Send the scans as JSON.") from None
    scans = data.get("scans") if isinstance(data, dict) else None
    if not isinstance(scans, list):
        raise InvalidRequest('Send {"scans": [...]}.')
    if len(scans) > services.SYNC_BATCH_MAX:
        raise InvalidRequest(f"At most {services.SYNC_BATCH_MAX} scans per sync; send the rest in another.")
    queued = []
    for scan in scans:
        code = scan.get("code") if isinstance(scan, dict) else None
        gate = scan.get("gate") if isinstance(scan, dict) else None
        at = scan.get("scanned_at") if isinstance(scan, dict) else None
        if not isinstance(code, str) or not code or len(code) > SCAN_CODE_MAX or not isinstance(gate, str):
            raise InvalidRequest("Each scan needs its code and its gate.")
        if at is not None and (isinstance(at, bool) or not isinstance(at, int) or not 0 < at < SCAN_TIME_MAX_MS):
            raise InvalidRequest("A scan's time is milliseconds since the epoch.")
        scanned_at = datetime.fromtimestamp(at / 1000, tz=UTC) if at is not None else None
        queued.append(services.QueuedScan(code=code, gate=gate.strip()[:40] or "Gate 1", scanned_at=scanned_at))
    return queued


@require_POST
@door_staff_only
def door_sync(request, slug: str):
    """A gate back online sends the check-ins it queued (CSRF-protected like any POST): each is
    applied exactly once (services.sync_check_ins) and answered admitted, duplicate (in before:
    when, at which gate) or not valid, in the order sent."""
    event = _event_or_404(slug)
    try:
        answers = services.sync_check_ins(event=event, scans=_queued_scans(request.body))
    except InvalidRequest as error:
        return _no_store(error_response(request, error, as_json=True))
    return _no_store(
        JsonResponse(
            {
                "results": [
                    {"code": a.scan.code, "sync": a.outcome, **_check_in_json(a.check_in, event)} for a in answers
                ]
            }
        )
    )
