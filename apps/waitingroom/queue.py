"""The waiting room in Redis: sorted sets and Lua scripts.

Every key of an event carries its hash tag (`wr:{<event_id>}:...`), so each script
touches one Redis Cluster slot. Scripts are registered once per process and run by
SHA (redis-py's Script does EVALSHA and loads the script when Redis lost it). Times
are epoch milliseconds passed in by the caller, which lets tests drive a virtual clock.

Keys of event E:
  cfg     hash   mirror of WaitingRoomConfig + event facts (the gate's only read)
  state   hash   runtime facts: inventory state, shuffle done, admission bucket
  line    zset   visitor -> order (shuffled early arrivals 1..n, then 1e12 + arrival seq)
  early   zset   visitor -> arrival seq, for arrivals before the sale opens
  seen    zset   visitor -> last poll (no-show detection)
  first   hash   visitor -> how many were ahead when they joined (progress bar)
  inside  zset   visitor -> lease expiry
  admitted zset  visitor -> admission time, last 15 min (rate: the last 60 s of it; fairness audit)
  seq     string arrival counter
  seed    string secret pre-queue seed (published as a SHA-256 before the opening)
  lock    string admit single-flight (SET NX PX)
  rl:*    hash   token buckets (join/hold per IP and per visitor)
  who     hash   visitor -> client address the place was given to (the join audit)
Outside the tags (lookups done before the event is known): wr:slug:<slug> -> E,
wr:intent:<uuid> -> "E|visitor".
"""

import json
from dataclasses import dataclass

import redis as redis_lib
from django_redis import get_redis_connection

LATE_OFFSET = 10**12  # line score of arrivals after the opening: behind every shuffled early arrival
MAX_SCAN = 500  # no-shows one admit call may skip over, so a call stays short


def client():
    return get_redis_connection("default")


def key(event_id: int, name: str) -> str:
    return f"wr:{{{event_id}}}:{name}"


def slug_key(slug: str) -> str:
    return f"wr:slug:{slug}"


def intent_key(intent_id: str) -> str:
    return f"wr:intent:{intent_id}"


def event_keys(event_id: int) -> list[str]:
    names = ["cfg", "state", "line", "early", "seen", "first", "inside", "admitted", "seq", "lock"]
    return [key(event_id, n) for n in names]


# --- Lua ------------------------------------------------------------------------------
# KEYS for the queue scripts, always in this order (see event_keys):
#  1 cfg 2 state 3 line 4 early 5 seen 6 first 7 inside 8 admitted 9 seq 10 lock

ADMITTED_KEEP_MS = 15 * 60 * 1000

_ADMIT_FN = (
    """
local function num(v, d) if v == false or v == nil then return d end return tonumber(v) end

-- Reclaim lapsed leases, then move the head of the line inside, within capacity and rate.
-- Returns {admitted count, reclaimed, skipped no-shows, inside after, {visitors}, reason}.
local function admit(now, max_scan)
  local reclaimed = redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
  local c = redis.call('HMGET', KEYS[1], 'mode', 'capacity', 'rate', 'session_s', 'grace_s', 'paused', 'closed', 'opens_ms')
  local s = redis.call('HMGET', KEYS[2], 'inv', 'shuffled', 'tokens', 'tokens_ts')
  local inside = redis.call('ZCARD', KEYS[7])
  if not c[1] or c[1] == 'off' then return {0, reclaimed, 0, inside, {}, 'off'} end
  if c[6] == '1' then return {0, reclaimed, 0, inside, {}, 'paused'} end
  if c[7] == '1' then return {0, reclaimed, 0, inside, {}, 'closed'} end
  if s[1] == 'sold_out' or s[1] == 'final' then return {0, reclaimed, 0, inside, {}, 'sold_out'} end
  if now < num(c[8], 0) then return {0, reclaimed, 0, inside, {}, 'not_open'} end
  if s[2] ~= '1' and redis.call('ZCARD', KEYS[4]) > 0 then return {0, reclaimed, 0, inside, {}, 'unshuffled'} end
  local capacity, rate = num(c[2], 0), num(c[3], 0)
  local session_ms, grace_ms = num(c[4], 600) * 1000, num(c[5], 120) * 1000
  -- Admissions are kept ADMITTED_KEEP_MS (a visitor learns its admission time even after a
  -- slow poll: the fairness audit); the rate window counts the last minute only.
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - """ + str(ADMITTED_KEEP_MS) + """)
  local window = rate - redis.call('ZCOUNT', KEYS[8], '(' .. (now - 60000), '+inf')
  local burst = math.max(1, rate / 20)
  local tokens = num(s[3], burst)
  local elapsed = math.max(0, now - num(s[4], now))
  tokens = math.min(burst, tokens + elapsed * rate / 60000)
  local n = math.min(capacity - inside, window, math.floor(tokens))
  local out, scanned, skipped = {}, 0, 0
  while #out < n and scanned < max_scan do
    local head = redis.call('ZPOPMIN', KEYS[3])
    if #head == 0 then break end
    scanned = scanned + 1
    local vid = head[1]
    local seen = redis.call('ZSCORE', KEYS[5], vid)
    redis.call('ZREM', KEYS[5], vid)
    redis.call('HDEL', KEYS[6], vid)
    if seen and tonumber(seen) >= now - grace_ms then
      redis.call('ZADD', KEYS[7], now + session_ms, vid)
      redis.call('ZADD', KEYS[8], now, vid)
      out[#out + 1] = vid
    else
      skipped = skipped + 1
    end
  end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - #out), 'tokens_ts', now)
  return {#out, reclaimed, skipped, inside + #out, out, 'ok'}
end
"""
)

ADMIT_LUA = (
    _ADMIT_FN
    + """
return admit(tonumber(ARGV[1]), tonumber(ARGV[2]))
"""
)

# Join: one place per visitor. A visitor with a fresh place keeps it (refresh, new tab,
# re-join); one whose last poll is older than the grace period lost it and starts again.
# ARGV: visitor, now, allow_new ('1' to create a place; else 'absent' says one is needed).
# Returns {where, position, ahead_at_join}, where in inside/line/early/closed/sold_out/off/absent.
_JOIN_FN = (
    """
local function join_line(vid, now, allow_new)
  local c = redis.call('HMGET', KEYS[1], 'mode', 'grace_s', 'opens_ms', 'closed')
  if not c[1] or c[1] == 'off' then return {'off', 0, 0} end
  local lease = redis.call('ZSCORE', KEYS[7], vid)
  if lease and tonumber(lease) > now then return {'inside', 0, 0} end
  if c[4] == '1' then return {'closed', 0, 0} end
  if redis.call('HGET', KEYS[2], 'inv') == 'final' then return {'sold_out', 0, 0} end
  local grace_ms = tonumber(c[2] or '120') * 1000
  local seen = redis.call('ZSCORE', KEYS[5], vid)
  if seen and tonumber(seen) >= now - grace_ms then
    if redis.call('ZSCORE', KEYS[4], vid) then
      redis.call('ZADD', KEYS[5], now, vid)
      return {'early', redis.call('ZRANK', KEYS[4], vid) + 1, 0}
    end
    local rank = redis.call('ZRANK', KEYS[3], vid)
    if rank then
      redis.call('ZADD', KEYS[5], now, vid)
      return {'line', rank + 1, tonumber(redis.call('HGET', KEYS[6], vid) or rank)}
    end
  end
  if not allow_new then return {'absent', 0, 0} end
  redis.call('ZREM', KEYS[3], vid)
  redis.call('ZREM', KEYS[4], vid)
  local seq = redis.call('INCR', KEYS[9])
  redis.call('ZADD', KEYS[5], now, vid)
  if now < tonumber(c[3] or '0') then
    redis.call('ZADD', KEYS[4], seq, vid)
    return {'early', redis.call('ZCARD', KEYS[4]), 0}
  end
  redis.call('ZADD', KEYS[3], """
    + str(LATE_OFFSET)
    + """ + seq, vid)
  local rank = redis.call('ZRANK', KEYS[3], vid)
  redis.call('HSET', KEYS[6], vid, rank)
  return {'line', rank + 1, rank}
end
"""
)

JOIN_LUA = (
    _JOIN_FN
    + """
return join_line(ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1')
"""
)

# Token buckets: take one token from every bucket or none. limits: per bucket, tokens per
# minute then burst. Returns 0, or the milliseconds to wait.
_BUCKET_FN = """
local function take_tokens(keys, now, limits)
  local levels, wait = {}, 0
  for i, k in ipairs(keys) do
    local rate, burst = tonumber(limits[2 * i - 1]) / 60000, tonumber(limits[2 * i])
    local b = redis.call('HMGET', k, 't', 'ts')
    local t = tonumber(b[1] or burst)
    t = math.min(burst, t + math.max(0, now - tonumber(b[2] or now)) * rate)
    levels[i] = t
    if t < 1 then wait = math.max(wait, math.ceil((1 - t) / rate)) end
  end
  if wait > 0 then return wait end
  for i, k in ipairs(keys) do
    local rate, burst = tonumber(limits[2 * i - 1]) / 60000, tonumber(limits[2 * i])
    redis.call('HSET', k, 't', tostring(levels[i] - 1), 'ts', now)
    redis.call('PEXPIRE', k, math.ceil(burst / rate) + 1000)
  end
  return 0
end
"""

# Status poll: admit first (at most once a second per event: SET NX PX is the single-flight
# lock, so the line moves even with beat down), then heartbeat and read everything the page
# shows, in one round trip. ARGV: visitor, now, max_scan, allow_new ('1': join first if needed,
# within the join limits), the limits (per-IP per minute and burst, per-visitor per minute and
# burst) and the client's address. KEYS: event_keys, seed, then the two join buckets and `who`.
# Returns {'limited', wait ms} when the join limits refuse a newcomer, else
# Returns {where, position, ahead_at_join, line size, early size, admitted last minute,
#          inside count, cfg fields (STATUS_CFG), state fields (STATUS_STATE)}. where is
# inside / line / early / off, or absent (no place: never had one, lost it past the grace
# period, or the line is closed or sold out), and the caller decides about re-joining.
STATUS_LUA = (
    _ADMIT_FN
    + _JOIN_FN
    + _BUCKET_FN
    + """
local vid, now = ARGV[1], tonumber(ARGV[2])
-- Heartbeat (and, for a newcomer, a place first, so that this very poll may let them in).
local j = join_line(vid, now, false)
if j[1] == 'absent' and ARGV[4] == '1' then
  -- Joining costs a token from the per-IP and per-visitor buckets (KEYS 12, 13), all in this
  -- one round trip; the address a place was given to is kept for the audit (KEYS 14).
  local wait = take_tokens({KEYS[12], KEYS[13]}, now, {ARGV[5], ARGV[6], ARGV[7], ARGV[8]})
  if wait > 0 then return cjson.encode({'limited', wait}) end
  j = join_line(vid, now, true)
  if j[1] == 'line' or j[1] == 'early' then redis.call('HSET', KEYS[14], vid, ARGV[9]) end
end
local where, position, first = j[1], j[2], j[3]
if where == 'line' or where == 'early' or where == 'inside' then
  -- Only someone with a place spends the admit (a poll about to be rate-checked does not).
  if redis.call('SET', KEYS[10], '1', 'NX', 'PX', 1000) and admit(now, tonumber(ARGV[3]))[1] > 0 and where == 'line' then
    local lease = redis.call('ZSCORE', KEYS[7], vid)
    if lease and tonumber(lease) > now then
      where, position, first = 'inside', 0, 0
    else
      position = redis.call('ZRANK', KEYS[3], vid) + 1
    end
  end
elseif where ~= 'off' then
  where = 'absent'
end
-- One JSON string: far cheaper for the client to parse than a nested multi-bulk reply.
local cfg = redis.call('HMGET', KEYS[1], 'mode', 'rate', 'opens_ms', 'closed', 'paused', 'seed_hash', 'grace_s')
local st = redis.call('HMGET', KEYS[2], 'inv', 'shuffled')
-- The visitor's line score (its arrival order) and admission time, for the public order audit.
local arrival = redis.call('ZSCORE', KEYS[3], vid) or redis.call('ZSCORE', KEYS[4], vid) or '0'
local admitted_at = redis.call('ZSCORE', KEYS[8], vid) or '0'
-- The pre-queue's seed is public once the opening's shuffle is done (KEYS 11).
local seed = ''
if st[2] == '1' and now >= tonumber(cfg[3] or '0') and redis.call('ZCARD', KEYS[4]) == 0 then
  seed = redis.call('GET', KEYS[11]) or ''
end
return cjson.encode({where, position, first, redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]),
  redis.call('ZCOUNT', KEYS[8], now - 60000, '+inf'), redis.call('ZCARD', KEYS[7]), cfg, st, arrival, admitted_at, seed})
"""
)

# Pre-queue opening: move the early arrivals into the line in the given (shuffled) order,
# once. ARGV: visitors in order. Returns how many were placed, or -1 if already done.
OPEN_LUA = """
if redis.call('HGET', KEYS[2], 'shuffled') == '1' then return -1 end
for i, vid in ipairs(ARGV) do
  if redis.call('ZSCORE', KEYS[4], vid) then redis.call('ZADD', KEYS[3], i, vid) end
end
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[2], 'shuffled', '1')
return #ARGV
"""

# Leave: a finished booking or released hold frees the inside slot at once. ARGV: visitors.
LEAVE_LUA = """
local freed = 0
for _, vid in ipairs(ARGV) do
  freed = freed + redis.call('ZREM', KEYS[7], vid)
  redis.call('ZREM', KEYS[3], vid)
  redis.call('ZREM', KEYS[4], vid)
  redis.call('ZREM', KEYS[5], vid)
  redis.call('HDEL', KEYS[6], vid)
end
return freed
"""

# The gate: one round trip. KEYS: cfg, inside. ARGV: visitor ('' when no valid token), now,
# pin_ms (keep the lease at least this long: the visitor is holding seats).
# Returns {verdict, mode} with verdict open (room off or not yet on) / pass / gated / unknown.
GATE_LUA = """
local c = redis.call('HMGET', KEYS[1], 'mode', 'opens_ms', 'session_s')
local mode = c[1]
if not mode then return {'unknown', ''} end
local now = tonumber(ARGV[2])
if mode == 'off' or (mode == 'at_sale_open' and now < tonumber(c[2] or '0')) then return {'open', mode} end
local vid = ARGV[1]
if vid == '' then return {'gated', mode} end
local lease = redis.call('ZSCORE', KEYS[2], vid)
if not lease or tonumber(lease) <= now then return {'gated', mode} end
local renewed = now + math.max(tonumber(c[3] or '600') * 1000, tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], 'XX', 'GT', renewed, vid)
return {'pass', mode}
"""

# Token buckets (abuse limits). KEYS: bucket keys. ARGV: now, then per key: rate per minute,
# burst. Takes one token from every bucket or none. Returns {allowed, retry_after_ms}.
BUCKET_LUA = (
    _BUCKET_FN
    + """
local limits = {}
for i = 2, #ARGV do limits[i - 1] = ARGV[i] end
local wait = take_tokens(KEYS, tonumber(ARGV[1]), limits)
if wait > 0 then return {0, wait} end
return {1, 0}
"""
)


class _Scripts:
    """Script objects made once per process; each call names the client to run on."""

    def __init__(self):
        base = redis_lib.Redis()  # never connects: only computes the SHA
        self.admit = base.register_script(ADMIT_LUA)
        self.join = base.register_script(JOIN_LUA)
        self.status = base.register_script(STATUS_LUA)
        self.open = base.register_script(OPEN_LUA)
        self.leave = base.register_script(LEAVE_LUA)
        self.gate = base.register_script(GATE_LUA)
        self.bucket = base.register_script(BUCKET_LUA)


SCRIPTS = _Scripts()


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- Operations -------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmitResult:
    admitted: list[str]
    reclaimed: int
    skipped: int
    inside: int
    reason: str


def admit(conn, event_id: int, now_ms: int, max_scan: int = MAX_SCAN) -> AdmitResult:
    count, reclaimed, skipped, inside, out, reason = SCRIPTS.admit(
        keys=event_keys(event_id), args=[now_ms, max_scan], client=conn
    )
    return AdmitResult([_s(v) for v in out], int(reclaimed), int(skipped), int(inside), _s(reason))


@dataclass(frozen=True)
class JoinResult:
    where: str
    position: int
    ahead_at_join: int


def join(conn, event_id: int, visitor: str, now_ms: int, allow_new: bool = True) -> JoinResult:
    args = [visitor, now_ms, "1" if allow_new else "0"]
    where, position, first = SCRIPTS.join(keys=event_keys(event_id), args=args, client=conn)
    return JoinResult(_s(where), int(position), int(first))


@dataclass(frozen=True)
class RawStatus:
    where: str
    position: int
    ahead_at_join: int
    line: int
    early: int
    admitted_last_minute: int
    inside: int
    cfg: dict
    state: dict
    arrival: int = 0  # line score: shuffled early arrivals 1..n, then LATE_OFFSET + arrival sequence
    admitted_at: int = 0  # epoch ms of admission (kept for a minute)
    retry_after_ms: int = 0  # where == 'limited': when joining may be tried again
    seed: str = ""  # the pre-queue seed, once it is public (after the opening's shuffle)


STATUS_CFG = ("mode", "rate", "opens_ms", "closed", "paused", "seed_hash", "grace_s")
STATUS_STATE = ("inv", "shuffled")


def _fields(names, values) -> dict[str, str]:
    return {n: v for n, v in zip(names, values, strict=True) if isinstance(v, str)}


@dataclass(frozen=True)
class JoinLimits:
    """The join token buckets: per client address and per visitor (tokens per minute, burst)."""

    ip: str
    per_ip: tuple[int, int]
    per_visitor: tuple[int, int]


def bucket_key(event_id: int, kind: str, who: str, value: str) -> str:
    return key(event_id, f"rl:{kind}:{who}:{value}")


def status(
    conn,
    event_id: int,
    visitor: str,
    now_ms: int,
    max_scan: int = MAX_SCAN,
    join: JoinLimits | None = None,
) -> RawStatus:
    """One round trip: heartbeat, admit (single flight), and with `join` a place for a
    newcomer (within the join limits: where == 'limited' and retry_after_ms say when not)."""
    keys = [*event_keys(event_id), key(event_id, "seed")]
    args: list = [visitor, now_ms, max_scan, "0"]
    if join is not None:
        keys += [
            bucket_key(event_id, "join", "ip", join.ip),
            bucket_key(event_id, "join", "v", visitor),
            key(event_id, "who"),
        ]
        args = [visitor, now_ms, max_scan, "1", *join.per_ip, *join.per_visitor, join.ip]
    r = json.loads(SCRIPTS.status(keys=keys, args=args, client=conn))
    if r[0] == "limited":
        return RawStatus("limited", 0, 0, 0, 0, 0, 0, {}, {}, retry_after_ms=int(r[1]))
    return RawStatus(
        r[0],
        *(int(x) for x in r[1:7]),
        _fields(STATUS_CFG, r[7]),
        _fields(STATUS_STATE, r[8]),
        arrival=int(float(r[9])),
        admitted_at=int(float(r[10])),
        seed=r[11],
    )


def open_prequeue(conn, event_id: int, ordered_visitors: list[str]) -> int:
    return int(SCRIPTS.open(keys=event_keys(event_id), args=ordered_visitors, client=conn))


def leave(conn, event_id: int, visitors: list[str]) -> int:
    if not visitors:
        return 0
    return int(SCRIPTS.leave(keys=event_keys(event_id), args=visitors, client=conn))


def gate(conn, event_id: int, visitor: str, now_ms: int, pin_ms: int = 0) -> tuple[str, str]:
    verdict, mode = SCRIPTS.gate(
        keys=[key(event_id, "cfg"), key(event_id, "inside")], args=[visitor, now_ms, pin_ms], client=conn
    )
    return _s(verdict), _s(mode)


def take_tokens(conn, buckets: list[tuple[str, int, int]], now_ms: int) -> int:
    """Take one token from each (key, per minute, burst) bucket, all or none.

    Returns 0 when allowed, else the milliseconds to wait."""
    args: list = [now_ms]
    for _, per_minute, burst in buckets:
        args += [per_minute, burst]
    allowed, wait = SCRIPTS.bucket(keys=[b[0] for b in buckets], args=args, client=conn)
    return 0 if int(allowed) else int(wait)
