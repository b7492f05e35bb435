"""The waiting room in Redis: sorted sets and Lua scripts.

Every key of an event carries its hash tag (`wr:{<event_id>}:...`, see contract.RoomKeys, which
lists them), so each script touches one Redis Cluster slot. Scripts live in lua/*.lua, are
composed and registered once per process and run by SHA (redis-py's Script does EVALSHA and
loads the script when Redis lost it). Times are epoch milliseconds passed in by the caller,
which lets tests drive a virtual clock.

Outside the events' tags (lookups done before the event is known), each key is its own tag,
so they spread over the slots: wr:slug:{<slug>} -> E, wr:intent:{<uuid>} -> "E|visitor".
docs/scale-out.md has the whole layout.
"""

import functools
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import redis as redis_lib
from django.conf import settings
from django_redis import get_redis_connection
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from apps.core import ratelimit
from apps.waitingroom.contract import LUA_CONSTANTS, LUA_ENUMS, NO, YES, AdmitReason, RoomKeys, Verdict, Where, flag

MAX_SCAN = 500  # no-shows one admit call may skip over, so a call stays short


def client():
    """The waiting room's Redis: a Redis Cluster when REDIS_CLUSTER_NODES names its nodes, else the
    cache's own Redis. The cache stays on a standalone server either way (docs/scale-out.md)."""
    nodes = settings.REDIS_CLUSTER_NODES
    return _cluster(tuple(nodes)) if nodes else get_redis_connection("default")


@functools.cache
def _cluster(nodes: tuple[str, ...]) -> RedisCluster:
    """One client per process and node list. It learns the slot map from any node that answers,
    follows MOVED/ASK, and finds a promoted replica after a master dies; the room's scripts each
    touch one slot (one event's hash tag), so each runs on one shard."""
    startup = [ClusterNode(host, int(port)) for host, port in (node.rsplit(":", 1) for node in nodes)]
    return RedisCluster(
        startup_nodes=startup,
        socket_timeout=settings.REDIS_CLUSTER_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_CLUSTER_SOCKET_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), settings.REDIS_CLUSTER_RETRIES),
    )


def slug_key(slug: str) -> str:
    return f"wr:slug:{{{slug}}}"


def intent_key(intent_id: str) -> str:
    return f"wr:intent:{{{intent_id}}}"


# --- Lua ------------------------------------------------------------------------------

LUA_DIR = Path(__file__).with_name("lua")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_COMMENT = re.compile(r"--[^\n]*")


def _lua_value(value) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        raise TypeError("flags are strings in Redis: use contract.flag")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "{" + ", ".join(_lua_value(v) for v in value) + "}"
    if not re.fullmatch(r"\w+", value):
        raise ValueError(f"{value!r} is not a plain word")
    return f"'{value}'"


def _header_locals(keys: tuple[str, ...]) -> dict[str, str]:
    """Every name the contract gives the scripts, with its Lua value."""
    names = {name: _lua_value(value) for name, value in LUA_CONSTANTS.items()}
    for prefix, enum in LUA_ENUMS.items():
        names.update({f"{prefix}_{member.name}": _lua_value(member) for member in enum})
    names.update({name: _lua_value(getattr(RoomKeys, name)) for name in RoomKeys.LUA_FIELDS})
    names.update({f"{name}_key": f"KEYS[{i}]" for i, name in enumerate(keys, start=1)})
    return names


def _lib_path(lib: str) -> Path:
    """A shared function's file: the waiting room's own (lua/lib/), or the token bucket, which
    apps.core.ratelimit owns (the one limiter of the project)."""
    return ratelimit.TAKE_TOKENS_LUA if lib == "take_tokens" else LUA_DIR / "lib" / f"{lib}.lua"


def lua_source(script: str, libs: tuple[str, ...] = (), keys: tuple[str, ...] = ()) -> str:
    """One script's text: a generated header, the shared functions it uses, then the script.

    Redis runs each script alone (EVAL cannot `require` another file), so the shared functions
    (lua/lib/*.lua: admit, join_line, ...; the token bucket from apps/core/lua, apps.core.ratelimit) are concatenated in front of the script
    that calls them; Redis Functions would share them but must be loaded on every server before
    the first call and have no load-on-miss like EVALSHA's. The header declares, as locals, the
    contract's values (contract.py: states, numbers, HMGET field lists) and the KEYS in the
    order given (`cfg_key = KEYS[1]`, ... after RoomKeys.QUEUE and the like): only those the
    script's code names, so a script carries no unused table. Line numbers in a Lua error count
    from the top of this text (`SCRIPTS.<name>.script`)."""
    parts = [_lib_path(lib).read_text() for lib in libs]
    parts.append((LUA_DIR / f"{script}.lua").read_text())
    body = "\n".join(parts)
    used = set(_IDENTIFIER.findall(_COMMENT.sub("", body)))
    header = [f"local {name} = {value}" for name, value in _header_locals(keys).items() if name in used]
    return "\n".join(["-- generated from apps/waitingroom/contract.py", *header, "", body])


class _Scripts:
    """Script objects made once per process; each call names the client to run on."""

    def __init__(self):
        base = redis_lib.Redis()  # never connects: only computes the SHA

        def load(script: str, libs: tuple[str, ...] = (), keys: tuple[str, ...] = ()):
            return base.register_script(lua_source(script, libs, keys))

        self.admit = load("admit", ("util", "admit"), RoomKeys.QUEUE)
        self.join = load("join", ("util", "join_line"), RoomKeys.QUEUE)
        self.status = load("status", ("util", "admit", "join_line", "take_tokens"), RoomKeys.STATUS_JOINING)
        self.open = load("open", (), RoomKeys.QUEUE)
        self.leave = load("leave", (), RoomKeys.QUEUE)
        self.gate = load("gate", ("util",), RoomKeys.GATE)


SCRIPTS = _Scripts()


def as_text(value) -> str:
    """A Redis reply (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


# --- Operations -------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmitResult:
    admitted: list[str]
    reclaimed: int
    skipped: int
    inside: int
    reason: AdmitReason


def admit(conn, event_id: int, now_ms: int, max_scan: int = MAX_SCAN) -> AdmitResult:
    count, reclaimed, skipped, inside, out, reason = SCRIPTS.admit(
        keys=RoomKeys.of(event_id).queue_keys, args=[now_ms, max_scan], client=conn
    )
    return AdmitResult(
        [as_text(v) for v in out], int(reclaimed), int(skipped), int(inside), AdmitReason(as_text(reason))
    )


@dataclass(frozen=True)
class JoinResult:
    where: Where
    position: int
    ahead_at_join: int


def join(conn, event_id: int, visitor: str, now_ms: int, allow_new: bool = True) -> JoinResult:
    args = [visitor, now_ms, flag(allow_new)]
    where, position, first = SCRIPTS.join(keys=RoomKeys.of(event_id).queue_keys, args=args, client=conn)
    return JoinResult(Where(as_text(where)), int(position), int(first))


@dataclass(frozen=True)
class RawStatus:
    """The status script's reply, field for field (the script names them)."""

    where: Where
    position: int = 0
    ahead_at_join: int = 0
    line: int = 0
    early: int = 0
    admitted_last_minute: int = 0
    inside: int = 0
    cfg: dict = field(default_factory=dict)  # RoomKeys.STATUS_CFG, those set
    state: dict = field(default_factory=dict)  # RoomKeys.STATUS_STATE, those set
    arrival: int = 0  # line score: shuffled early arrivals 1..n, then LATE_OFFSET + arrival sequence
    admitted_at: int = 0  # epoch ms of admission (kept ADMITTED_KEEP_MS)
    retry_after_ms: int = 0  # where == LIMITED: when joining may be tried again
    seed: str = ""  # the pre-queue seed, once it is public (after the opening's shuffle)


@dataclass(frozen=True)
class JoinLimits:
    """The join token buckets: per client address and per visitor (tokens per minute, burst)."""

    ip: str
    per_ip: tuple[int, int]
    per_visitor: tuple[int, int]


def status(
    conn,
    event_id: int,
    visitor: str,
    now_ms: int,
    max_scan: int = MAX_SCAN,
    join: JoinLimits | None = None,
) -> RawStatus:
    """One round trip: heartbeat, admit (single flight), and with `join` a place for a
    newcomer (within the join limits: where == LIMITED and retry_after_ms say when not)."""
    keys = RoomKeys.of(event_id)
    if join is None:
        reply = SCRIPTS.status(keys=keys.status_keys, args=[visitor, now_ms, max_scan, NO], client=conn)
    else:
        reply = SCRIPTS.status(
            keys=keys.status_joining_keys(ip=join.ip, visitor=visitor),
            args=[visitor, now_ms, max_scan, YES, *join.per_ip, *join.per_visitor, join.ip],
            client=conn,
        )
    fields = json.loads(reply)
    return RawStatus(**{**fields, "where": Where(fields["where"])})


def open_prequeue(conn, event_id: int, ordered_visitors: list[str]) -> int:
    return int(SCRIPTS.open(keys=RoomKeys.of(event_id).queue_keys, args=ordered_visitors, client=conn))


def leave(conn, event_id: int, visitors: list[str]) -> int:
    if not visitors:
        return 0
    return int(SCRIPTS.leave(keys=RoomKeys.of(event_id).queue_keys, args=visitors, client=conn))


def gate(conn, event_id: int, visitor: str, now_ms: int) -> tuple[Verdict, str]:
    """(verdict, the room's mode: a RoomMode value, '' when unknown). One round trip."""
    verdict, mode = SCRIPTS.gate(keys=RoomKeys.of(event_id).gate_keys, args=[visitor, now_ms], client=conn)
    return Verdict(as_text(verdict)), as_text(mode)
