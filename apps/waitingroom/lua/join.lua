-- Join: a place in line, or the one the visitor has (lib/join_line.lua).
-- KEYS: RoomKeys.QUEUE. Returns join_line's reply.
local visitor = ARGV[1]
local now = tonumber(ARGV[2])
local allow_new = ARGV[3] == YES  -- else WHERE_ABSENT says a place is needed

return join_line(visitor, now, allow_new)
