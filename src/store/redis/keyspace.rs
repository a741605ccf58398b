//! [`Keyspace`] for [`RedisStore`]: what keyspace migrations may do on Redis. Legacy keys are read
//! only; the schema version is written only under the migration lock (compare-and-set in one script).

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::Value;
use fred::types::scripts::Script;

use super::{RedisStore, encode, err, ms};
use crate::store::StoreError;
use crate::store::keyspace::{HistoryImport, Keyspace, LegacyValue};

/// KEYS: the legacy key. Returns `{type}` for anything but a string, else `{type, value, pttl}`.
const READ_LEGACY_LUA: &str = r#"
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'string' then return {t} end
return {t, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"#;

/// KEYS: history. ARGV: window, ttl_ms, head_prefix, entries... (oldest first). Entries whose id is
/// present are skipped; the rest go after the leading run of ids starting with head_prefix and before
/// everything else; the list is trimmed to the window and keeps the longer of its TTL and ttl_ms.
const IMPORT_LUA: &str = r#"
local window = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local head_prefix = ARGV[3]
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'list' and t ~= 'none' then redis.call('DEL', KEYS[1]) end
local existing = redis.call('LRANGE', KEYS[1], 0, -1)
local seen = {}
local head = 0
for i, raw in ipairs(existing) do
  local ok, e = pcall(cjson.decode, raw)
  local id = ok and type(e) == 'table' and (e.i or e.id)
  if id then
    seen[id] = true
    if head == i - 1 and string.sub(tostring(id), 1, #head_prefix) == head_prefix then head = i end
  end
end
local imported = {}
for i = 4, #ARGV do
  local e = cjson.decode(ARGV[i])
  local id = e.i or e.id
  if not seen[id] then
    seen[id] = true
    imported[#imported + 1] = ARGV[i]
  end
end
if #imported == 0 then return 0 end
local merged = {}
for i = 1, head do merged[#merged + 1] = existing[i] end
for _, raw in ipairs(imported) do merged[#merged + 1] = raw end
for i = head + 1, #existing do merged[#merged + 1] = existing[i] end
local first = math.max(1, #merged - window + 1)
local current = redis.call('PTTL', KEYS[1])
if current > ttl then ttl = current end
redis.call('DEL', KEYS[1])
for i = first, #merged, 500 do
  redis.call('RPUSH', KEYS[1], unpack(merged, i, math.min(i + 499, #merged)))
end
redis.call('PEXPIRE', KEYS[1], ttl)
return #imported
"#;

/// KEYS: lock. ARGV: token, ttl_ms.
const RENEW_LOCK_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// KEYS: lock. ARGV: token.
const UNLOCK_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// KEYS: lock, schema version. ARGV: token, version.
const SET_VERSION_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"#;

impl RedisStore {
    async fn run_script<R: FromValue>(
        &self,
        lua: &'static str,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, StoreError> {
        self.eval(&Script::from_lua(lua), keys, args).await
    }
}

#[async_trait]
impl Keyspace for RedisStore {
    async fn scan_legacy(
        &self,
        pattern: &str,
        cursor: &str,
        count: u32,
    ) -> Result<(String, Vec<String>), StoreError> {
        let page: Value = self
            .client()
            .scan_page(cursor, pattern, Some(count), None)
            .await
            .map_err(err)?;
        let mut parts = page.into_array().into_iter();
        let next = parts
            .next()
            .and_then(|c| c.as_string())
            .ok_or_else(|| StoreError("SCAN answered without a cursor".into()))?;
        let found = parts
            .next()
            .map(|v| v.into_array().into_iter().filter_map(|k| k.as_string()).collect())
            .unwrap_or_default();
        Ok((next, found))
    }

    async fn read_legacy(&self, key: &str) -> Result<LegacyValue, StoreError> {
        let reply: Vec<Value> = self
            .run_script(READ_LEGACY_LUA, vec![key.to_owned()], vec![])
            .await?;
        let mut parts = reply.into_iter();
        let kind = parts.next().and_then(|v| v.as_string()).unwrap_or_default();
        match kind.as_str() {
            "none" => Ok(LegacyValue::Missing),
            "string" => {
                let value = parts.next().and_then(|v| v.as_string()).unwrap_or_default();
                let pttl = parts.next().and_then(|v| v.as_i64()).unwrap_or(-1);
                let ttl = u64::try_from(pttl).ok().map(Duration::from_millis);
                Ok(LegacyValue::Text { value, ttl })
            }
            _ => Ok(LegacyValue::OtherType(kind)),
        }
    }

    async fn import_history(&self, chat_id: &str, import: &HistoryImport<'_>) -> Result<u64, StoreError> {
        if import.entries.is_empty() {
            return Ok(0);
        }
        let mut args: Vec<Value> = vec![
            (import.window as i64).into(),
            ms(import.ttl).into(),
            import.head_prefix.into(),
        ];
        for e in import.entries {
            args.push(encode(e)?.into());
        }
        let added: i64 = self
            .run_script(IMPORT_LUA, vec![self.keys.history(chat_id)], args)
            .await?;
        Ok(added.max(0) as u64)
    }

    async fn schema_version(&self) -> Result<u64, StoreError> {
        let key = self.keys.schema_version();
        let raw: Option<String> = self.client().get(&key).await.map_err(err)?;
        match raw {
            None => Ok(0),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| StoreError(format!("{key} holds {v:?}, not a version number"))),
        }
    }

    async fn lock_migrations(&self, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.set_nx(self.keys.migrate_lock(), token, ttl).await
    }

    async fn renew_migration_lock(&self, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        let args = vec![token.into(), ms(ttl).into()];
        let n: i64 = self
            .run_script(RENEW_LOCK_LUA, vec![self.keys.migrate_lock()], args)
            .await?;
        Ok(n == 1)
    }

    async fn unlock_migrations(&self, token: &str) -> Result<(), StoreError> {
        self.run_script::<i64>(UNLOCK_LUA, vec![self.keys.migrate_lock()], vec![token.into()])
            .await
            .map(|_| ())
    }

    async fn set_schema_version(&self, token: &str, version: u64) -> Result<bool, StoreError> {
        let keys = vec![self.keys.migrate_lock(), self.keys.schema_version()];
        let args = vec![token.into(), (version as i64).into()];
        let n: i64 = self.run_script(SET_VERSION_LUA, keys, args).await?;
        Ok(n == 1)
    }
}
