//! The embedded store: the same semantics as Redis inside one process, for running without
//! `REDIS_URL`. Everything is lost on restart, and only one instance can use it.
//!
//! It is built as a twin of [`super::redis::RedisStore`]: [`state`] keeps the data as Redis keeps
//! it (one map per key family, expiring values with their deadline on the store's [`Clock`]) with
//! the plain commands, and [`scripts`] has one function per Lua script. Invariants, beyond those of
//! [`super`]: the same caps (the work stream's `MAXLEN`, the event logs' caps, the history window)
//! and the same TTLs (the dedupe marker in whole seconds, as `SET … EX` keeps it) as Redis; one lock
//! around all of it, so every operation is as atomic as its script. `tests/store_model.rs` proves the
//! two stores alike on random sequences of every operation.
//!
//! [`Clock`]: crate::clock::Clock

mod scripts;
mod state;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::keys::Keys;
use super::{
    Accept, EventId, LoggedEvent, Marker, QueueStats, Release, SendIntent, Signal, Store, StoreError,
    TurnCommit,
};
use crate::clock::SharedClock;
use crate::domain::{Envelope, HistoryEntry};
use state::{State, ms};

/// In-process twin of [`super::redis::RedisStore`].
pub struct MemoryStore {
    state: Mutex<State>,
    signalled: Notify,
    clock: SharedClock,
    /// The keys of the small values, built as Redis builds them (no prefix: one store, one map).
    keys: Keys,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_clock(crate::clock::system())
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose expiries run on `clock` (a test's manual clock moves them).
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            state: Mutex::new(State::default()),
            signalled: Notify::new(),
            clock,
            keys: Keys::new(""),
        }
    }

    /// The time left before key `key` (named without prefix, as [`Keys`] names it under an empty
    /// prefix: `lease:{chat}`, `seen:{id}`, …) expires, as Redis's `PTTL` answers it; `None` when the
    /// key is absent or does not expire.
    pub fn ttl(&self, key: &str) -> Option<Duration> {
        let now = self.now();
        self.lock()
            .expiry(&self.keys, key, now)
            .map(|left| Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked mid-update of plain maps; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Run `f` under the lock with the clock's now.
    fn with<R>(&self, f: impl FnOnce(&mut State, i64) -> R) -> R {
        let now = self.now();
        f(&mut self.lock(), now)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn accept(
        &self,
        dedupe_key: &str,
        dedupe_ttl: Duration,
        env: &Envelope,
    ) -> Result<Accept, StoreError> {
        if !self.with(|s, now| s.accept(dedupe_key, dedupe_ttl, env, now)) {
            return Ok(Accept::Duplicate);
        }
        self.signalled.notify_one();
        Ok(Accept::Accepted)
    }

    async fn next_signals(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Signal>, StoreError> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            let notified = self.signalled.notified();
            let (batch, more) = self.with(|s, now| {
                let batch = s.read_new(consumer, max, now);
                let more = s.stream.values().any(|e| e.delivered.is_none());
                (batch, more)
            });
            if more {
                self.signalled.notify_one();
            }
            if !batch.is_empty() {
                return Ok(batch);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack_signal(&self, signal: &Signal) -> Result<(), StoreError> {
        self.lock().ack(&signal.id);
        Ok(())
    }

    async fn reclaim_signals(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Signal>, StoreError> {
        Ok(self.with(|s, now| s.autoclaim(consumer, ms(min_idle), count, now)))
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        self.with(|s, now| {
            let oldest = s.stream.first_key_value().map(|(id, _)| {
                let t = i64::try_from(id.0).unwrap_or(i64::MAX);
                (now - t).max(0)
            });
            Ok(QueueStats {
                pending_signals: s.stream.len() as u64,
                oldest_age_ms: oldest,
                dead_letters: s.dead_letters.len() as u64,
            })
        })
    }

    async fn signal(&self, chat_id: &str) -> Result<(), StoreError> {
        self.with(|s, now| s.xadd(chat_id, now));
        self.signalled.notify_one();
        Ok(())
    }

    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| State::set_nx(&mut s.locks, name, holder, now + ms(ttl), now)))
    }

    async fn acquire_lease(&self, chat_id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| State::set_nx(&mut s.leases, chat_id, holder, now + ms(ttl), now)))
    }

    async fn renew_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        signal: &Signal,
        consumer: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| s.renew(chat_id, holder, ttl, &signal.id, consumer, now)))
    }

    async fn release_lease_if_idle(&self, chat_id: &str, holder: &str) -> Result<Release, StoreError> {
        Ok(self.with(|s, now| s.release_if_idle(chat_id, holder, now)))
    }

    async fn release_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| s.release(chat_id, holder, now)))
    }

    async fn holds_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| s.lease_holder(chat_id, now) == Some(holder)))
    }

    async fn take_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        prefix: &str,
        keep: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| s.take_lease(chat_id, holder, ttl, prefix, keep, now)))
    }

    async fn own_pending(&self, consumer: &str, max: usize) -> Result<Vec<Signal>, StoreError> {
        Ok(self.with(|s, now| s.read_own_pending(consumer, max, now)))
    }

    async fn claim_consumer(
        &self,
        name: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.with(|s, now| s.claim_consumer(name, instance, ttl, now)))
    }

    async fn refresh_consumer(&self, name: &str, instance: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| s.refresh_consumer(name, instance, ttl, now)))
    }

    async fn release_consumer(&self, name: &str, instance: &str) -> Result<(), StoreError> {
        self.with(|s, now| s.release_consumer(name, instance, now));
        Ok(())
    }

    async fn inbox(&self, chat_id: &str) -> Result<Vec<Envelope>, StoreError> {
        let s = self.lock();
        Ok(s.inboxes
            .get(chat_id)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn commit_turn(&self, chat_id: &str, turn: &TurnCommit<'_>) -> Result<(), StoreError> {
        super::check_window(turn.window, turn.entries.len())?;
        self.with(|s, now| s.commit(chat_id, turn, now));
        Ok(())
    }

    async fn send_intent(&self, chat_id: &str) -> Result<Option<SendIntent>, StoreError> {
        Ok(self.with(|s, now| s.intent(chat_id, now).cloned()))
    }

    async fn record_send_intent(
        &self,
        chat_id: &str,
        intent: &SendIntent,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.with(|s, now| s.record_intent(chat_id, intent, ttl, now));
        Ok(())
    }

    async fn mark_intent_sent(
        &self,
        chat_id: &str,
        part: usize,
        gateway_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|s, now| s.mark_intent(chat_id, part, gateway_id, now));
        Ok(())
    }

    async fn history(&self, chat_id: &str) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        Ok(self.with(|s, now| s.live_history(chat_id, now).filter(|l| !l.is_empty()).cloned()))
    }

    async fn fill_history(
        &self,
        chat_id: &str,
        entries: &[HistoryEntry],
        window: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        super::check_window(window, entries.len())?;
        if !entries.is_empty() {
            self.with(|s, now| s.fill(chat_id, entries, window, ttl, now));
        }
        Ok(())
    }

    async fn drop_history_front(&self, chat_id: &str, n: usize) -> Result<(), StoreError> {
        self.with(|s, now| {
            if let Some(entries) = s.live_history(chat_id, now) {
                entries.drain(..n.min(entries.len()));
            }
        });
        Ok(())
    }

    async fn chat_state(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.with(|s, now| s.value(&self.keys.chat_state(chat_id), now)))
    }

    async fn save_chat_state(&self, chat_id: &str, json: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with(|s, now| s.set_value(self.keys.chat_state(chat_id), json, now + ms(ttl)));
        Ok(())
    }

    async fn summary(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.with(|s, now| s.value(&self.keys.summary(chat_id), now)))
    }

    async fn save_summary(&self, chat_id: &str, summary: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with(|s, now| s.set_value(self.keys.summary(chat_id), summary, now + ms(ttl)));
        Ok(())
    }

    async fn has_marker(&self, marker: Marker<'_>) -> Result<bool, StoreError> {
        Ok(self.with(|s, now| s.value(&self.keys.marker(marker), now).is_some()))
    }

    async fn set_marker(&self, marker: Marker<'_>, ttl: Duration) -> Result<(), StoreError> {
        self.with(|s, now| s.set_value(self.keys.marker(marker), "1", now + ms(ttl)));
        Ok(())
    }

    async fn clear_marker(&self, marker: Marker<'_>) -> Result<(), StoreError> {
        self.lock().values.remove(&self.keys.marker(marker));
        Ok(())
    }

    async fn outbox_peek(&self, chat_id: &str, n: usize) -> Result<Vec<String>, StoreError> {
        let s = self.lock();
        Ok(s.outboxes
            .get(chat_id)
            .map(|q| q.iter().take(n).cloned().collect())
            .unwrap_or_default())
    }

    async fn outbox_pop(&self, chat_id: &str, job: &str) -> Result<(), StoreError> {
        self.lock().outbox_pop(chat_id, job);
        Ok(())
    }

    async fn outbox_replace_head(&self, chat_id: &str, old: &str, new: &str) -> Result<(), StoreError> {
        self.lock().outbox_replace(chat_id, old, new);
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().dead_letters.values().cloned().collect())
    }

    async fn replay_dead_letter(
        &self,
        id: &str,
        chat_id: &str,
        envelopes: &[Envelope],
    ) -> Result<bool, StoreError> {
        if !self.with(|s, now| s.replay(id, chat_id, envelopes, now)) {
            return Ok(false);
        }
        self.signalled.notify_one();
        Ok(true)
    }

    async fn outbox_chats(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().outboxes.keys().cloned().collect())
    }

    async fn append_chat_event(
        &self,
        chat_id: &str,
        body: &str,
        cap: usize,
        ttl: Duration,
    ) -> Result<EventId, StoreError> {
        Ok(self.with(|s, now| s.append(chat_id, body, cap, ttl, now)))
    }

    async fn chat_events_after(
        &self,
        chat_id: &str,
        after: Option<EventId>,
        max: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        Ok(self.with(|s, now| s.events.after(chat_id, after, max, now)))
    }
}

#[cfg(test)]
mod tests;
