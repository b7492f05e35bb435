-- Token buckets (abuse limits): one token from every bucket or none (take_tokens.lua).
-- KEYS: the bucket keys. ARGV: now, then per key: rate per minute, burst.
-- Returns {allowed, retry_after_ms}.
local now = tonumber(ARGV[1])
local limits = {}
for i = 2, #ARGV do limits[i - 1] = ARGV[i] end

local wait = take_tokens(KEYS, now, limits)
if wait > 0 then return {0, wait} end
return {1, 0}
