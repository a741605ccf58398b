//! The Redis side of the playground chats' event logs (see [`crate::store::event_log`]): one stream per
//! chat (`web-events:{chat}`), appended with `XADD MAXLEN` + `PEXPIRE` in one script and read with an
//! exclusive `XRANGE`, so ids are Redis stream ids and strictly increase within a chat.

use std::sync::LazyLock;
use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{ClusterHash, CustomCommand, Value};

use super::RedisStore;
use crate::store::StoreError;
use crate::store::event_log::{EventId, LoggedEvent};

/// KEYS: the chat's stream. ARGV: cap, event, ttl_ms. Returns the new id.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id
"#,
    )
});

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

pub(super) async fn append(
    store: &RedisStore,
    chat_id: &str,
    body: &str,
    cap: usize,
    ttl: Duration,
) -> Result<EventId, StoreError> {
    let key = store.keys.web_events(chat_id);
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let args: Vec<Value> = vec![(cap.max(1) as i64).into(), body.into(), ttl_ms.into()];
    let id: String = APPEND
        .evalsha_with_reload(store.client(), vec![key], args)
        .await
        .map_err(err)?;
    id.parse()
        .map_err(|_| StoreError(format!("Redis answered an odd stream id {id:?}")))
}

pub(super) async fn after(
    store: &RedisStore,
    chat_id: &str,
    after: Option<EventId>,
    max: usize,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
    let args: Vec<Value> = vec![
        store.keys.web_events(chat_id).into(),
        start.into(),
        "+".into(),
        "COUNT".into(),
        (max.max(1) as i64).into(),
    ];
    let command = CustomCommand::new("XRANGE", ClusterHash::FirstKey, false);
    let v: Value = store.client().custom(command, args).await.map_err(err)?;
    // [[id, [field, value, ...]], ...]
    let mut out = Vec::new();
    for entry in v.into_array() {
        let mut parts = entry.into_array().into_iter();
        let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(id) = id.as_string().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let fields = fields.into_array();
        let body = fields
            .chunks(2)
            .find(|kv| kv.first().and_then(|k| k.as_str()).as_deref() == Some("e"))
            .and_then(|kv| kv.get(1).and_then(|v| v.as_string()));
        if let Some(body) = body {
            out.push(LoggedEvent { id, body });
        }
    }
    Ok(out)
}
