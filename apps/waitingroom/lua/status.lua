-- Status poll: admit first (at most once per ADMIT_LOCK_MS per event: SET NX PX is the
-- single-flight lock, so the line moves even with beat down), then heartbeat and read
-- everything the page shows, in one round trip.
-- KEYS: RoomKeys.STATUS, or RoomKeys.STATUS_JOINING for a poll that may join.
-- Returns one JSON object with the fields of queue.RawStatus: {where = WHERE_LIMITED,
-- retry_after_ms} when the join limits refuse a newcomer, else where (inside / line / early
-- / off, unknown (the room's settings are missing: only `where` is set), or absent: no place, because the visitor never had one, lost it past the grace
-- period, or the line is closed or sold out; the caller decides about re-joining), position,
-- ahead_at_join, the counts, cfg (STATUS_CFG) and state (STATUS_STATE) by field name, and the
-- order audit's facts.
local visitor = ARGV[1]
local now = tonumber(ARGV[2])
local max_scan = tonumber(ARGV[3])
local joining = ARGV[4] == YES  -- join first if needed, within the join limits
local ip_per_minute, ip_burst = ARGV[5], ARGV[6]
local visitor_per_minute, visitor_burst = ARGV[7], ARGV[8]
local client_ip = ARGV[9]

-- Heartbeat (and, for a newcomer, a place first, so that this very poll may let them in).
local j = join_line(visitor, now, false)
-- The room's settings are gone (Redis lost its data): say so, the caller restores them.
if j[1] == WHERE_UNKNOWN then return cjson.encode({where = WHERE_UNKNOWN}) end
if j[1] == WHERE_ABSENT and joining then
  -- Joining costs a token from the per-IP and per-visitor buckets, all in this one round
  -- trip; the address a place was given to is kept for the audit.
  local limits = {ip_per_minute, ip_burst, visitor_per_minute, visitor_burst}
  local wait = take_tokens({join_ip_key, join_visitor_key}, now, limits)
  if wait > 0 then return cjson.encode({where = WHERE_LIMITED, retry_after_ms = wait}) end
  j = join_line(visitor, now, true)
  if j[1] == WHERE_LINE or j[1] == WHERE_EARLY then redis.call('HSET', who_key, visitor, client_ip) end
end
local where, position, first = j[1], j[2], j[3]
if where == WHERE_LINE or where == WHERE_EARLY or where == WHERE_INSIDE then
  -- Only someone with a place spends the admit (a poll about to be rate-checked does not).
  if redis.call('SET', lock_key, YES, 'NX', 'PX', ADMIT_LOCK_MS) and admit(now, max_scan)[1] > 0 and where == WHERE_LINE then
    local lease = redis.call('ZSCORE', inside_key, visitor)
    if lease and tonumber(lease) > now then
      where, position, first = WHERE_INSIDE, 0, 0
    else
      position = redis.call('ZRANK', line_key, visitor) + 1
    end
  end
elseif where ~= WHERE_OFF then
  where = WHERE_ABSENT
end
local cfg = hmget(cfg_key, STATUS_CFG)
local st = hmget(state_key, STATUS_STATE)
-- The visitor's line score (its arrival order) and admission time, for the public order audit.
local arrival = redis.call('ZSCORE', line_key, visitor) or redis.call('ZSCORE', early_key, visitor) or 0
local admitted_at = redis.call('ZSCORE', admitted_key, visitor) or 0
-- The pre-queue's seed is public once the opening's shuffle is done.
local seed = ''
if st.shuffled == YES and now >= num(cfg.opens_ms, 0) and redis.call('ZCARD', early_key) == 0 then
  seed = redis.call('GET', seed_key) or ''
end
-- One JSON string: far cheaper for the client to parse than a nested multi-bulk reply.
return cjson.encode({
  where = where, position = position, ahead_at_join = first,
  line = redis.call('ZCARD', line_key), early = redis.call('ZCARD', early_key),
  admitted_last_minute = redis.call('ZCOUNT', admitted_key, now - RATE_WINDOW_MS, '+inf'),
  inside = redis.call('ZCARD', inside_key), cfg = cfg, state = st,
  arrival = tonumber(arrival), admitted_at = tonumber(admitted_at), seed = seed,
})
