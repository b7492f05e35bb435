"""The waiting room's contract: every name and number that Python and the Lua scripts share.

The states (room modes, inventory states, a visitor's place, the page's state, the gate's
verdict, why an admit did nothing), the numbers both sides use, and the Redis keys of an event
with the hash fields the scripts read. Python compares against these enums; the Lua scripts
get the same values in a header the loader generates (queue.lua_source), so each state, number,
key order and field list is written once, here. Pure: no Redis, no Django app registry.
"""

from enum import Enum, StrEnum

from django.db import models

# --- States ------------------------------------------------------------------------------


class RoomMode(models.TextChoices):
    """When the room holds visitors back (the model's choices: the admin shows the labels)."""

    OFF = "off", "Off"
    ALWAYS = "always", "Always on"
    AT_SALE_OPEN = "at_sale_open", "On from the sale opening"


class InventoryState(StrEnum):
    """Whether seats are left, as the line sees it (state hash, field `inv`)."""

    OK = "ok"
    SOLD_OUT = "sold_out"  # none free, but live holds may come back
    FINAL = "final"  # all gone: nothing free and nothing that could come back; the line closes


class Where(StrEnum):
    """Where a visitor stands, as the join and status scripts report it."""

    INSIDE = "inside"
    LINE = "line"
    EARLY = "early"  # arrived before the sale opens: in the pre-queue
    OFF = "off"  # the room is off
    ABSENT = "absent"  # no place (never had one, or lost it past the grace period)
    CLOSED = "closed"
    SOLD_OUT = "sold_out"
    LIMITED = "limited"  # a newcomer refused by the join limits (status only)
    UNKNOWN = "unknown"  # the room's settings are not in Redis (lost with its data): nobody joins or passes


class StatusState(StrEnum):
    """What the waiting page shows (the status JSON's `state`; static/js/queue.js reads it)."""

    WAITING = "waiting"
    ADMITTED = "admitted"
    PAUSED = "paused"
    SOLD_OUT = "sold_out"
    CLOSED = "closed"
    OPEN = "open"  # no waiting needed: the room is off or not on yet


class Verdict(StrEnum):
    """The gate's answer for one request."""

    OPEN = "open"  # the room is off or not on yet
    PASS = "pass"  # noqa: S105 (a verdict, not a password): a live lease
    GATED = "gated"
    UNKNOWN = "unknown"  # the room's settings are not in Redis (never mirrored, or lost): gated


class AdmitReason(StrEnum):
    """Why an admit call let nobody in (OK: it ran)."""

    OK = "ok"
    OFF = "off"
    PAUSED = "paused"
    CLOSED = "closed"
    SOLD_OUT = "sold_out"
    NOT_OPEN = "not_open"
    UNSHUFFLED = "unshuffled"  # the pre-queue's opening shuffle has not run yet
    UNKNOWN = "unknown"  # the room's settings are not in Redis: nobody is let in until they are restored


# --- Numbers -----------------------------------------------------------------------------

YES, NO = "1", "0"  # a flag in a hash (paused, closed, shuffled) and a flag argument of a script
LATE_OFFSET = 10**12  # line score of arrivals after the opening: behind every shuffled early arrival
ADMITTED_KEEP_MS = 15 * 60 * 1000  # admissions kept this long: a slow poll still learns its admission time
RATE_WINDOW_MS = 60_000  # the admission rate counts the admissions of the last minute
ADMIT_LOCK_MS = 1_000  # an event's admit runs at most once per this (single flight)
RESTORE_LOCK_MS = 2_000  # a lost mirror is restored from the database at most once per this per event
DEFAULT_SESSION_S = 600  # fallbacks for a cfg hash missing a field (the mirror always writes them)
DEFAULT_GRACE_S = 120


def flag(value: bool) -> str:
    return YES if value else NO


LUA_CONSTANTS = {
    "YES": YES,
    "LATE_OFFSET": LATE_OFFSET,
    "ADMITTED_KEEP_MS": ADMITTED_KEEP_MS,
    "RATE_WINDOW_MS": RATE_WINDOW_MS,
    "ADMIT_LOCK_MS": ADMIT_LOCK_MS,
    "DEFAULT_SESSION_S": DEFAULT_SESSION_S,
    "DEFAULT_GRACE_S": DEFAULT_GRACE_S,
}
# Each enum reaches Lua as one local per member: MODE_OFF, INV_FINAL, WHERE_LINE, ...
LUA_ENUMS: dict[str, type[Enum]] = {
    "MODE": RoomMode,
    "INV": InventoryState,
    "WHERE": Where,
    "VERDICT": Verdict,
    "REASON": AdmitReason,
}


# --- Keys and fields ---------------------------------------------------------------------


class RoomKeys:
    """The Redis keys of one event's room, each an attribute (`RoomKeys(42).line` is
    `wr:{42}:line`: the hash tag keeps one event in one Redis Cluster slot), and the order in
    which the scripts take them as KEYS (the loader names KEYS[i] after these orders).

    Use `RoomKeys.of(event_id)`: one instance per event and process, so a hot call builds no
    key string (the keys of an event never change)."""

    cfg: str  # hash: mirror of WaitingRoomConfig + event facts (CFG_FIELDS; the gate's only read)
    state: str  # hash: runtime facts (STATE_FIELDS)
    line: str  # zset: visitor -> order (shuffled early arrivals 1..n, then LATE_OFFSET + arrival seq)
    early: str  # zset: visitor -> arrival seq, for arrivals before the sale opens
    seen: str  # zset: visitor -> last poll (no-show detection)
    first: str  # hash: visitor -> how many were ahead when they joined (progress bar)
    inside: str  # zset: visitor -> lease expiry
    admitted: str  # zset: visitor -> admission time, kept ADMITTED_KEEP_MS (rate; fairness audit)
    admissions: str  # string: how many were ever let in (INCRBY in admit; ops read rates off its steps)
    seq: str  # string: arrival counter
    lock: str  # string: admit single flight (SET NX PX ADMIT_LOCK_MS)
    restoring: str  # string: restore single flight (SET NX PX RESTORE_LOCK_MS; services.restore_room)
    seed: str  # string: secret pre-queue seed (its SHA-256 is published before the opening)
    who: str  # hash: visitor -> client address the place was given to (the join audit)
    audit: str  # string: the pre-queue opening's arrivals and order (JSON)

    # KEYS of the queue scripts (admit, join, open, leave), in this order.
    QUEUE = ("cfg", "state", "line", "early", "seen", "first", "inside", "admitted", "seq", "lock", "admissions")
    # KEYS of the status script: the queue's and the seed; a poll that may join adds JOINING.
    STATUS = (*QUEUE, "seed")
    JOINING = ("join_ip", "join_visitor", "who")  # join_ip/join_visitor: the join token buckets
    STATUS_JOINING = (*STATUS, *JOINING)
    GATE = ("cfg", "inside")
    # Waiting visitors' keys (a flush empties the line; those inside stay).
    WAITING = ("line", "early", "seen", "first")

    # Hash fields: all those of cfg (services.mirror_config writes them) and of state, then the
    # ones each script reads (HMGET, read by name in Lua; status returns its reads by name too).
    CFG_FIELDS = (
        "mode",
        "capacity",
        "rate",
        "session_s",
        "grace_s",
        "paused",
        "closed",
        "opens_ms",
        "slug",
        "name",
        "seed_hash",
        "tz",  # the event's IANA time zone: the waiting page names the opening on the venue's clock
    )
    STATE_FIELDS = ("inv", "shuffled", "tokens", "tokens_ts")  # tokens*: the admission bucket (Lua's own)
    ADMIT_CFG = ("mode", "capacity", "rate", "session_s", "grace_s", "paused", "closed", "opens_ms")
    ADMIT_STATE = ("inv", "shuffled", "tokens", "tokens_ts")
    JOIN_CFG = ("mode", "grace_s", "opens_ms", "closed")
    STATUS_CFG = ("mode", "rate", "opens_ms", "closed", "paused", "seed_hash", "grace_s", "tz")
    STATUS_STATE = ("inv", "shuffled")
    GATE_CFG = ("mode", "opens_ms", "session_s")
    LUA_FIELDS = ("ADMIT_CFG", "ADMIT_STATE", "JOIN_CFG", "STATUS_CFG", "STATUS_STATE", "GATE_CFG")

    def __init__(self, event_id: int):
        self.prefix = f"wr:{{{event_id}}}:"
        for name in RoomKeys.__annotations__:  # the key names above
            setattr(self, name, self.prefix + name)
        self.queue_keys = self.keys(self.QUEUE)
        self.status_keys = self.keys(self.STATUS)
        self.gate_keys = self.keys(self.GATE)

    @staticmethod
    def of(event_id: int) -> "RoomKeys":
        keys = _ROOMS.get(event_id)
        if keys is None:
            if len(_ROOMS) > 10_000:
                _ROOMS.clear()
            keys = _ROOMS[event_id] = RoomKeys(event_id)
        return keys

    def bucket(self, kind: str, who: str, value: str) -> str:
        """A token bucket: kind join or hold, who ip or v (visitor)."""
        return f"{self.prefix}rl:{kind}:{who}:{value}"

    def keys(self, order: tuple[str, ...], **given: str) -> tuple[str, ...]:
        """KEYS in this order: the given ones (keys made per call, such as buckets), else the
        event's key of that name."""
        return tuple(given[name] if name in given else getattr(self, name) for name in order)

    def status_joining_keys(self, *, ip: str, visitor: str) -> tuple[str, ...]:
        """KEYS of a status poll that may join (STATUS_JOINING)."""
        joining = self.keys(
            self.JOINING, join_ip=self.bucket("join", "ip", ip), join_visitor=self.bucket("join", "v", visitor)
        )
        return self.status_keys + joining


_ROOMS: dict[int, RoomKeys] = {}
