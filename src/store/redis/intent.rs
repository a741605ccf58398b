//! Send intents for [`RedisStore`] (see [`crate::store::intent`]): the hash `intent:{chat}`, written
//! by the intent scripts and read whole.

use std::time::Duration;

use fred::prelude::*;
use fred::types::Value;

use super::{RedisStore, encode, err, ms};
use crate::store::{SendIntent, StoreError};

/// [`Store::send_intent`](crate::store::Store::send_intent).
pub(super) async fn send_intent(store: &RedisStore, chat_id: &str) -> Result<Option<SendIntent>, StoreError> {
    let fields: Vec<(String, String)> = store
        .client()
        .hgetall::<std::collections::HashMap<String, String>, _>(store.keys.intent(chat_id))
        .await
        .map_err(err)?
        .into_iter()
        .collect();
    Ok(SendIntent::from_fields(&fields))
}

/// [`Store::record_send_intent`](crate::store::Store::record_send_intent).
pub(super) async fn record_send_intent(
    store: &RedisStore,
    chat_id: &str,
    intent: &SendIntent,
    ttl: Duration,
) -> Result<(), StoreError> {
    let args: Vec<Value> = vec![encode(intent)?.into(), ms(ttl).into()];
    store
        .eval::<i64>(
            &store.scripts.record_intent,
            vec![store.keys.intent(chat_id)],
            args,
        )
        .await
        .map(|_| ())
}

/// [`Store::mark_intent_sent`](crate::store::Store::mark_intent_sent).
pub(super) async fn mark_intent_sent(
    store: &RedisStore,
    chat_id: &str,
    part: usize,
    gateway_id: Option<&str>,
) -> Result<(), StoreError> {
    let args: Vec<Value> = vec![
        SendIntent::sent_field(part).into(),
        gateway_id.unwrap_or_default().into(),
    ];
    store
        .eval::<i64>(&store.scripts.mark_intent, vec![store.keys.intent(chat_id)], args)
        .await
        .map(|_| ())
}
