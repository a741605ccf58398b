//! The Redis store. Multi-key changes are Lua scripts (atomic on one Redis); the work stream is read
//! by a consumer group on a dedicated connection, because a blocking read would stall a pooled one.
//!
//! Redis must keep what it acknowledged across restarts for the "nothing answered 200 is lost" promise
//! to hold: run it with AOF (`appendonly yes`, `appendfsync everysec` or `always`).

//! The code is split by concern: `scripts` holds the Lua scripts of the [`Store`] operations,
//! `store_impl` the [`Store`] implementation, `stream` the work stream, `intent` the send intents, `keyspace` the narrow [`Keyspace`] interface keyspace
//! migrations use (the store never calls into them), and this file the connection and shared helpers.
//!
//! [`Store`]: super::Store
//! [`Keyspace`]: super::keyspace::Keyspace

mod event_log;
mod intent;
mod keyspace;
mod lease;
mod scripts;
mod store_impl;
mod stream;

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{ClusterHash, CustomCommand, Value};

use super::keys::{Keys, WORK_GROUP};
use super::{Signal, StoreError};
use crate::domain::HistoryEntry;
use scripts::Scripts;

/// Time a normal command may take before the store counts as unavailable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections in the shared pool. Few, so that concurrent commands queue on a connection and go out
/// together in one write (the client flushes when its queue is empty): Redis runs commands one at a
/// time anyway, and fewer, fuller writes cost both sides fewer system calls.
const POOL_SIZE: usize = 2;

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

    /// A client of the shared pool.
    fn client(&self) -> &Client {
        self.pool.next()
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

    /// `SET key value PX ttl`.
    async fn set_px(&self, key: String, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.client()
            .set::<(), _, _>(key, value, Some(Expiration::PX(ms(ttl))), None, false)
            .await
            .map_err(err)
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

/// The entries of an `XREADGROUP` reply on one stream.
pub(super) fn stream_reply_entries(v: Value) -> Vec<Signal> {
    if v.is_null() {
        return Vec::new();
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
    entries.map(parse_stream_entries).unwrap_or_default()
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
