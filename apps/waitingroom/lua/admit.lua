-- Admit: reclaim lapsed leases and let the head of the line in (lib/admit.lua).
-- KEYS: RoomKeys.QUEUE. Returns admit's reply.
local now = tonumber(ARGV[1])
local max_scan = tonumber(ARGV[2])

return admit(now, max_scan)
