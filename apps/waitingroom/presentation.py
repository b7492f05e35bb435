"""What a waiting visitor is shown: the page's state, when to poll next, the ETA and the
progress bar, from one status read (queue.RawStatus). Pure: no Redis, no database; the rules
of the line itself (who gets in, when) are the scripts' and services.py's."""

import math
import random
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

from apps.booking.selectors import OnItsClock, on_another_day
from apps.booking.templatetags.booking_tags import event_clock, event_time
from apps.waitingroom import prequeue
from apps.waitingroom.contract import DEFAULT_GRACE_S, YES, InventoryState, RoomMode, StatusState, Where
from apps.waitingroom.queue import RawStatus

# Polling cadence (ms, before jitter). Far back in a long line, poll rarely: 5,000 people
# polling every 15 s alone are ~330 req/s, most of a small server.
MAX_POLL_MS = 45_000
MIN_POLL_MS = 2_000
POLL_CLOSED_MS = 60_000
POLL_SOLD_OUT_MS = 30_000  # holds may come back: look again now and then
POLL_PAUSED_MS = 10_000
POLL_NO_PLACE_MS = 5_000  # the next poll joins
POLL_EARLY_MAX_MS = 15_000  # before the opening: more often as it nears (a quarter of the time left)


@dataclass
class Status:
    state: StatusState
    position: int | None
    ahead: int | None
    eta_seconds: int | None
    poll_after_ms: int
    waiting: int
    admitted_per_minute: int
    progress: float
    prequeue: bool = False
    opens_in_seconds: int | None = None
    opens_at_ms: int | None = None  # the sale's opening (epoch ms), before it
    opening: str = ""  # "Opens at 10:00 IST" on the venue's clock ("" when the mirror lacks the zone)
    seed_hash: str = ""
    seed: str = ""
    place_code: str = ""  # the public code of the visitor's place (prequeue.ticket): not a seat ticket
    may_reopen: bool = False
    arrival: int | None = None  # where the visitor stands in the arrival order (what fairness is judged by)
    admitted_at: int | None = None  # epoch ms of admission, when admitted

    def as_json(self) -> dict:
        return dict(self.__dict__)


def opening(event: OnItsClock, opens_ms: int, at_ms: int) -> str:
    """The opening on the venue's clock: "Opens at 10:00 IST" that day, else with its date."""
    opens_at, now = _moment(opens_ms), _moment(at_ms)
    if on_another_day(event, opens_at, now):
        return f"Opens {event_time(opens_at, event)}"
    return f"Opens at {event_clock(opens_at, event)}"


def until_opening(seconds: int) -> str:
    """Time left as people say it: "in 18 min 47 s", "in 2 h 5 min", "in 3 d 4 h", then "opening
    now" (static/js/queue.js ticks the same words every second)."""
    seconds = max(0, int(seconds))
    if not seconds:
        return "opening now"
    return f"in {_duration(seconds)}"


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@dataclass(frozen=True)
class VenueClock:
    """An event's zone as the room's mirror has it (cfg `tz`), telling the time like Event.local:
    the event_time / event_clock filters take one in place of the event."""

    name: str

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(zoneinfo.ZoneInfo(self.name))


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def jitter(ms: float) -> int:
    """Spread the polls so that a page opened by 10,000 people at once does not poll in step."""
    return int(ms * random.uniform(0.75, 1.25))


def status_from(raw: RawStatus, *, visitor_id: str, at_ms: int) -> Status:
    """The page's view of one status read."""
    cfg, inv = raw.cfg, raw.state.get("inv", InventoryState.OK)
    rate = int(cfg.get("rate", 0) or 0)
    measured = raw.admitted_last_minute
    opens_ms = int(cfg.get("opens_ms", 0) or 0)
    before_opening = at_ms < opens_ms
    common = {
        "waiting": raw.line + raw.early,
        "admitted_per_minute": measured,
        "seed_hash": cfg.get("seed_hash", ""),
        "place_code": prequeue.ticket(visitor_id),
        "arrival": raw.arrival or None,
    }
    if raw.seed:
        common["seed"] = raw.seed

    def status(state: StatusState, poll_ms: float, **extra) -> Status:
        fields = {"position": None, "ahead": None, "eta_seconds": None, "progress": 0.0, **common, **extra}
        return Status(state=state, poll_after_ms=jitter(poll_ms) if poll_ms else 0, **fields)

    if raw.where == Where.UNKNOWN or "mode" not in cfg:
        # The room's settings are not in Redis (services.poll_status is restoring them): wait,
        # never "open" (a missing mode once sent the whole line to the seat map).
        return status(StatusState.WAITING, MIN_POLL_MS)
    mode = cfg["mode"]
    if mode == RoomMode.OFF or (mode == RoomMode.AT_SALE_OPEN and before_opening):
        return status(StatusState.OPEN, 0)
    if raw.where == Where.INSIDE:
        return status(StatusState.ADMITTED, 0, progress=1.0, admitted_at=raw.admitted_at or None)
    if cfg.get("closed") == YES:
        return status(StatusState.CLOSED, POLL_CLOSED_MS)
    if inv in (InventoryState.SOLD_OUT, InventoryState.FINAL):
        return status(StatusState.SOLD_OUT, POLL_SOLD_OUT_MS, may_reopen=inv == InventoryState.SOLD_OUT)
    if raw.where == Where.EARLY:
        opens_in = max(0, math.ceil((opens_ms - at_ms) / 1000))
        poll_ms: float = min(POLL_EARLY_MAX_MS, max(MIN_POLL_MS, opens_in * 250))
        tz = cfg.get("tz", "")
        label = opening(VenueClock(tz), opens_ms, at_ms) if tz else ""
        return status(
            StatusState.WAITING,
            poll_ms,
            prequeue=True,
            opens_in_seconds=opens_in,
            opens_at_ms=opens_ms,
            opening=label,
        )
    if raw.where != Where.LINE:
        return status(StatusState.WAITING, POLL_NO_PLACE_MS)
    ahead = raw.position - 1
    per_second = (measured or rate) / 60
    eta = math.ceil(ahead / per_second) if per_second > 0 else None
    # Share of the way done since joining; the last step (getting in) completes it.
    progress = (raw.ahead_at_join - ahead) / (raw.ahead_at_join + 1)
    fields = {"position": raw.position, "ahead": ahead, "eta_seconds": eta, "progress": round(max(0.0, progress), 3)}
    if cfg.get("paused") == YES:
        return status(StatusState.PAUSED, POLL_PAUSED_MS, **{**fields, "eta_seconds": None})
    # Polls stay well inside the no-show grace period, and come more often as the turn nears.
    grace_ms = int(cfg.get("grace_s", DEFAULT_GRACE_S) or DEFAULT_GRACE_S) * 1000
    poll_ms = min(MAX_POLL_MS, grace_ms / 3, max(MIN_POLL_MS, (eta or 0) * 1000 / 4))
    return status(StatusState.WAITING, poll_ms, **fields)
