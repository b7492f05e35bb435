-- take_tokens(keys, now, limits): one token from every bucket or none. limits: per bucket,
-- tokens per minute then burst. Returns 0, or the milliseconds to wait.
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
