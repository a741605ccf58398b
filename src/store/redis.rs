//! The Redis store. Multi-key changes are Lua scripts (atomic on one Redis); the work stream is read
//! by a consumer group on a dedicated connection, because a blocking read would stall a pooled one.
//!
//! Redis must keep what it acknowledged across restarts for the "nothing answered 200 is lost" promise
//! to hold: run it with AOF (`appendonly yes`, `appendfsync everysec` or `always`).

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{ClusterHash, CustomCommand, Value};

use super::keys::{Keys, WORK_GROUP, WORK_STREAM_MAXLEN};
use super::{Accept, QueueStats, Release, SendIntent, Signal, Store, StoreError, TurnCommit};
use crate::domain::{Envelope, HistoryEntry};

/// Time a normal command may take before the store counts as unavailable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections in the shared pool.
const POOL_SIZE: usize = 4;

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

struct Scripts {
    accept: Script,
    renew: Script,
    release_if_idle: Script,
    release: Script,
    ack: Script,
    commit: Script,
    fill: Script,
    outbox_pop: Script,
    outbox_replace: Script,
    replay: Script,
    record_intent: Script,
    mark_intent: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            accept: Script::from_lua(ACCEPT_LUA),
            renew: Script::from_lua(RENEW_LUA),
            release_if_idle: Script::from_lua(RELEASE_IF_IDLE_LUA),
            release: Script::from_lua(RELEASE_LUA),
            ack: Script::from_lua(ACK_LUA),
            commit: Script::from_lua(COMMIT_LUA),
            fill: Script::from_lua(FILL_LUA),
            outbox_pop: Script::from_lua(OUTBOX_POP_LUA),
            outbox_replace: Script::from_lua(OUTBOX_REPLACE_LUA),
            replay: Script::from_lua(REPLAY_LUA),
            record_intent: Script::from_lua(super::intent::RECORD_LUA),
            mark_intent: Script::from_lua(super::intent::MARK_LUA),
        }
    }
}

/// The production store on one Redis.
pub struct RedisStore {
    pool: Pool,
    blocking: Client,
    keys: Keys,
    scripts: Scripts,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn custom(name: &'static str, blocking: bool) -> CustomCommand {
    CustomCommand::new(name, ClusterHash::FirstKey, blocking)
}

impl RedisStore {
    /// Connect to `url`. Start-up does not wait for Redis: while it is unreachable, commands fail
    /// within [`COMMAND_TIMEOUT`] (so intake answers 503) and the client reconnects in the background.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let config = Config::from_url(url).map_err(|e| StoreError(format!("REDIS_URL: {e}")))?;
        let mut builder = Builder::from_config(config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
                c.max_command_attempts = 2;
            })
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
        let pool = builder.build_pool(POOL_SIZE).map_err(err)?;
        let blocking = builder.build().map_err(err)?;
        pool.connect();
        blocking.connect();
        let store = Self {
            pool,
            blocking,
            keys: Keys::new(prefix),
            scripts: Scripts::new(),
        };
        match tokio::time::timeout(Duration::from_secs(3), store.pool.wait_for_connect()).await {
            Ok(Ok(())) => {
                if let Err(e) = store.ensure_group().await {
                    tracing::warn!(error = %e, "could not create the work stream's consumer group yet");
                }
            }
            _ => tracing::warn!("Redis is not reachable yet; intake answers 503 until it is"),
        }
        Ok(store)
    }

    /// Disconnect every connection.
    pub async fn quit(&self) {
        let _ = self.pool.quit().await;
        let _ = self.blocking.quit().await;
    }

    /// A client of the shared pool (for the migration runner, which stays inside `store`).
    pub(crate) fn client(&self) -> &Client {
        self.pool.next()
    }

    /// The key builder.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn ensure_group(&self) -> Result<(), StoreError> {
        let res: Result<Value, _> = self
            .client()
            .custom(
                custom("XGROUP", false),
                vec![
                    Value::from("CREATE"),
                    self.keys.work().into(),
                    WORK_GROUP.into(),
                    "0".into(),
                    "MKSTREAM".into(),
                ],
            )
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.details().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// `SET key value NX PX ttl`: whether it was set.
    async fn set_nx(&self, key: String, value: &str, ttl: Duration) -> Result<bool, StoreError> {
        let res: Option<String> = self
            .client()
            .set(
                key,
                value,
                Some(Expiration::PX(ms(ttl))),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(err)?;
        Ok(res.is_some())
    }

    async fn eval<R: FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<Value>,
    ) -> Result<R, StoreError> {
        script
            .evalsha_with_reload(self.client(), keys, args)
            .await
            .map_err(err)
    }
}

fn parse_stream_entries(v: Value) -> Vec<Signal> {
    // [[id, [field, value, ...]], ...]; deleted entries come back with a nil body.
    let mut out = Vec::new();
    for entry in v.into_array() {
        let mut parts = entry.into_array().into_iter();
        let (Some(id), Some(body)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(id) = id.as_string() else { continue };
        let fields = body.into_array();
        let chat = fields
            .chunks(2)
            .find(|kv| kv.first().and_then(|k| k.as_str()).as_deref() == Some("chat"))
            .and_then(|kv| kv.get(1).and_then(|v| v.as_string()));
        if let Some(chat_id) = chat {
            out.push(Signal { id, chat_id });
        }
    }
    out
}

fn decode_entries(raw: Vec<String>) -> Vec<HistoryEntry> {
    raw.iter().filter_map(|r| serde_json::from_str(r).ok()).collect()
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(err)
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let opts = Options {
            timeout: Some(Duration::from_secs(1)),
            fail_fast: true,
            ..Default::default()
        };
        self.client()
            .with_options(&opts)
            .ping::<()>(None)
            .await
            .map_err(err)
    }

    async fn accept(
        &self,
        dedupe_key: &str,
        dedupe_ttl: Duration,
        env: &Envelope,
    ) -> Result<Accept, StoreError> {
        let keys = vec![
            self.keys.dedupe(dedupe_key),
            self.keys.inbox(env.chat_id()),
            self.keys.work(),
        ];
        let args: Vec<Value> = vec![
            (dedupe_ttl.as_secs().max(1) as i64).into(),
            encode(env)?.into(),
            env.chat_id().into(),
            (WORK_STREAM_MAXLEN as i64).into(),
        ];
        let n: i64 = self.eval(&self.scripts.accept, keys, args).await?;
        Ok(if n == 1 {
            Accept::Accepted
        } else {
            Accept::Duplicate
        })
    }

    async fn next_signals(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Signal>, StoreError> {
        let args: Vec<Value> = vec![
            "GROUP".into(),
            WORK_GROUP.into(),
            consumer.into(),
            "COUNT".into(),
            (max.max(1) as i64).into(),
            "BLOCK".into(),
            ms(block).into(),
            "STREAMS".into(),
            self.keys.work().into(),
            ">".into(),
        ];
        let opts = Options {
            timeout: Some(block + COMMAND_TIMEOUT),
            ..Default::default()
        };
        let res: Result<Value, _> = self
            .blocking
            .with_options(&opts)
            .custom(custom("XREADGROUP", true), args)
            .await;
        let v = match res {
            Ok(v) => v,
            Err(e) if e.details().contains("NOGROUP") => {
                self.ensure_group().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(err(e)),
        };
        if v.is_null() {
            return Ok(Vec::new());
        }
        // RESP2: [[stream, [[id, fields]...]]]; RESP3 may answer a map {stream: [...]}.
        let entries = match v {
            Value::Map(map) => map.inner().into_iter().next().map(|(_, v)| v),
            other => other
                .into_array()
                .into_iter()
                .next()
                .and_then(|s| s.into_array().into_iter().nth(1)),
        };
        Ok(entries.map(parse_stream_entries).unwrap_or_default())
    }

    async fn ack_signal(&self, signal: &Signal) -> Result<(), StoreError> {
        let args: Vec<Value> = vec![WORK_GROUP.into(), signal.id.clone().into()];
        self.eval::<i64>(&self.scripts.ack, vec![self.keys.work()], args)
            .await
            .map(|_| ())
    }

    async fn reclaim_signals(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Signal>, StoreError> {
        let args: Vec<Value> = vec![
            self.keys.work().into(),
            WORK_GROUP.into(),
            consumer.into(),
            ms(min_idle).into(),
            "0-0".into(),
            "COUNT".into(),
            (count as i64).into(),
        ];
        let res: Result<Value, _> = self.client().custom(custom("XAUTOCLAIM", false), args).await;
        match res {
            Ok(v) => Ok(v
                .into_array()
                .into_iter()
                .nth(1)
                .map(parse_stream_entries)
                .unwrap_or_default()),
            Err(e) if e.details().contains("NOGROUP") => self.ensure_group().await.map(|_| Vec::new()),
            Err(e) => Err(err(e)),
        }
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let client = self.client();
        let n: i64 = client.xlen(self.keys.work()).await.map_err(err)?;
        let dead: i64 = client.hlen(self.keys.dlq()).await.map_err(err)?;
        let first: Value = client
            .custom(
                custom("XRANGE", false),
                vec![
                    Value::from(self.keys.work()),
                    "-".into(),
                    "+".into(),
                    "COUNT".into(),
                    1.into(),
                ],
            )
            .await
            .map_err(err)?;
        let oldest_ms = first
            .into_array()
            .into_iter()
            .next()
            .and_then(|e| e.into_array().into_iter().next())
            .and_then(|id| id.as_string())
            .and_then(|id| id.split('-').next().and_then(|ms| ms.parse::<i64>().ok()));
        Ok(QueueStats {
            pending_signals: n.max(0) as u64,
            oldest_age_ms: oldest_ms.map(|t| (crate::domain::now_ms() - t).max(0)),
            dead_letters: dead.max(0) as u64,
        })
    }

    async fn signal(&self, chat_id: &str) -> Result<(), StoreError> {
        let args: Vec<Value> = vec![
            self.keys.work().into(),
            "MAXLEN".into(),
            "~".into(),
            (WORK_STREAM_MAXLEN as i64).into(),
            "*".into(),
            "chat".into(),
            chat_id.into(),
        ];
        self.client()
            .custom::<Value, _>(custom("XADD", false), args)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.set_nx(self.keys.lock(name), holder, ttl).await
    }

    async fn acquire_lease(&self, chat_id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.set_nx(self.keys.lease(chat_id), holder, ttl).await
    }

    async fn renew_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        signal: &Signal,
        consumer: &str,
    ) -> Result<bool, StoreError> {
        let keys = vec![self.keys.lease(chat_id), self.keys.work()];
        let args: Vec<Value> = vec![
            holder.into(),
            ms(ttl).into(),
            WORK_GROUP.into(),
            consumer.into(),
            signal.id.clone().into(),
        ];
        let n: i64 = self.eval(&self.scripts.renew, keys, args).await?;
        Ok(n == 1)
    }

    async fn release_lease_if_idle(&self, chat_id: &str, holder: &str) -> Result<Release, StoreError> {
        let keys = vec![self.keys.lease(chat_id), self.keys.inbox(chat_id)];
        let n: i64 = self
            .eval(&self.scripts.release_if_idle, keys, vec![holder.into()])
            .await?;
        Ok(match n {
            1 => Release::Released,
            0 => Release::WorkWaiting,
            _ => Release::Lost,
        })
    }

    async fn release_lease(&self, chat_id: &str, holder: &str) -> Result<(), StoreError> {
        let keys = vec![self.keys.lease(chat_id)];
        self.eval::<i64>(&self.scripts.release, keys, vec![holder.into()])
            .await
            .map(|_| ())
    }

    async fn inbox(&self, chat_id: &str) -> Result<Vec<Envelope>, StoreError> {
        let raw: Vec<String> = self
            .client()
            .lrange(self.keys.inbox(chat_id), 0, -1)
            .await
            .map_err(err)?;
        let mut out = Vec::with_capacity(raw.len());
        for r in raw {
            match serde_json::from_str(&r) {
                Ok(env) => out.push(env),
                // An envelope this version cannot read stays counted, so the turn still consumes it.
                Err(e) => return Err(StoreError(format!("unreadable inbox entry of {chat_id}: {e}"))),
            }
        }
        Ok(out)
    }

    async fn commit_turn(&self, chat_id: &str, turn: &TurnCommit<'_>) -> Result<(), StoreError> {
        let keys = vec![
            self.keys.history(chat_id),
            self.keys.inbox(chat_id),
            self.keys.outbox(chat_id),
            self.keys.outbox_chats(),
            self.keys.dlq(),
            self.keys.intent(chat_id),
        ];
        let (dlq_id, dlq_json) = turn.dead_letter.unwrap_or(("", ""));
        let mut args: Vec<Value> = vec![
            (turn.window as i64).into(),
            ms(turn.ttl).into(),
            (turn.consumed as i64).into(),
            (turn.entries.len() as i64).into(),
            (turn.mirror_jobs.len() as i64).into(),
            dlq_id.into(),
            dlq_json.into(),
            chat_id.into(),
        ];
        for e in turn.entries {
            args.push(encode(e)?.into());
        }
        for j in turn.mirror_jobs {
            args.push(j.clone().into());
        }
        self.eval::<i64>(&self.scripts.commit, keys, args)
            .await
            .map(|_| ())
    }

    async fn send_intent(&self, chat_id: &str) -> Result<Option<SendIntent>, StoreError> {
        let fields: Vec<(String, String)> = self
            .client()
            .hgetall::<std::collections::HashMap<String, String>, _>(self.keys.intent(chat_id))
            .await
            .map_err(err)?
            .into_iter()
            .collect();
        Ok(SendIntent::from_fields(&fields))
    }

    async fn record_send_intent(
        &self,
        chat_id: &str,
        intent: &SendIntent,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let args: Vec<Value> = vec![encode(intent)?.into(), ms(ttl).into()];
        self.eval::<i64>(&self.scripts.record_intent, vec![self.keys.intent(chat_id)], args)
            .await
            .map(|_| ())
    }

    async fn mark_intent_sent(
        &self,
        chat_id: &str,
        part: usize,
        gateway_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let args: Vec<Value> = vec![
            SendIntent::sent_field(part).into(),
            gateway_id.unwrap_or_default().into(),
        ];
        self.eval::<i64>(&self.scripts.mark_intent, vec![self.keys.intent(chat_id)], args)
            .await
            .map(|_| ())
    }

    async fn history(&self, chat_id: &str) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        let raw: Vec<String> = self
            .client()
            .lrange(self.keys.history(chat_id), 0, -1)
            .await
            .map_err(err)?;
        Ok((!raw.is_empty()).then(|| decode_entries(raw)))
    }

    async fn fill_history(
        &self,
        chat_id: &str,
        entries: &[HistoryEntry],
        window: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut args: Vec<Value> = vec![(window as i64).into(), ms(ttl).into()];
        for e in entries {
            args.push(encode(e)?.into());
        }
        self.eval::<i64>(&self.scripts.fill, vec![self.keys.history(chat_id)], args)
            .await
            .map(|_| ())
    }

    async fn get_value(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.client().get(self.keys.raw(key)).await.map_err(err)
    }

    async fn set_value(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        let exp = ttl.map(|t| Expiration::PX(ms(t)));
        self.client()
            .set::<(), _, _>(self.keys.raw(key), value, exp, None, false)
            .await
            .map_err(err)
    }

    async fn delete_value(&self, key: &str) -> Result<(), StoreError> {
        self.client().del::<(), _>(self.keys.raw(key)).await.map_err(err)
    }

    async fn outbox_peek(&self, chat_id: &str, n: usize) -> Result<Vec<String>, StoreError> {
        let end = i64::try_from(n).unwrap_or(i64::MAX) - 1;
        self.client()
            .lrange(self.keys.outbox(chat_id), 0, end)
            .await
            .map_err(err)
    }

    async fn outbox_pop(&self, chat_id: &str, job: &str) -> Result<(), StoreError> {
        let keys = vec![self.keys.outbox(chat_id), self.keys.outbox_chats()];
        self.eval::<i64>(&self.scripts.outbox_pop, keys, vec![job.into(), chat_id.into()])
            .await
            .map(|_| ())
    }

    async fn outbox_replace_head(&self, chat_id: &str, old: &str, new: &str) -> Result<(), StoreError> {
        let keys = vec![self.keys.outbox(chat_id)];
        self.eval::<i64>(&self.scripts.outbox_replace, keys, vec![old.into(), new.into()])
            .await
            .map(|_| ())
    }

    async fn dead_letters(&self) -> Result<Vec<String>, StoreError> {
        self.client().hvals(self.keys.dlq()).await.map_err(err)
    }

    async fn replay_dead_letter(
        &self,
        id: &str,
        chat_id: &str,
        envelopes: &[Envelope],
    ) -> Result<bool, StoreError> {
        let keys = vec![self.keys.dlq(), self.keys.inbox(chat_id), self.keys.work()];
        let mut args: Vec<Value> = vec![id.into(), chat_id.into(), (WORK_STREAM_MAXLEN as i64).into()];
        for env in envelopes {
            args.push(encode(env)?.into());
        }
        let n: i64 = self.eval(&self.scripts.replay, keys, args).await?;
        Ok(n == 1)
    }

    async fn outbox_chats(&self) -> Result<Vec<String>, StoreError> {
        self.client()
            .smembers(self.keys.outbox_chats())
            .await
            .map_err(err)
    }

    async fn migrate(
        &self,
        window: usize,
        ttl: Duration,
    ) -> Result<super::migrations::MigrationReport, StoreError> {
        super::migrations::run(self, window, ttl).await
    }
}
