-- The gate: one round trip. KEYS: RoomKeys.GATE.
-- Returns {verdict, mode}, verdict a VERDICT_*: open (room off or not yet on), pass (a live
-- lease, renewed), gated, or unknown (the room's settings are not in Redis: the gate treats it as gated).
local visitor = ARGV[1]  -- '' when the request has no valid token
local now = tonumber(ARGV[2])

local c = hmget(cfg_key, GATE_CFG)
local mode = c.mode
if not mode then return {VERDICT_UNKNOWN, ''} end
if mode == MODE_OFF or (mode == MODE_AT_SALE_OPEN and now < num(c.opens_ms, 0)) then return {VERDICT_OPEN, mode} end
if visitor == '' then return {VERDICT_GATED, mode} end
local lease = redis.call('ZSCORE', inside_key, visitor)
if not lease or tonumber(lease) <= now then return {VERDICT_GATED, mode} end
local renewed = now + num(c.session_s, DEFAULT_SESSION_S) * 1000
redis.call('ZADD', inside_key, 'XX', 'GT', renewed, visitor)
return {VERDICT_PASS, mode}
