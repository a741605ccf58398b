//! Chat leases and consumer names for [`RedisStore`]: the `lease:{chat}` and `consumer:{name}`
//! strings, each changed by one script (renew also refreshes the signal's pending entry) or one
//! command, so a holder is replaced only by the rules in [`crate::store`].

use std::time::Duration;

use fred::prelude::*;
use fred::types::Value;

use super::{RedisStore, err, ms};
use crate::store::keys::WORK_GROUP;
use crate::store::{Release, Signal, StoreError};

/// [`Store::renew_lease`](crate::store::Store::renew_lease).
pub(super) async fn renew(
    store: &RedisStore,
    chat_id: &str,
    holder: &str,
    ttl: Duration,
    signal: &Signal,
    consumer: &str,
) -> Result<bool, StoreError> {
    let keys = vec![store.keys.lease(chat_id), store.keys.work()];
    let args: Vec<Value> = vec![
        holder.into(),
        ms(ttl).into(),
        WORK_GROUP.into(),
        consumer.into(),
        signal.id.clone().into(),
    ];
    let n: i64 = store.eval(&store.scripts.renew, keys, args).await?;
    Ok(n == 1)
}

/// [`Store::release_lease_if_idle`](crate::store::Store::release_lease_if_idle).
pub(super) async fn release_if_idle(
    store: &RedisStore,
    chat_id: &str,
    holder: &str,
) -> Result<Release, StoreError> {
    let keys = vec![store.keys.lease(chat_id), store.keys.inbox(chat_id)];
    let n: i64 = store
        .eval(&store.scripts.release_if_idle, keys, vec![holder.into()])
        .await?;
    Ok(match n {
        1 => Release::Released,
        0 => Release::WorkWaiting,
        _ => Release::Lost,
    })
}

/// [`Store::release_lease`](crate::store::Store::release_lease).
pub(super) async fn release(store: &RedisStore, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
    let keys = vec![store.keys.lease(chat_id)];
    let n: i64 = store
        .eval(&store.scripts.release, keys, vec![holder.into()])
        .await?;
    Ok(n == 1)
}

/// [`Store::holds_lease`](crate::store::Store::holds_lease).
pub(super) async fn holds(store: &RedisStore, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
    let current: Option<String> = store.client().get(store.keys.lease(chat_id)).await.map_err(err)?;
    Ok(current.as_deref() == Some(holder))
}

/// [`Store::take_lease`](crate::store::Store::take_lease).
pub(super) async fn take(
    store: &RedisStore,
    chat_id: &str,
    holder: &str,
    ttl: Duration,
    prefix: &str,
    keep: &str,
) -> Result<bool, StoreError> {
    let args: Vec<Value> = vec![holder.into(), ms(ttl).into(), prefix.into(), keep.into()];
    let n: i64 = store
        .eval(&store.scripts.take_lease, vec![store.keys.lease(chat_id)], args)
        .await?;
    Ok(n == 1)
}

/// [`Store::claim_consumer`](crate::store::Store::claim_consumer).
pub(super) async fn claim_consumer(
    store: &RedisStore,
    name: &str,
    instance: &str,
    ttl: Duration,
) -> Result<Option<String>, StoreError> {
    let args: Vec<Value> = vec![instance.into(), ms(ttl).into()];
    store
        .eval(
            &store.scripts.claim_consumer,
            vec![store.keys.consumer(name)],
            args,
        )
        .await
}

/// [`Store::refresh_consumer`](crate::store::Store::refresh_consumer).
pub(super) async fn refresh_consumer(
    store: &RedisStore,
    name: &str,
    instance: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let args: Vec<Value> = vec![instance.into(), ms(ttl).into()];
    let n: i64 = store
        .eval(
            &store.scripts.refresh_consumer,
            vec![store.keys.consumer(name)],
            args,
        )
        .await?;
    Ok(n == 1)
}

/// [`Store::release_consumer`](crate::store::Store::release_consumer).
pub(super) async fn release_consumer(
    store: &RedisStore,
    name: &str,
    instance: &str,
) -> Result<(), StoreError> {
    let keys = vec![store.keys.consumer(name)];
    store
        .eval::<i64>(&store.scripts.release, keys, vec![instance.into()])
        .await
        .map(|_| ())
}
