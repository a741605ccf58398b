//! The twins of the Redis store's Lua scripts ([`crate::store::redis`]'s `scripts.rs`, the intent
//! scripts of [`crate::store::intent`] and the event log's `APPEND`): one function per script, with
//! the script's name, in the order of the `Scripts` table, each doing what its script does, step by
//! step. `tests/store_model.rs` runs random sequences on both stores and compares what they observe.
//!
//! Every function runs under the store's lock, so it is as atomic as its script; `now` is the
//! store's clock in Unix ms.

use std::collections::HashSet;
use std::time::Duration;

use super::state::{State, ms, parse_id};
use crate::domain::{Envelope, HistoryEntry};
use crate::store::event_log::EventId;
use crate::store::{Release, SendIntent, TurnCommit};

/// How many accepts go between two sweeps of what expired.
const SWEEP_EVERY: u32 = 10_000;

impl State {
    /// `ACCEPT_LUA`: `SET seen:… NX EX {secs}` (whole seconds, at least one), then `RPUSH` the inbox
    /// and `XADD` the work stream.
    pub(super) fn accept(&mut self, dedupe_key: &str, ttl: Duration, env: &Envelope, now: i64) -> bool {
        self.accepts_since_sweep += 1;
        if self.accepts_since_sweep >= SWEEP_EVERY {
            self.sweep_expired(now);
        }
        if self.dedupe.get(dedupe_key).is_some_and(|until| *until > now) {
            return false;
        }
        let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX / 1000);
        self.dedupe.insert(dedupe_key.to_owned(), now + secs * 1000);
        let chat = env.chat_id().to_owned();
        self.xadd(&chat, now);
        self.inboxes.entry(chat).or_default().push_back(env.clone());
        true
    }

    /// `RENEW_LUA`: extend our lease, `XCLAIM` our signal (still pending) to `consumer` afresh.
    pub(super) fn renew(
        &mut self,
        chat: &str,
        holder: &str,
        ttl: Duration,
        signal: &str,
        consumer: &str,
        now: i64,
    ) -> bool {
        if self.lease_holder(chat, now) != Some(holder) {
            return false;
        }
        self.set_lease(chat, holder, now + ms(ttl));
        if let Some(e) = parse_id(signal).and_then(|id| self.stream.get_mut(&id))
            && e.delivered.is_some()
        {
            e.delivered = Some((consumer.to_owned(), now));
        }
        true
    }

    /// `RELEASE_IF_IDLE_LUA`: release our lease only while the inbox is empty.
    pub(super) fn release_if_idle(&mut self, chat: &str, holder: &str, now: i64) -> Release {
        if self.lease_holder(chat, now) != Some(holder) {
            return Release::Lost;
        }
        if self.inboxes.get(chat).is_some_and(|q| !q.is_empty()) {
            return Release::WorkWaiting;
        }
        self.inboxes.remove(chat);
        self.leases.remove(chat);
        Release::Released
    }

    /// `RELEASE_LUA` on a lease: compare-and-delete.
    pub(super) fn release(&mut self, chat: &str, holder: &str, now: i64) -> bool {
        if self.lease_holder(chat, now) != Some(holder) {
            return false;
        }
        self.leases.remove(chat);
        true
    }

    /// `TAKE_LEASE_LUA`: free, or held by an earlier incarnation (`prefix` but not `keep`): take it.
    pub(super) fn take_lease(
        &mut self,
        chat: &str,
        holder: &str,
        ttl: Duration,
        prefix: &str,
        keep: &str,
        now: i64,
    ) -> bool {
        if let Some(h) = self.lease_holder(chat, now)
            && (!h.starts_with(prefix) || h.starts_with(keep))
        {
            return false;
        }
        self.set_lease(chat, holder, now + ms(ttl));
        true
    }

    /// `CLAIM_CONSUMER_LUA`: register `instance`, answering the live previous one (not itself).
    pub(super) fn claim_consumer(
        &mut self,
        name: &str,
        instance: &str,
        ttl: Duration,
        now: i64,
    ) -> Option<String> {
        self.consumers
            .insert(name.to_owned(), (instance.to_owned(), now + ms(ttl)))
            .filter(|(who, until)| *until > now && who != instance)
            .map(|(who, _)| who)
    }

    /// `REFRESH_CONSUMER_LUA`: extend (or take again) the name unless another instance holds it.
    pub(super) fn refresh_consumer(&mut self, name: &str, instance: &str, ttl: Duration, now: i64) -> bool {
        if let Some((who, until)) = self.consumers.get(name)
            && *until > now
            && who != instance
        {
            return false;
        }
        self.consumers
            .insert(name.to_owned(), (instance.to_owned(), now + ms(ttl)));
        true
    }

    /// `RELEASE_LUA` on a consumer registration: compare-and-delete.
    pub(super) fn release_consumer(&mut self, name: &str, instance: &str, now: i64) {
        if self
            .consumers
            .get(name)
            .is_some_and(|(who, until)| *until > now && who == instance)
        {
            self.consumers.remove(name);
        }
    }

    /// `RECORD_LUA`: replace the chat's intent, expiring after `ttl`.
    pub(super) fn record_intent(&mut self, chat: &str, intent: &SendIntent, ttl: Duration, now: i64) {
        self.intents
            .insert(chat.to_owned(), (intent.clone(), now + ms(ttl)));
    }

    /// `MARK_LUA`: mark a part sent, only on an intent that exists.
    pub(super) fn mark_intent(&mut self, chat: &str, part: usize, gateway_id: Option<&str>, now: i64) {
        if let Some(intent) = self.intent(chat, now) {
            intent.mark_sent(part, Some(gateway_id.unwrap_or_default()));
        }
    }

    /// `ACK_LUA`: `XACK` and `XDEL` (read or not, the entry is gone).
    pub(super) fn ack(&mut self, signal: &str) {
        if let Some(id) = parse_id(signal) {
            self.stream.remove(&id);
        }
    }

    /// `COMMIT_LUA`: append unseen entries, trim, refresh the TTL; consume the inbox head; queue the
    /// mirror jobs; record the dead letter; delete the intent.
    pub(super) fn commit(&mut self, chat: &str, turn: &TurnCommit<'_>, now: i64) {
        if !turn.entries.is_empty() {
            let until = now + ms(turn.ttl);
            let mut list = self
                .live_history(chat, now)
                .map(std::mem::take)
                .unwrap_or_default();
            append_unseen(&mut list, turn.entries);
            trim(&mut list, turn.window);
            self.histories.insert(chat.to_owned(), (list, until));
        }
        if let Some(q) = self.inboxes.get_mut(chat) {
            let n = turn.consumed.min(q.len());
            q.drain(..n);
        }
        if !turn.mirror_jobs.is_empty() {
            self.outboxes
                .entry(chat.to_owned())
                .or_default()
                .extend(turn.mirror_jobs.iter().cloned());
        }
        if let Some((id, json)) = turn.dead_letter {
            self.dead_letters.insert(id.to_owned(), json.to_owned());
        }
        self.intents.remove(chat);
    }

    /// `FILL_LUA`: start the history, or put the entries it lacks in front; trim; refresh the TTL.
    pub(super) fn fill(
        &mut self,
        chat: &str,
        entries: &[HistoryEntry],
        window: usize,
        ttl: Duration,
        now: i64,
    ) {
        let existing = self
            .live_history(chat, now)
            .map(std::mem::take)
            .unwrap_or_default();
        let present: HashSet<&str> = existing.iter().map(|e| e.id.as_str()).collect();
        let mut merged: Vec<HistoryEntry> = entries
            .iter()
            .filter(|e| !present.contains(e.id.as_str()))
            .cloned()
            .collect();
        merged.extend(existing);
        trim(&mut merged, window);
        self.histories.insert(chat.to_owned(), (merged, now + ms(ttl)));
    }

    /// `OUTBOX_POP_LUA`: pop the head if it is `job`; an empty outbox leaves `outbox-chats`.
    pub(super) fn outbox_pop(&mut self, chat: &str, job: &str) {
        if let Some(q) = self.outboxes.get_mut(chat) {
            if q.front().is_some_and(|head| head == job) {
                q.pop_front();
            }
            if q.is_empty() {
                self.outboxes.remove(chat);
            }
        }
    }

    /// `OUTBOX_REPLACE_LUA`: replace the head if it is still `old`.
    pub(super) fn outbox_replace(&mut self, chat: &str, old: &str, new: &str) {
        if let Some(head) = self.outboxes.get_mut(chat).and_then(|q| q.front_mut())
            && head == old
        {
            *head = new.to_owned();
        }
    }

    /// `REPLAY_LUA`: remove the dead letter, put its envelopes back, signal the chat.
    pub(super) fn replay(&mut self, id: &str, chat: &str, envelopes: &[Envelope], now: i64) -> bool {
        if self.dead_letters.remove(id).is_none() {
            return false;
        }
        if !envelopes.is_empty() {
            self.inboxes
                .entry(chat.to_owned())
                .or_default()
                .extend(envelopes.iter().cloned());
        }
        self.xadd(chat, now);
        true
    }

    /// The event log's `APPEND`: `XADD MAXLEN {cap}` and `PEXPIRE`.
    pub(super) fn append(&mut self, chat: &str, body: &str, cap: usize, ttl: Duration, now: i64) -> EventId {
        self.events.append(chat, body, cap, ttl, now)
    }
}

/// Append the entries whose id the list (or an earlier entry of the batch) does not hold.
fn append_unseen(list: &mut Vec<HistoryEntry>, entries: &[HistoryEntry]) {
    let mut seen: HashSet<String> = list.iter().map(|e| e.id.clone()).collect();
    for e in entries {
        if seen.insert(e.id.clone()) {
            list.push(e.clone());
        }
    }
}

/// `LTRIM key -window -1` (the stores refuse a window of 0 first: [`crate::store::check_window`]).
fn trim(list: &mut Vec<HistoryEntry>, window: usize) {
    if list.len() > window {
        list.drain(..list.len() - window);
    }
}
