-- admit(now, max_scan): reclaim lapsed leases, then move the head of the line inside, within
-- capacity and rate. Uses the queue's keys (RoomKeys.QUEUE). Returns
-- {admitted count, reclaimed, skipped no-shows, inside after, {visitors}, reason}.
local function admit(now, max_scan)
  local reclaimed = redis.call('ZREMRANGEBYSCORE', inside_key, '-inf', now)
  local c = hmget(cfg_key, ADMIT_CFG)
  local s = hmget(state_key, ADMIT_STATE)
  local inside = redis.call('ZCARD', inside_key)
  -- No settings: Redis lost them. Fail closed: nobody in until services.restore_room writes them back.
  if not c.mode then return {0, reclaimed, 0, inside, {}, REASON_UNKNOWN} end
  if c.mode == MODE_OFF then return {0, reclaimed, 0, inside, {}, REASON_OFF} end
  if c.paused == YES then return {0, reclaimed, 0, inside, {}, REASON_PAUSED} end
  if c.closed == YES then return {0, reclaimed, 0, inside, {}, REASON_CLOSED} end
  if s.inv == INV_SOLD_OUT or s.inv == INV_FINAL then return {0, reclaimed, 0, inside, {}, REASON_SOLD_OUT} end
  if now < num(c.opens_ms, 0) then return {0, reclaimed, 0, inside, {}, REASON_NOT_OPEN} end
  if s.shuffled ~= YES and redis.call('ZCARD', early_key) > 0 then return {0, reclaimed, 0, inside, {}, REASON_UNSHUFFLED} end
  local capacity, rate = num(c.capacity, 0), num(c.rate, 0)
  local session_ms, grace_ms = num(c.session_s, DEFAULT_SESSION_S) * 1000, num(c.grace_s, DEFAULT_GRACE_S) * 1000
  -- Admissions are kept ADMITTED_KEEP_MS (a visitor learns its admission time even after a
  -- slow poll: the fairness audit); the rate window counts the last minute only.
  redis.call('ZREMRANGEBYSCORE', admitted_key, '-inf', now - ADMITTED_KEEP_MS)
  local window = rate - redis.call('ZCOUNT', admitted_key, '(' .. (now - RATE_WINDOW_MS), '+inf')
  local burst = math.max(1, rate / 20)
  local tokens = num(s.tokens, burst)
  local elapsed = math.max(0, now - num(s.tokens_ts, now))
  tokens = math.min(burst, tokens + elapsed * rate / 60000)
  local n = math.min(capacity - inside, window, math.floor(tokens))
  local out, scanned, skipped = {}, 0, 0
  while #out < n and scanned < max_scan do
    local head = redis.call('ZPOPMIN', line_key)
    if #head == 0 then break end
    scanned = scanned + 1
    local vid = head[1]
    local seen = redis.call('ZSCORE', seen_key, vid)
    redis.call('ZREM', seen_key, vid)
    redis.call('HDEL', first_key, vid)
    if seen and tonumber(seen) >= now - grace_ms then
      redis.call('ZADD', inside_key, now + session_ms, vid)
      redis.call('ZADD', admitted_key, now, vid)
      out[#out + 1] = vid
    else
      skipped = skipped + 1
    end
  end
  redis.call('HSET', state_key, 'tokens', tostring(tokens - #out), 'tokens_ts', now)
  -- The running total: ops take "admitted per minute" from its steps, exactly, however they poll.
  if #out > 0 then redis.call('INCRBY', admissions_key, #out) end
  return {#out, reclaimed, skipped, inside + #out, out, REASON_OK}
end
