"""The gate in front of the booking pages (the seat map's availability and its form, the hold,
checkout) of events whose room is on.

Cost model: a request to any other URL pays two `str.startswith`. A gated request pays the
token's HMAC check (no I/O) and one Redis round trip (the GATE script reads the room's mode
and checks and renews the live lease). It never queries the database: the event behind a
slug and behind a checkout's intent id come from Redis lookups cached in this process
(both mappings never change), staff status from the signed-cookie session.

Unknown means closed: an event page whose slug or room settings are missing from Redis (never
mirrored, or lost when Redis restarted empty) sends the visitor to the waiting page, whose
status poll restores the settings from the database (the gate never reads it).

Checkout URLs carry an intent id, not a slug. When a hold is made (the booking core's
`intent_held`, see receivers.py), `wr:intent:{<id>} -> "<event>|<visitor>"` is recorded: the owner reaches that checkout (payment pages
included) for as long as the hold lasts and after, without needing a lease; anyone else
needs an admission to that event, and then meets the booking core's owner check (404). An
intent without a record (made by ops or a script) is not gated. The payment's verify call and
the order's status are never gated (UNGATED_CHECKOUT): the money may be taken by then (a late bank's
page polls the status to reach its ticket), and the views check the owner (and the signature).

Every request on these URLs, staff's included, carries `request.visitor_id`: the visitor id from
the signed `wr_vid` cookie, minted when missing or not genuine. The booking core takes it as the
owner of the holds made with it. The one exception is the seat page's shell (`seatmap.is_shell`),
which passes untouched so that every visitor can share one cached copy.
"""

import logging
import re
import time
from urllib.parse import quote

from django.conf import settings
from django.http import HttpResponseRedirect
from django.urls import reverse
from redis.exceptions import RedisError

from apps.booking import seatmap
from apps.core import metrics
from apps.core.clock import now_ms
from apps.core.errors import ApplicationError
from apps.core.http import client_ip, error_response, service_unavailable, wants_json
from apps.waitingroom import queue, services, tokens
from apps.waitingroom.contract import RoomKeys, RoomMode, Verdict
from apps.waitingroom.errors import InWaitingRoom, RateLimited

logger = logging.getLogger(__name__)

# Everything under seats/ is gated: the availability documents (which seats are free is what
# admission grants) and the seat page without JavaScript (`seats/?section=`). Not gated: the event's
# layout (/events/<slug>/layout.json), and the seat page's shell (`seatmap.is_shell`).
EVENT_PATH = re.compile(r"^/events/(?P<slug>[-\w]+)/(?P<page>seats|hold)/")
CHECKOUT_PATH = re.compile(r"^/checkout/(?P<intent>[0-9a-fA-F-]{36})/(?P<rest>.*)$")
# Checkout URLs that never wait on the room (nor on its Redis): the payment's verify call comes
# after the money is taken, and is proven by Razorpay's signature and the view's owner check.
UNGATED_CHECKOUT = ("pay/verify/", "pay/status/")
LOOKUP_TTL = 60.0  # a slug's event id never changes; a new event's slug is resolved within this
LAST_KNOWN_TTL = 300.0


class WaitingRoomGate:
    def __init__(self, get_response):
        self.get_response = get_response
        self.slugs: dict[str, tuple[int, float]] = {}
        self.intents: dict[str, tuple[int, str]] = {}
        self.last_mode: dict[int, tuple[str, float]] = {}

    def __call__(self, request):
        path = request.path_info
        if not (path.startswith("/events/") or path.startswith("/checkout/")):
            return self.get_response(request)
        event_match = EVENT_PATH.match(path)
        checkout_match = None if event_match else CHECKOUT_PATH.match(path)
        if (event_match is None and checkout_match is None) or seatmap.is_shell(request):
            return self.get_response(request)
        # Every browser on these URLs has a visitor id, staff too and whether the room is on or off:
        # it is who owns a hold (the booking core lets only the owner reach a hold's URLs).
        visitor, new_visitor = tokens.visitor_from(request)
        request.visitor_id = visitor
        if self._is_staff(request) or (checkout_match is not None and checkout_match["rest"] in UNGATED_CHECKOUT):
            # Staff pass the line, not the owner check; a paid buyer's verify call is never held
            # back (nor failed by a Redis outage): the view checks the owner and the signature.
            response = self.get_response(request)
        else:
            try:
                if event_match:
                    response = self._event_page(request, event_match["slug"], event_match["page"], visitor)
                else:
                    assert checkout_match is not None  # one of the two matched (see above)
                    response = self._checkout(request, checkout_match["intent"].lower(), visitor)
            except RedisError as error:
                logger.warning("waiting room gate: Redis unavailable on %s: %s", path, error)
                response = self._redis_down(request, event_match)
        if new_visitor:
            tokens.set_visitor_cookie(response, visitor)
        return response

    # --- the two kinds of gated URL ---------------------------------------------------

    def _event_page(self, request, slug: str, page: str, visitor: str):
        event_id = self._event_id(slug)
        if event_id is None:
            # Not in Redis: no such event, or the mirror is lost. Fail closed: the waiting page
            # answers 404 for no event, else restores the mirror (selectors.room_event).
            return self._to_queue(request, slug)
        verdict, expires = self._check(request, event_id, visitor)
        if verdict == Verdict.GATED:
            return self._to_queue(request, slug)
        if page == "hold" and request.method == "POST":
            if verdict == Verdict.PASS:
                try:
                    services.check_limit(kind="hold", event_id=event_id, visitor_id=visitor, ip=client_ip(request))
                except RateLimited as error:
                    return error_response(request, error)
        # A hold made here is recorded for the gate by the receiver of the core's `intent_held`.
        response = self.get_response(request)
        self._renew(response, event_id, visitor, expires)
        return response

    def _checkout(self, request, intent_id: str, visitor: str):
        owner = self._intent_owner(intent_id)
        if owner is None or owner[1] == visitor:
            return self.get_response(request)  # not made through the gate, or the holder
        event_id = owner[0]
        verdict, expires = self._check(request, event_id, visitor)
        if verdict == Verdict.GATED:
            slug = queue.client().hget(RoomKeys.of(event_id).cfg, "slug")
            if slug is None:  # the room's settings are lost: closed until a poll restores them
                return service_unavailable(request, "waiting room", settings.WAITING_ROOM_RETRY_AFTER)
            return self._to_queue(request, slug.decode())
        response = self.get_response(request)
        self._renew(response, event_id, visitor, expires)
        return response

    # --- helpers ----------------------------------------------------------------------

    def _check(self, request, event_id: int, visitor: str) -> tuple[Verdict, int | None]:
        """(Verdict OPEN, PASS or GATED; token expiry). One Redis round trip."""
        expires = tokens.verify(
            request.COOKIES.get(tokens.cookie_name(event_id), ""), event_id=event_id, visitor_id=visitor
        )
        verdict, mode = queue.gate(queue.client(), event_id, visitor if expires else "", now_ms())
        if mode:
            self.last_mode[event_id] = (mode, time.monotonic())
        if verdict == Verdict.UNKNOWN:
            # The room's settings are not in Redis (lost with its data): fail closed. The waiting
            # page's status poll restores them from the database (services.restore_room).
            verdict = Verdict.GATED
        return verdict, expires

    def _event_id(self, slug: str) -> int | None:
        cached = self.slugs.get(slug)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        raw = queue.client().get(queue.slug_key(slug))
        if raw is None:
            return None
        if len(self.slugs) > 10_000:
            self.slugs.clear()
        self.slugs[slug] = (int(raw), now + LOOKUP_TTL)
        return int(raw)

    def _intent_owner(self, intent_id: str) -> tuple[int, str] | None:
        cached = self.intents.get(intent_id)
        if cached:
            return cached
        raw = queue.client().get(queue.intent_key(intent_id))
        if raw is None:
            return None
        event_id, _, owner = raw.decode().partition("|")
        if len(self.intents) > 50_000:
            self.intents.clear()
        self.intents[intent_id] = (int(event_id), owner)
        return self.intents[intent_id]

    def _is_staff(self, request) -> bool:
        session = getattr(request, "session", None)
        if session is None or "_auth_user_id" not in session:
            return False
        flag = session.get("wr_staff")
        if flag is not None:
            return bool(flag)
        user = getattr(request, "user", None)  # logged in before the flag existed: one query
        return bool(user is not None and user.is_staff)

    def _to_queue(self, request, slug: str):
        queue_url = reverse("waitingroom:queue", args=[slug])
        if wants_json(request):
            return error_response(request, InWaitingRoom(queue_url, settings.WAITING_ROOM_RETRY_AFTER))
        target = request.get_full_path() if request.method == "GET" else reverse("booking:seat_map", args=[slug])
        return HttpResponseRedirect(f"{queue_url}?next={quote(target)}")

    def _renew(self, response, event_id: int, visitor: str, expires: int | None) -> None:
        if expires and tokens.needs_renewal(expires):
            token, _ = tokens.issue(event_id=event_id, visitor_id=visitor)
            tokens.set_cookie(response, event_id=event_id, token=token)

    def _redis_down(self, request, event_match):
        """The database stays protected: without Redis the gate cannot tell who is admitted,
        so gated URLs get a 503, unless the room is known to be off (last answer seen by this
        process, else the default mode of new events)."""
        mode = settings.WAITING_ROOM_DEFAULT_MODE
        if event_match is not None:
            cached = self.slugs.get(event_match["slug"])
            known = self.last_mode.get(cached[0]) if cached else None
            if known and time.monotonic() - known[1] < LAST_KNOWN_TTL:
                mode = known[0]
        if mode == RoomMode.OFF:
            return self.get_response(request)
        return service_unavailable(request, "waiting room", settings.WAITING_ROOM_RETRY_AFTER)


LOBBY_PATH = re.compile(r"^/queue/(?P<slug>[-\w]+)/(?P<what>status)?$")


class LobbyShortcut:
    """Answers the line's two hottest URLs right after SecurityMiddleware: the waiting page
    (pre-built bytes) and its status poll (one Redis round trip; for a newcomer, the join).

    During a drop every arrival and every waiting visitor lands here; neither uses a session,
    user, CSRF or message, so they skip those (and URL resolution). Anything else passes on.
    Being ahead of the mapper middleware, it hands an application error to the same
    `error_response` itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/queue/") and request.method in ("GET", "HEAD"):
            match = LOBBY_PATH.match(request.path_info)
            if match:
                from apps.waitingroom.views import status_response, waiting_page

                try:
                    if match["what"]:
                        with metrics.timed("status_poll"):
                            return status_response(request, match["slug"])
                    return waiting_page(request, match["slug"])
                except ApplicationError as error:
                    return error_response(request, error)
        return self.get_response(request)
