-- Pre-queue opening: move the early arrivals into the line in the given (shuffled) order,
-- once. KEYS: RoomKeys.QUEUE. ARGV: the visitors in order. Returns how many were placed, or
-- -1 if already done.
local visitors = ARGV

if redis.call('HGET', state_key, 'shuffled') == YES then return -1 end
for i, vid in ipairs(visitors) do
  if redis.call('ZSCORE', early_key, vid) then redis.call('ZADD', line_key, i, vid) end
end
redis.call('DEL', early_key)
redis.call('HSET', state_key, 'shuffled', YES)
return #visitors
