-- 0001: import the replaced system's chat memory into the new history lists.
--
-- Applied once per legacy key by `wa-agent migrate` (src/store/migrations.rs), atomically per key.
-- KEYS[1]  the legacy key `conversation:{chat_id}:history` (no prefix): a JSON string holding a list of
--          {role, content, timestamp}, role `user` or `assistant`, timestamp ISO-8601 such as
--          `2025-10-17T10:40:49.123456` (read as UTC unless it carries `Z` or an offset; unix seconds
--          or milliseconds as a number are accepted too).
-- KEYS[2]  the new history list `{prefix}history:{chat_id}`: entries in the compact form of
--          `HistoryEntry` (src/domain.rs), {"i": id, "r": role, "t": text, "a": unix ms}, role `c`
--          (customer) or `a` (agent), oldest first; entries with the long field names are read too.
-- ARGV[1]  the history window (entries kept).
-- ARGV[2]  the history TTL in ms, used when the legacy key has none.
--
-- Ids are `legacy-<first 16 hex of sha1(role, timestamp, content)>`, with `-2`, `-3`… for repeats of
-- the very same message, so a re-run (or a run after the old system appended or trimmed its list)
-- produces the same ids and adds nothing twice. Imported entries go after the legacy entries already
-- in the new list and before everything the new system wrote, oldest first; the list is trimmed to the
-- window. The new key gets the legacy key's remaining TTL (or ARGV[2] when it has none), never less
-- than it already had. The legacy key is left as it is: the old system may still be running.
--
-- Returns the number of entries added; -1 when the legacy value is not a JSON list (nothing changed).

local window = tonumber(ARGV[1])
local default_ttl = tonumber(ARGV[2])

local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, items = pcall(cjson.decode, raw)
if not ok or type(items) ~= 'table' or (items[1] == nil and next(items) ~= nil) then return -1 end

local ROLES = { user = 'c', assistant = 'a' }

-- Days since 1970-01-01 of a proleptic Gregorian date.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Unix milliseconds of a legacy timestamp; 0 when it cannot be read.
local function to_ms(ts)
  if type(ts) == 'number' then
    if ts < 1e11 then return math.floor(ts * 1000) end
    return math.floor(ts)
  end
  if type(ts) ~= 'string' then return 0 end
  local y, mo, d, h, mi, s, rest =
    string.match(ts, '^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.*)$')
  if not y then return 0 end
  local frac = string.match(rest, '^%.(%d+)') or ''
  rest = string.sub(rest, (frac ~= '' and #frac + 2 or 1))
  local millis = tonumber(string.sub(frac .. '000', 1, 3))
  local offset = 0
  local sign, oh, om = string.match(rest, '^([+-])(%d%d):?(%d%d)$')
  if sign then
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60
    if sign == '-' then offset = -offset end
  elseif rest ~= '' and rest ~= 'Z' and rest ~= 'z' then
    return 0
  end
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  local secs = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
  return secs * 1000 + millis
end

-- The new list as it is: its entries and the ids they carry.
local existing = redis.call('LRANGE', KEYS[2], 0, -1)
local seen = {}
local legacy_head = 0
for i, entry in ipairs(existing) do
  local okd, e = pcall(cjson.decode, entry)
  local eid = okd and type(e) == 'table' and (e.i or e.id)
  if eid then
    seen[eid] = true
    if legacy_head == i - 1 and string.sub(tostring(eid), 1, 7) == 'legacy-' then legacy_head = i end
  end
end

-- The legacy items, converted, in their order; unseen ones only.
local imported = {}
local repeats = {}
for _, item in ipairs(items) do
  if type(item) == 'table' and ROLES[item.role] and type(item.content) == 'string' then
    local ts = item.timestamp
    local base = 'legacy-' ..
      string.sub(redis.sha1hex(item.role .. '\n' .. tostring(ts) .. '\n' .. item.content), 1, 16)
    local n = (repeats[base] or 0) + 1
    repeats[base] = n
    local id = base
    if n > 1 then id = base .. '-' .. n end
    if not seen[id] then
      seen[id] = true
      imported[#imported + 1] = cjson.encode({
        i = id, r = ROLES[item.role], t = item.content, a = to_ms(ts),
      })
    end
  end
end
if #imported == 0 then return 0 end

-- Rebuild: legacy entries already there, the imported ones, then what the new system wrote.
local merged = {}
for i = 1, legacy_head do merged[#merged + 1] = existing[i] end
for _, entry in ipairs(imported) do merged[#merged + 1] = entry end
for i = legacy_head + 1, #existing do merged[#merged + 1] = existing[i] end
local first = math.max(1, #merged - window + 1)

local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = default_ttl end
local current = redis.call('PTTL', KEYS[2])
if current > ttl then ttl = current end

redis.call('DEL', KEYS[2])
for i = first, #merged, 500 do
  redis.call('RPUSH', KEYS[2], unpack(merged, i, math.min(i + 499, #merged)))
end
redis.call('PEXPIRE', KEYS[2], ttl)
return #imported
