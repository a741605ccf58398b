//! Every Lua script of the Redis store. Each multi-key change is one script, so it is atomic on one
//! Redis; the scripts are loaded once (`EVALSHA`, reloaded after a Redis restart).

use fred::types::scripts::Script;

const ACCEPT_LUA: &str = r#"
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'chat', ARGV[3])
  return 1
end
return 0
"#;

const RENEW_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
pcall(redis.call, 'XCLAIM', KEYS[2], ARGV[3], ARGV[4], 0, ARGV[5], 'JUSTID')
return 1
"#;

const RELEASE_IF_IDLE_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('LLEN', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[1])
return 1
"#;

const RELEASE_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// KEYS: lease. ARGV: holder, ttl_ms, prefix, keep. Free, or held by an earlier incarnation of the
/// same consumer (prefix but not keep): take it.
const TAKE_LEASE_LUA: &str = r#"
local h = redis.call('GET', KEYS[1])
if h and (string.sub(h, 1, #ARGV[3]) ~= ARGV[3] or string.sub(h, 1, #ARGV[4]) == ARGV[4]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// KEYS: consumer. ARGV: instance, ttl_ms. Returns the previous instance (nil when none).
const CLAIM_CONSUMER_LUA: &str = r#"
local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if prev == ARGV[1] then return false end
return prev
"#;

/// KEYS: consumer. ARGV: instance, ttl_ms. 0 when another instance holds the name.
const REFRESH_CONSUMER_LUA: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

const ACK_LUA: &str = r#"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"#;

/// KEYS: history, inbox, outbox, outbox-chats, dlq, intent. ARGV: window, ttl_ms, consumed, n_entries,
/// n_jobs, dlq_id ('' for none), dlq_json, chat, entries..., jobs...
const COMMIT_LUA: &str = r#"
local window = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local consumed = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local jobs = tonumber(ARGV[5])
local first = 9
if n > 0 then
  local t = redis.call('TYPE', KEYS[1])['ok']
  if t ~= 'list' and t ~= 'none' then redis.call('DEL', KEYS[1]) end
  local seen = {}
  for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    local ok, e = pcall(cjson.decode, raw)
    if ok and type(e) == 'table' then local id = e.i or e.id; if id then seen[id] = true end end
  end
  for i = first, first + n - 1 do
    local raw = ARGV[i]
    local e = cjson.decode(raw)
    local id = e.i or e.id
    if not seen[id] then
      redis.call('RPUSH', KEYS[1], raw)
      seen[id] = true
    end
  end
  redis.call('LTRIM', KEYS[1], -window, -1)
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if consumed > 0 then redis.call('LTRIM', KEYS[2], consumed, -1) end
for i = first + n, first + n + jobs - 1 do redis.call('RPUSH', KEYS[3], ARGV[i]) end
if jobs > 0 then redis.call('SADD', KEYS[4], ARGV[8]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[5], ARGV[6], ARGV[7]) end
redis.call('DEL', KEYS[6])
return 1
"#;

/// KEYS: history. ARGV: window, ttl_ms, entries... (oldest first).
const FILL_LUA: &str = r#"
local window = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
else
  local seen = {}
  for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    local ok, e = pcall(cjson.decode, raw)
    if ok and type(e) == 'table' then local id = e.i or e.id; if id then seen[id] = true end end
  end
  for i = #ARGV, 3, -1 do
    local e = cjson.decode(ARGV[i])
    if not seen[e.i or e.id] then redis.call('LPUSH', KEYS[1], ARGV[i]) end
  end
end
redis.call('LTRIM', KEYS[1], -window, -1)
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"#;

const OUTBOX_REPLACE_LUA: &str = r#"
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LSET', KEYS[1], 0, ARGV[2]) end
return 1
"#;

/// KEYS: dlq, inbox, work. ARGV: id, chat, maxlen, envelopes...
const REPLAY_LUA: &str = r#"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 4, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'chat', ARGV[2])
return 1
"#;

const OUTBOX_POP_LUA: &str = r#"
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then redis.call('LPOP', KEYS[1]) end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
"#;

pub(super) struct Scripts {
    pub(super) accept: Script,
    pub(super) renew: Script,
    pub(super) release_if_idle: Script,
    pub(super) release: Script,
    pub(super) take_lease: Script,
    pub(super) claim_consumer: Script,
    pub(super) refresh_consumer: Script,
    pub(super) record_intent: Script,
    pub(super) mark_intent: Script,
    pub(super) ack: Script,
    pub(super) commit: Script,
    pub(super) fill: Script,
    pub(super) outbox_pop: Script,
    pub(super) outbox_replace: Script,
    pub(super) replay: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            accept: Script::from_lua(ACCEPT_LUA),
            renew: Script::from_lua(RENEW_LUA),
            release_if_idle: Script::from_lua(RELEASE_IF_IDLE_LUA),
            release: Script::from_lua(RELEASE_LUA),
            take_lease: Script::from_lua(TAKE_LEASE_LUA),
            claim_consumer: Script::from_lua(CLAIM_CONSUMER_LUA),
            refresh_consumer: Script::from_lua(REFRESH_CONSUMER_LUA),
            record_intent: Script::from_lua(crate::store::intent::RECORD_LUA),
            mark_intent: Script::from_lua(crate::store::intent::MARK_LUA),
            ack: Script::from_lua(ACK_LUA),
            commit: Script::from_lua(COMMIT_LUA),
            fill: Script::from_lua(FILL_LUA),
            outbox_pop: Script::from_lua(OUTBOX_POP_LUA),
            outbox_replace: Script::from_lua(OUTBOX_REPLACE_LUA),
            replay: Script::from_lua(REPLAY_LUA),
        }
    }
}
