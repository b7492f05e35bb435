-- The cached inventory read in one round trip (apps/booking/inventory.py), after take_tokens.lua.
-- KEYS: the generation counter, the newest payload of this document, its rebuild bucket.
-- ARGV: the payload key's prefix (the generation is appended when ARGV[2] is '1'), per generation
-- ('1' or '0'), now in ms, rebuilds per minute, rebuild burst.
-- Returns {1, payload} (current), {2, payload} (the newest built: this one is being rebuilt, or
-- was rebuilt often enough lately), or {0, generation} (build it; the caller stores it under
-- that generation).
local generation = '0'
if ARGV[2] == '1' then generation = redis.call('GET', KEYS[1]) or '0' end
local key = ARGV[1]
if ARGV[2] == '1' then key = key .. generation end
local payload = redis.call('GET', key)
if payload then return {1, payload} end
local newest = redis.call('GET', KEYS[2])
if newest then
  if redis.call('EXISTS', key .. ':lock') == 1 then return {2, newest} end
  if take_tokens({KEYS[3]}, tonumber(ARGV[3]), {ARGV[4], ARGV[5]}) > 0 then return {2, newest} end
end
redis.call('SET', key .. ':lock', 1, 'PX', 2000)
return {0, generation}
