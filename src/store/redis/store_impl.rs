//! [`Store`] for [`RedisStore`]: every operation of the trait, each one command or one script.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::Value;

use super::{
    COMMAND_TIMEOUT, RedisStore, custom, decode_entries, encode, err, ms, parse_stream_entries,
    stream_reply_entries,
};
use crate::domain::{Envelope, HistoryEntry};
use crate::store::event_log::{EventId, LoggedEvent};
use crate::store::keys::{WORK_GROUP, WORK_STREAM_MAXLEN};
use crate::store::keyspace::Keyspace;
use crate::store::{Accept, Marker, QueueStats, Release, SendIntent, Signal, Store, StoreError, TurnCommit};

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
        Ok(stream_reply_entries(v))
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
        if count == 0 {
            // `XAUTOCLAIM … COUNT 0` is an error; nothing asked, nothing claimed.
            return Ok(Vec::new());
        }
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

    async fn release_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        let keys = vec![self.keys.lease(chat_id)];
        let n: i64 = self
            .eval(&self.scripts.release, keys, vec![holder.into()])
            .await?;
        Ok(n == 1)
    }

    async fn holds_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        let current: Option<String> = self.client().get(self.keys.lease(chat_id)).await.map_err(err)?;
        Ok(current.as_deref() == Some(holder))
    }

    async fn take_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        prefix: &str,
        keep: &str,
    ) -> Result<bool, StoreError> {
        let args: Vec<Value> = vec![holder.into(), ms(ttl).into(), prefix.into(), keep.into()];
        let n: i64 = self
            .eval(&self.scripts.take_lease, vec![self.keys.lease(chat_id)], args)
            .await?;
        Ok(n == 1)
    }

    async fn own_pending(&self, consumer: &str, max: usize) -> Result<Vec<Signal>, StoreError> {
        let args: Vec<Value> = vec![
            "GROUP".into(),
            WORK_GROUP.into(),
            consumer.into(),
            "COUNT".into(),
            (max.max(1) as i64).into(),
            "STREAMS".into(),
            self.keys.work().into(),
            "0".into(),
        ];
        let res: Result<Value, _> = self.client().custom(custom("XREADGROUP", false), args).await;
        match res {
            Ok(v) => Ok(stream_reply_entries(v)),
            Err(e) if e.details().contains("NOGROUP") => self.ensure_group().await.map(|_| Vec::new()),
            Err(e) => Err(err(e)),
        }
    }

    async fn claim_consumer(
        &self,
        name: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let args: Vec<Value> = vec![instance.into(), ms(ttl).into()];
        self.eval(&self.scripts.claim_consumer, vec![self.keys.consumer(name)], args)
            .await
    }

    async fn refresh_consumer(&self, name: &str, instance: &str, ttl: Duration) -> Result<bool, StoreError> {
        let args: Vec<Value> = vec![instance.into(), ms(ttl).into()];
        let n: i64 = self
            .eval(
                &self.scripts.refresh_consumer,
                vec![self.keys.consumer(name)],
                args,
            )
            .await?;
        Ok(n == 1)
    }

    async fn release_consumer(&self, name: &str, instance: &str) -> Result<(), StoreError> {
        let keys = vec![self.keys.consumer(name)];
        self.eval::<i64>(&self.scripts.release, keys, vec![instance.into()])
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
        crate::store::check_window(turn.window, turn.entries.len())?;
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
        crate::store::check_window(window, entries.len())?;
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

    async fn drop_history_front(&self, chat_id: &str, n: usize) -> Result<(), StoreError> {
        if n == 0 {
            return Ok(());
        }
        self.client()
            .ltrim::<(), _>(self.keys.history(chat_id), n as i64, -1)
            .await
            .map_err(err)
    }

    async fn chat_state(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        self.client()
            .get(self.keys.chat_state(chat_id))
            .await
            .map_err(err)
    }

    async fn save_chat_state(&self, chat_id: &str, json: &str, ttl: Duration) -> Result<(), StoreError> {
        self.set_px(self.keys.chat_state(chat_id), json, ttl).await
    }

    async fn summary(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        self.client().get(self.keys.summary(chat_id)).await.map_err(err)
    }

    async fn save_summary(&self, chat_id: &str, summary: &str, ttl: Duration) -> Result<(), StoreError> {
        self.set_px(self.keys.summary(chat_id), summary, ttl).await
    }

    async fn has_marker(&self, marker: Marker<'_>) -> Result<bool, StoreError> {
        let n: i64 = self
            .client()
            .exists(self.keys.marker(marker))
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn set_marker(&self, marker: Marker<'_>, ttl: Duration) -> Result<(), StoreError> {
        self.set_px(self.keys.marker(marker), "1", ttl).await
    }

    async fn clear_marker(&self, marker: Marker<'_>) -> Result<(), StoreError> {
        self.client()
            .del::<(), _>(self.keys.marker(marker))
            .await
            .map_err(err)
    }

    async fn outbox_peek(&self, chat_id: &str, n: usize) -> Result<Vec<String>, StoreError> {
        if n == 0 {
            // `LRANGE key 0 -1` would answer the whole list.
            return Ok(Vec::new());
        }
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

    async fn append_chat_event(
        &self,
        chat_id: &str,
        body: &str,
        cap: usize,
        ttl: Duration,
    ) -> Result<EventId, StoreError> {
        super::event_log::append(self, chat_id, body, cap, ttl).await
    }

    async fn chat_events_after(
        &self,
        chat_id: &str,
        after: Option<EventId>,
        max: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        super::event_log::after(self, chat_id, after, max).await
    }

    fn keyspace(&self) -> Option<&dyn Keyspace> {
        Some(self)
    }
}
