//! [`Store`] for [`RedisStore`]: every operation of the trait, each one command or one script.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::*;
use fred::types::Value;

use super::{RedisStore, decode_entries, encode, err, ms};
use crate::domain::{Envelope, HistoryEntry};
use crate::store::event_log::{EventId, LoggedEvent};
use crate::store::keys::WORK_STREAM_MAXLEN;
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
        super::stream::next_signals(self, consumer, max, block).await
    }

    async fn ack_signal(&self, signal: &Signal) -> Result<(), StoreError> {
        super::stream::ack_signal(self, signal).await
    }

    async fn reclaim_signals(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Signal>, StoreError> {
        super::stream::reclaim_signals(self, consumer, min_idle, count).await
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        super::stream::queue_stats(self).await
    }

    async fn signal(&self, chat_id: &str) -> Result<(), StoreError> {
        super::stream::signal(self, chat_id).await
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
        super::lease::renew(self, chat_id, holder, ttl, signal, consumer).await
    }

    async fn release_lease_if_idle(&self, chat_id: &str, holder: &str) -> Result<Release, StoreError> {
        super::lease::release_if_idle(self, chat_id, holder).await
    }

    async fn release_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        super::lease::release(self, chat_id, holder).await
    }

    async fn holds_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        super::lease::holds(self, chat_id, holder).await
    }

    async fn take_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        prefix: &str,
        keep: &str,
    ) -> Result<bool, StoreError> {
        super::lease::take(self, chat_id, holder, ttl, prefix, keep).await
    }

    async fn own_pending(&self, consumer: &str, max: usize) -> Result<Vec<Signal>, StoreError> {
        super::stream::own_pending(self, consumer, max).await
    }

    async fn claim_consumer(
        &self,
        name: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        super::lease::claim_consumer(self, name, instance, ttl).await
    }

    async fn refresh_consumer(&self, name: &str, instance: &str, ttl: Duration) -> Result<bool, StoreError> {
        super::lease::refresh_consumer(self, name, instance, ttl).await
    }

    async fn release_consumer(&self, name: &str, instance: &str) -> Result<(), StoreError> {
        super::lease::release_consumer(self, name, instance).await
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
        super::intent::send_intent(self, chat_id).await
    }

    async fn record_send_intent(
        &self,
        chat_id: &str,
        intent: &SendIntent,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        super::intent::record_send_intent(self, chat_id, intent, ttl).await
    }

    async fn mark_intent_sent(
        &self,
        chat_id: &str,
        part: usize,
        gateway_id: Option<&str>,
    ) -> Result<(), StoreError> {
        super::intent::mark_intent_sent(self, chat_id, part, gateway_id).await
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
