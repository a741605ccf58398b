//! The embedded store: the same semantics as Redis inside one process, for running without
//! `REDIS_URL`. Everything is lost on restart, and only one instance can use it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::keys::Keys;
use super::{
    Accept, EventId, LoggedEvent, Marker, QueueStats, Release, SendIntent, Signal, Store, StoreError,
    TurnCommit,
};
use crate::domain::{Envelope, HistoryEntry};

/// The keys of the small values, built as Redis builds them (without a prefix: one store, one map).
static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys::new(""));

/// In-process twin of [`super::redis::RedisStore`].
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    signalled: Notify,
    events: super::event_log::MemoryLogs,
}

#[derive(Default)]
struct State {
    dedupe: HashMap<String, Instant>,
    accepts_since_sweep: u32,
    inboxes: HashMap<String, VecDeque<Envelope>>,
    unread: VecDeque<Signal>,
    pending: HashMap<String, (String, Instant, String)>,
    next_signal_id: u64,
    leases: HashMap<String, (String, Instant)>,
    histories: HashMap<String, (Vec<HistoryEntry>, Instant)>,
    values: HashMap<String, (String, Instant)>,
    outboxes: HashMap<String, VecDeque<String>>,
    dead_letters: HashMap<String, String>,
    locks: HashMap<String, Instant>,
    consumers: HashMap<String, (String, Instant)>,
    intents: HashMap<String, (SendIntent, Instant)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another task panicked mid-update of plain maps; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn push_signal(&mut self, chat: &str) {
        self.next_signal_id += 1;
        let id = format!("{}-0", self.next_signal_id);
        self.unread.push_back(Signal {
            id,
            chat_id: chat.to_owned(),
        });
    }

    fn lease_holder(&self, chat: &str) -> Option<&str> {
        match self.leases.get(chat) {
            Some((holder, until)) if *until > Instant::now() => Some(holder.as_str()),
            _ => None,
        }
    }

    fn sweep_expired(&mut self) {
        let now = Instant::now();
        self.dedupe.retain(|_, until| *until > now);
        self.histories.retain(|_, (_, until)| *until > now);
        self.values.retain(|_, (_, until)| *until > now);
        self.leases.retain(|_, (_, until)| *until > now);
        self.intents.retain(|_, (_, until)| *until > now);
        self.accepts_since_sweep = 0;
    }

    fn value(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        self.values
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v.clone())
    }

    fn set_value(&mut self, key: String, value: &str, ttl: Duration) {
        self.values.insert(key, (value.to_owned(), Instant::now() + ttl));
    }

    fn live_history(&mut self, chat: &str) -> Option<&mut Vec<HistoryEntry>> {
        let now = Instant::now();
        match self.histories.get_mut(chat) {
            Some((entries, until)) if *until > now => Some(entries),
            _ => None,
        }
    }
}

fn append_unseen(list: &mut Vec<HistoryEntry>, entries: &[HistoryEntry]) {
    let mut seen: HashSet<String> = list.iter().map(|e| e.id.clone()).collect();
    for e in entries {
        if seen.insert(e.id.clone()) {
            list.push(e.clone());
        }
    }
}

fn trim(list: &mut Vec<HistoryEntry>, window: usize) {
    if list.len() > window {
        list.drain(..list.len() - window);
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
        {
            let mut s = self.lock();
            s.accepts_since_sweep += 1;
            if s.accepts_since_sweep >= 10_000 {
                s.sweep_expired();
            }
            let now = Instant::now();
            if s.dedupe.get(dedupe_key).is_some_and(|until| *until > now) {
                return Ok(Accept::Duplicate);
            }
            s.dedupe.insert(dedupe_key.to_owned(), now + dedupe_ttl);
            let chat = env.chat_id().to_owned();
            s.inboxes.entry(chat.clone()).or_default().push_back(env.clone());
            s.push_signal(&chat);
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
            {
                let mut s = self.lock();
                let n = max.max(1).min(s.unread.len());
                if n > 0 {
                    let now = Instant::now();
                    let batch: Vec<Signal> = s.unread.drain(..n).collect();
                    for sig in &batch {
                        s.pending
                            .insert(sig.id.clone(), (consumer.to_owned(), now, sig.chat_id.clone()));
                    }
                    if !s.unread.is_empty() {
                        self.signalled.notify_one();
                    }
                    return Ok(batch);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack_signal(&self, signal: &Signal) -> Result<(), StoreError> {
        self.lock().pending.remove(&signal.id);
        Ok(())
    }

    async fn reclaim_signals(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Signal>, StoreError> {
        let mut s = self.lock();
        let now = Instant::now();
        let mut out = Vec::new();
        for (id, (owner, since, chat)) in s.pending.iter_mut() {
            if out.len() >= count {
                break;
            }
            if now.duration_since(*since) >= min_idle {
                *owner = consumer.to_owned();
                *since = now;
                out.push(Signal {
                    id: id.clone(),
                    chat_id: chat.clone(),
                });
            }
        }
        Ok(out)
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let s = self.lock();
        let oldest = s
            .inboxes
            .values()
            .filter_map(|q| q.front().map(|e| e.accepted_ms))
            .min()
            .map(|t| (crate::domain::now_ms() - t).max(0));
        Ok(QueueStats {
            pending_signals: (s.unread.len() + s.pending.len()) as u64,
            oldest_age_ms: oldest,
            dead_letters: s.dead_letters.len() as u64,
        })
    }

    async fn signal(&self, chat_id: &str) -> Result<(), StoreError> {
        self.lock().push_signal(chat_id);
        self.signalled.notify_one();
        Ok(())
    }

    async fn try_lock(&self, name: &str, _holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let now = Instant::now();
        if s.locks.get(name).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        s.locks.insert(name.to_owned(), now + ttl);
        Ok(true)
    }

    async fn acquire_lease(&self, chat_id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.lease_holder(chat_id).is_some() {
            return Ok(false);
        }
        s.leases
            .insert(chat_id.to_owned(), (holder.to_owned(), Instant::now() + ttl));
        Ok(true)
    }

    async fn renew_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        signal: &Signal,
        consumer: &str,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.lease_holder(chat_id) != Some(holder) {
            return Ok(false);
        }
        let now = Instant::now();
        s.leases
            .insert(chat_id.to_owned(), (holder.to_owned(), now + ttl));
        if let Some(p) = s.pending.get_mut(&signal.id) {
            *p = (consumer.to_owned(), now, p.2.clone());
        }
        Ok(true)
    }

    async fn release_lease_if_idle(&self, chat_id: &str, holder: &str) -> Result<Release, StoreError> {
        let mut s = self.lock();
        if s.lease_holder(chat_id) != Some(holder) {
            return Ok(Release::Lost);
        }
        if s.inboxes.get(chat_id).is_some_and(|q| !q.is_empty()) {
            return Ok(Release::WorkWaiting);
        }
        s.inboxes.remove(chat_id);
        s.leases.remove(chat_id);
        Ok(Release::Released)
    }

    async fn release_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.lease_holder(chat_id) == Some(holder) {
            s.leases.remove(chat_id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn holds_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError> {
        Ok(self.lock().lease_holder(chat_id) == Some(holder))
    }

    async fn take_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        prefix: &str,
        keep: &str,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if let Some(h) = s.lease_holder(chat_id)
            && (!h.starts_with(prefix) || h.starts_with(keep))
        {
            return Ok(false);
        }
        s.leases
            .insert(chat_id.to_owned(), (holder.to_owned(), Instant::now() + ttl));
        Ok(true)
    }

    async fn own_pending(&self, consumer: &str, max: usize) -> Result<Vec<Signal>, StoreError> {
        let mut s = self.lock();
        let now = Instant::now();
        let mut out: Vec<Signal> = Vec::new();
        for (id, (owner, since, chat)) in s.pending.iter_mut() {
            if owner == consumer && out.len() < max {
                *since = now;
                out.push(Signal {
                    id: id.clone(),
                    chat_id: chat.clone(),
                });
            }
        }
        out.sort_by_key(|sig| sig.id.split('-').next().and_then(|n| n.parse::<u64>().ok()));
        Ok(out)
    }

    async fn claim_consumer(
        &self,
        name: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let mut s = self.lock();
        let now = Instant::now();
        let previous = s
            .consumers
            .insert(name.to_owned(), (instance.to_owned(), now + ttl))
            .filter(|(who, until)| *until > now && who != instance)
            .map(|(who, _)| who);
        Ok(previous)
    }

    async fn refresh_consumer(&self, name: &str, instance: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let now = Instant::now();
        if let Some((who, until)) = s.consumers.get(name)
            && *until > now
            && who != instance
        {
            return Ok(false);
        }
        s.consumers
            .insert(name.to_owned(), (instance.to_owned(), now + ttl));
        Ok(true)
    }

    async fn release_consumer(&self, name: &str, instance: &str) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.consumers.get(name).is_some_and(|(who, _)| who == instance) {
            s.consumers.remove(name);
        }
        Ok(())
    }

    async fn inbox(&self, chat_id: &str) -> Result<Vec<Envelope>, StoreError> {
        Ok(self
            .lock()
            .inboxes
            .get(chat_id)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn commit_turn(&self, chat_id: &str, turn: &TurnCommit<'_>) -> Result<(), StoreError> {
        let mut s = self.lock();
        if !turn.entries.is_empty() {
            let until = Instant::now() + turn.ttl;
            let list = match s.live_history(chat_id) {
                Some(list) => list,
                None => {
                    s.histories.insert(chat_id.to_owned(), (Vec::new(), until));
                    &mut s.histories.get_mut(chat_id).expect("just inserted").0
                }
            };
            append_unseen(list, turn.entries);
            trim(list, turn.window);
            if let Some(h) = s.histories.get_mut(chat_id) {
                h.1 = until;
            }
        }
        if let Some(q) = s.inboxes.get_mut(chat_id) {
            let n = turn.consumed.min(q.len());
            q.drain(..n);
        }
        if !turn.mirror_jobs.is_empty() {
            s.outboxes
                .entry(chat_id.to_owned())
                .or_default()
                .extend(turn.mirror_jobs.iter().cloned());
        }
        if let Some((id, json)) = turn.dead_letter {
            s.dead_letters.insert(id.to_owned(), json.to_owned());
        }
        s.intents.remove(chat_id);
        Ok(())
    }

    async fn send_intent(&self, chat_id: &str) -> Result<Option<SendIntent>, StoreError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .intents
            .get(chat_id)
            .filter(|(_, until)| *until > now)
            .map(|(intent, _)| intent.clone()))
    }

    async fn record_send_intent(
        &self,
        chat_id: &str,
        intent: &SendIntent,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let until = Instant::now() + ttl;
        self.lock()
            .intents
            .insert(chat_id.to_owned(), (intent.clone(), until));
        Ok(())
    }

    async fn mark_intent_sent(
        &self,
        chat_id: &str,
        part: usize,
        gateway_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        if let Some((intent, _)) = self
            .lock()
            .intents
            .get_mut(chat_id)
            .filter(|(_, until)| *until > now)
        {
            intent.mark_sent(part, gateway_id);
        }
        Ok(())
    }

    async fn history(&self, chat_id: &str) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        let mut s = self.lock();
        Ok(s.live_history(chat_id).filter(|l| !l.is_empty()).cloned())
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
        let mut s = self.lock();
        let existing = s.live_history(chat_id).map(std::mem::take).unwrap_or_default();
        let mut merged = Vec::with_capacity(entries.len() + existing.len());
        let present: HashSet<&str> = existing.iter().map(|e| e.id.as_str()).collect();
        merged.extend(
            entries
                .iter()
                .filter(|e| !present.contains(e.id.as_str()))
                .cloned(),
        );
        merged.extend(existing);
        trim(&mut merged, window);
        s.histories
            .insert(chat_id.to_owned(), (merged, Instant::now() + ttl));
        Ok(())
    }

    async fn drop_history_front(&self, chat_id: &str, n: usize) -> Result<(), StoreError> {
        if let Some(entries) = self.lock().live_history(chat_id) {
            entries.drain(..n.min(entries.len()));
        }
        Ok(())
    }

    async fn chat_state(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().value(&KEYS.chat_state(chat_id)))
    }

    async fn save_chat_state(&self, chat_id: &str, json: &str, ttl: Duration) -> Result<(), StoreError> {
        self.lock().set_value(KEYS.chat_state(chat_id), json, ttl);
        Ok(())
    }

    async fn summary(&self, chat_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().value(&KEYS.summary(chat_id)))
    }

    async fn save_summary(&self, chat_id: &str, summary: &str, ttl: Duration) -> Result<(), StoreError> {
        self.lock().set_value(KEYS.summary(chat_id), summary, ttl);
        Ok(())
    }

    async fn has_marker(&self, marker: Marker<'_>) -> Result<bool, StoreError> {
        Ok(self.lock().value(&KEYS.marker(marker)).is_some())
    }

    async fn set_marker(&self, marker: Marker<'_>, ttl: Duration) -> Result<(), StoreError> {
        self.lock().set_value(KEYS.marker(marker), "1", ttl);
        Ok(())
    }

    async fn clear_marker(&self, marker: Marker<'_>) -> Result<(), StoreError> {
        self.lock().values.remove(&KEYS.marker(marker));
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
        let mut s = self.lock();
        if let Some(q) = s.outboxes.get_mut(chat_id) {
            if q.front().is_some_and(|head| head == job) {
                q.pop_front();
            }
            if q.is_empty() {
                s.outboxes.remove(chat_id);
            }
        }
        Ok(())
    }

    async fn outbox_chats(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().outboxes.keys().cloned().collect())
    }

    async fn outbox_replace_head(&self, chat_id: &str, old: &str, new: &str) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(head) = s.outboxes.get_mut(chat_id).and_then(|q| q.front_mut())
            && head == old
        {
            *head = new.to_owned();
        }
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
        {
            let mut s = self.lock();
            if s.dead_letters.remove(id).is_none() {
                return Ok(false);
            }
            s.inboxes
                .entry(chat_id.to_owned())
                .or_default()
                .extend(envelopes.iter().cloned());
            s.push_signal(chat_id);
        }
        self.signalled.notify_one();
        Ok(true)
    }

    async fn append_chat_event(
        &self,
        chat_id: &str,
        body: &str,
        cap: usize,
        ttl: Duration,
    ) -> Result<EventId, StoreError> {
        Ok(self.events.append(chat_id, body, cap, ttl))
    }

    async fn chat_events_after(
        &self,
        chat_id: &str,
        after: Option<EventId>,
        max: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        Ok(self.events.after(chat_id, after, max))
    }
}
