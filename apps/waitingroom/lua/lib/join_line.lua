-- join_line(vid, now, allow_new): one place per visitor. A visitor with a fresh place keeps it
-- (refresh, new tab, re-join); one whose last poll is older than the grace period lost it and
-- starts again (only when allow_new; else WHERE_ABSENT says a place is needed). Uses the
-- queue's keys (RoomKeys.QUEUE). Returns {where, position, ahead_at_join}, where a WHERE_*
-- (WHERE_UNKNOWN when the room's settings are missing).
local function join_line(vid, now, allow_new)
  local c = hmget(cfg_key, JOIN_CFG)
  -- No settings (Redis lost them): no place is given, nobody is told the room is off (fail closed).
  if not c.mode then return {WHERE_UNKNOWN, 0, 0} end
  if c.mode == MODE_OFF then return {WHERE_OFF, 0, 0} end
  local lease = redis.call('ZSCORE', inside_key, vid)
  if lease and tonumber(lease) > now then return {WHERE_INSIDE, 0, 0} end
  if c.closed == YES then return {WHERE_CLOSED, 0, 0} end
  if redis.call('HGET', state_key, 'inv') == INV_FINAL then return {WHERE_SOLD_OUT, 0, 0} end
  local grace_ms = num(c.grace_s, DEFAULT_GRACE_S) * 1000
  local seen = redis.call('ZSCORE', seen_key, vid)
  if seen and tonumber(seen) >= now - grace_ms then
    if redis.call('ZSCORE', early_key, vid) then
      redis.call('ZADD', seen_key, now, vid)
      return {WHERE_EARLY, redis.call('ZRANK', early_key, vid) + 1, 0}
    end
    local rank = redis.call('ZRANK', line_key, vid)
    if rank then
      redis.call('ZADD', seen_key, now, vid)
      return {WHERE_LINE, rank + 1, tonumber(redis.call('HGET', first_key, vid) or rank)}
    end
  end
  if not allow_new then return {WHERE_ABSENT, 0, 0} end
  redis.call('ZREM', line_key, vid)
  redis.call('ZREM', early_key, vid)
  local seq = redis.call('INCR', seq_key)
  redis.call('ZADD', seen_key, now, vid)
  if now < num(c.opens_ms, 0) then
    redis.call('ZADD', early_key, seq, vid)
    return {WHERE_EARLY, redis.call('ZCARD', early_key), 0}
  end
  redis.call('ZADD', line_key, LATE_OFFSET + seq, vid)
  local rank = redis.call('ZRANK', line_key, vid)
  redis.call('HSET', first_key, vid, rank)
  return {WHERE_LINE, rank + 1, rank}
end
