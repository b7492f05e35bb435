-- Leave: a finished booking or released hold frees the inside slot at once.
-- KEYS: RoomKeys.QUEUE. ARGV: the visitors. Returns how many inside slots were freed.
local visitors = ARGV

local freed = 0
for _, vid in ipairs(visitors) do
  freed = freed + redis.call('ZREM', inside_key, vid)
  redis.call('ZREM', line_key, vid)
  redis.call('ZREM', early_key, vid)
  redis.call('ZREM', seen_key, vid)
  redis.call('HDEL', first_key, vid)
end
return freed
