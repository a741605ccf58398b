//! The work stream for [`RedisStore`]: signalling (`XADD`), acknowledging, the consumer group's reads (new entries, a
//! consumer's own pending ones), `XAUTOCLAIM` of entries idle too long, and the queue figures.
//! The stream is `work` under the prefix ([`crate::store::keys::Keys::work`]), read by the group
//! [`WORK_GROUP`]; entries are deleted when acknowledged, so its length is the pending work.

use std::time::Duration;

use fred::prelude::*;
use fred::types::Value;

use super::{COMMAND_TIMEOUT, RedisStore, custom, err, ms, parse_stream_entries, stream_reply_entries};
use crate::store::keys::{WORK_GROUP, WORK_STREAM_MAXLEN};
use crate::store::{QueueStats, Signal, StoreError};

/// [`Store::next_signals`](crate::store::Store::next_signals).
pub(super) async fn next_signals(
    store: &RedisStore,
    consumer: &str,
    max: usize,
    block: Duration,
) -> Result<Vec<Signal>, StoreError> {
    let mut args: Vec<Value> = vec![
        "GROUP".into(),
        WORK_GROUP.into(),
        consumer.into(),
        "COUNT".into(),
        (max.max(1) as i64).into(),
    ];
    // `BLOCK 0` would wait for ever: a wait under a millisecond is no wait, as on the embedded store.
    if ms(block) > 0 {
        args.extend(["BLOCK".into(), ms(block).into()]);
    }
    args.extend(["STREAMS".into(), store.keys.work().into(), ">".into()]);
    let opts = Options {
        timeout: Some(block + COMMAND_TIMEOUT),
        ..Default::default()
    };
    let res: Result<Value, _> = store
        .blocking
        .with_options(&opts)
        .custom(custom("XREADGROUP", true), args)
        .await;
    let v = match res {
        Ok(v) => v,
        Err(e) if e.details().contains("NOGROUP") => {
            store.ensure_group().await?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(err(e)),
    };
    Ok(stream_reply_entries(v))
}

/// [`Store::reclaim_signals`](crate::store::Store::reclaim_signals).
pub(super) async fn reclaim_signals(
    store: &RedisStore,
    consumer: &str,
    min_idle: Duration,
    count: usize,
) -> Result<Vec<Signal>, StoreError> {
    if count == 0 {
        // `XAUTOCLAIM … COUNT 0` is an error; nothing asked, nothing claimed.
        return Ok(Vec::new());
    }
    let args: Vec<Value> = vec![
        store.keys.work().into(),
        WORK_GROUP.into(),
        consumer.into(),
        ms(min_idle).into(),
        "0-0".into(),
        "COUNT".into(),
        (count as i64).into(),
    ];
    let res: Result<Value, _> = store.client().custom(custom("XAUTOCLAIM", false), args).await;
    match res {
        Ok(v) => Ok(v
            .into_array()
            .into_iter()
            .nth(1)
            .map(parse_stream_entries)
            .unwrap_or_default()),
        Err(e) if e.details().contains("NOGROUP") => store.ensure_group().await.map(|_| Vec::new()),
        Err(e) => Err(err(e)),
    }
}

/// [`Store::queue_stats`](crate::store::Store::queue_stats).
pub(super) async fn queue_stats(store: &RedisStore) -> Result<QueueStats, StoreError> {
    let client = store.client();
    let n: i64 = client.xlen(store.keys.work()).await.map_err(err)?;
    let dead: i64 = client.hlen(store.keys.dlq()).await.map_err(err)?;
    let first: Value = client
        .custom(
            custom("XRANGE", false),
            vec![
                Value::from(store.keys.work()),
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

/// [`Store::own_pending`](crate::store::Store::own_pending).
pub(super) async fn own_pending(
    store: &RedisStore,
    consumer: &str,
    max: usize,
) -> Result<Vec<Signal>, StoreError> {
    let args: Vec<Value> = vec![
        "GROUP".into(),
        WORK_GROUP.into(),
        consumer.into(),
        "COUNT".into(),
        (max.max(1) as i64).into(),
        "STREAMS".into(),
        store.keys.work().into(),
        "0".into(),
    ];
    let res: Result<Value, _> = store.client().custom(custom("XREADGROUP", false), args).await;
    match res {
        Ok(v) => Ok(stream_reply_entries(v)),
        Err(e) if e.details().contains("NOGROUP") => store.ensure_group().await.map(|_| Vec::new()),
        Err(e) => Err(err(e)),
    }
}

/// [`Store::ack_signal`](crate::store::Store::ack_signal).
pub(super) async fn ack_signal(store: &RedisStore, signal: &Signal) -> Result<(), StoreError> {
    let args: Vec<Value> = vec![WORK_GROUP.into(), signal.id.clone().into()];
    store
        .eval::<i64>(&store.scripts.ack, vec![store.keys.work()], args)
        .await
        .map(|_| ())
}

/// [`Store::signal`](crate::store::Store::signal).
pub(super) async fn signal(store: &RedisStore, chat_id: &str) -> Result<(), StoreError> {
    let args: Vec<Value> = vec![
        store.keys.work().into(),
        "MAXLEN".into(),
        "~".into(),
        (WORK_STREAM_MAXLEN as i64).into(),
        "*".into(),
        "chat".into(),
        chat_id.into(),
    ];
    store
        .client()
        .custom::<Value, _>(custom("XADD", false), args)
        .await
        .map(|_| ())
        .map_err(err)
}
