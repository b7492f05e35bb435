-- Helpers every script may use.

-- A hash field as a number, d when it is missing.
local function num(v, d) if v == false or v == nil then return d end return tonumber(v) end

-- HMGET as a table by field name (a missing field stays nil). The field lists come from
-- Python (RoomKeys.*_CFG, *_STATE, in the header), so no field order is written twice.
local function hmget(key, names)
  local values = redis.call('HMGET', key, unpack(names))
  local out = {}
  for i, name in ipairs(names) do
    if values[i] then out[name] = values[i] end
  end
  return out
end
