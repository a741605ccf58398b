//! The embedded store's data, kept as Redis keeps it: one map per key family of
//! [`crate::store::keys`], every expiring value with its deadline in clock milliseconds, and the work
//! stream as an ordered map of stream ids with the consumer group's pending entries beside it.
//!
//! Invariants:
//! - a value whose deadline is not after `now` is gone (read as absent), as a Redis key past its
//!   expiry is; [`State::sweep_expired`] only reclaims the memory;
//! - stream ids are `{ms}-{seq}` and strictly increase, as `XADD *` makes them; the stream keeps at
//!   most [`WORK_STREAM_MAXLEN`] entries, the oldest going first;
//! - an entry is unread until a group read hands it to a consumer; acknowledging deletes it.
//!
//! The plain commands (the operations that are one Redis command, not a script) are here too; the
//! scripts' twins are in [`super::scripts`].

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::domain::{Envelope, HistoryEntry};
use crate::store::event_log::MemoryLogs;
use crate::store::keys::{Keys, WORK_STREAM_MAXLEN};
use crate::store::{SendIntent, Signal};

/// A work-stream id, `{ms}-{seq}`.
pub(super) type StreamId = (u64, u64);

/// One entry of the work stream.
pub(super) struct StreamEntry {
    pub(super) chat: String,
    /// `None` while unread; else the consumer it was delivered to and when (its idle clock).
    pub(super) delivered: Option<(String, i64)>,
}

/// Everything the embedded store holds.
#[derive(Default)]
pub(super) struct State {
    pub(super) dedupe: HashMap<String, i64>,
    pub(super) accepts_since_sweep: u32,
    pub(super) inboxes: HashMap<String, VecDeque<Envelope>>,
    pub(super) stream: BTreeMap<StreamId, StreamEntry>,
    pub(super) last_id: StreamId,
    pub(super) leases: HashMap<String, (String, i64)>,
    pub(super) histories: HashMap<String, (Vec<HistoryEntry>, i64)>,
    pub(super) values: HashMap<String, (String, i64)>,
    pub(super) outboxes: HashMap<String, VecDeque<String>>,
    pub(super) dead_letters: HashMap<String, String>,
    pub(super) locks: HashMap<String, (String, i64)>,
    pub(super) consumers: HashMap<String, (String, i64)>,
    pub(super) intents: HashMap<String, (SendIntent, i64)>,
    pub(super) events: MemoryLogs,
}

/// `Duration` in ms, saturating.
pub(super) fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `{ms}-{seq}`.
pub(super) fn format_id(id: StreamId) -> String {
    format!("{}-{}", id.0, id.1)
}

/// A stream id as Redis reads one (`{ms}-{seq}`, or `{ms}` for `{ms}-0`).
pub(super) fn parse_id(s: &str) -> Option<StreamId> {
    let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn live<T>(entry: Option<&(T, i64)>, now: i64) -> Option<&T> {
    entry.filter(|(_, until)| *until > now).map(|(v, _)| v)
}

impl State {
    /// `XADD work MAXLEN … * chat {chat}`.
    pub(super) fn xadd(&mut self, chat: &str, now: i64) {
        self.xadd_capped(chat, now, WORK_STREAM_MAXLEN);
    }

    /// `XADD` keeping at most `cap` entries (Redis's `MAXLEN ~` keeps at least `cap`, trimming
    /// whole nodes; the embedded store trims exactly).
    pub(super) fn xadd_capped(&mut self, chat: &str, now: i64, cap: u64) {
        let ms = u64::try_from(now).unwrap_or(0);
        self.last_id = if ms > self.last_id.0 {
            (ms, 0)
        } else {
            (self.last_id.0, self.last_id.1 + 1)
        };
        let entry = StreamEntry {
            chat: chat.to_owned(),
            delivered: None,
        };
        self.stream.insert(self.last_id, entry);
        while self.stream.len() as u64 > cap.max(1) {
            self.stream.pop_first();
        }
    }

    /// `XREADGROUP … COUNT max STREAMS work >`: the oldest unread entries, delivered to `consumer`.
    pub(super) fn read_new(&mut self, consumer: &str, max: usize, now: i64) -> Vec<Signal> {
        let mut out = Vec::new();
        for (id, e) in self.stream.iter_mut() {
            if out.len() >= max.max(1) {
                break;
            }
            if e.delivered.is_none() {
                e.delivered = Some((consumer.to_owned(), now));
                out.push(signal(*id, &e.chat));
            }
        }
        out
    }

    /// `XREADGROUP … STREAMS work 0`: `consumer`'s pending entries, oldest first; their idle clock
    /// starts again.
    pub(super) fn read_own_pending(&mut self, consumer: &str, max: usize, now: i64) -> Vec<Signal> {
        let mut out = Vec::new();
        for (id, e) in self.stream.iter_mut() {
            if out.len() >= max.max(1) {
                break;
            }
            if let Some((owner, since)) = e.delivered.as_mut()
                && owner == consumer
            {
                *since = now;
                out.push(signal(*id, &e.chat));
            }
        }
        out
    }

    /// `XAUTOCLAIM work workers {consumer} {min_idle} 0-0 COUNT {count}`.
    pub(super) fn autoclaim(&mut self, consumer: &str, min_idle: i64, count: usize, now: i64) -> Vec<Signal> {
        let mut out = Vec::new();
        for (id, e) in self.stream.iter_mut() {
            if out.len() >= count {
                break;
            }
            if let Some((owner, since)) = e.delivered.as_mut()
                && now - *since >= min_idle
            {
                *owner = consumer.to_owned();
                *since = now;
                out.push(signal(*id, &e.chat));
            }
        }
        out
    }

    /// `GET lease:{chat}`.
    pub(super) fn lease_holder(&self, chat: &str, now: i64) -> Option<&str> {
        live(self.leases.get(chat), now).map(String::as_str)
    }

    /// `SET lease:{chat} {holder} PX {ttl}`.
    pub(super) fn set_lease(&mut self, chat: &str, holder: &str, until: i64) {
        self.leases.insert(chat.to_owned(), (holder.to_owned(), until));
    }

    /// `SET {key} {value} NX PX {ttl}` on one of the expiring string maps.
    pub(super) fn set_nx(
        map: &mut HashMap<String, (String, i64)>,
        key: &str,
        value: &str,
        until: i64,
        now: i64,
    ) -> bool {
        if live(map.get(key), now).is_some() {
            return false;
        }
        map.insert(key.to_owned(), (value.to_owned(), until));
        true
    }

    /// `GET` of a small value.
    pub(super) fn value(&self, key: &str, now: i64) -> Option<String> {
        live(self.values.get(key), now).cloned()
    }

    /// `SET {key} {value} PX {ttl}` of a small value.
    pub(super) fn set_value(&mut self, key: String, value: &str, until: i64) {
        self.values.insert(key, (value.to_owned(), until));
    }

    /// The live intent of a chat.
    pub(super) fn intent(&mut self, chat: &str, now: i64) -> Option<&mut SendIntent> {
        self.intents
            .get_mut(chat)
            .filter(|(_, until)| *until > now)
            .map(|(intent, _)| intent)
    }

    /// The live history of a chat (possibly emptied by a drop).
    pub(super) fn live_history(&mut self, chat: &str, now: i64) -> Option<&mut Vec<HistoryEntry>> {
        self.histories
            .get_mut(chat)
            .filter(|(_, until)| *until > now)
            .map(|(entries, _)| entries)
    }

    /// Forget what expired (Redis does this lazily and in the background).
    pub(super) fn sweep_expired(&mut self, now: i64) {
        self.dedupe.retain(|_, until| *until > now);
        self.histories.retain(|_, (_, until)| *until > now);
        self.values.retain(|_, (_, until)| *until > now);
        self.leases.retain(|_, (_, until)| *until > now);
        self.locks.retain(|_, (_, until)| *until > now);
        self.consumers.retain(|_, (_, until)| *until > now);
        self.intents.retain(|_, (_, until)| *until > now);
        self.accepts_since_sweep = 0;
    }

    /// The time left of a key (as `PTTL`), by its name under `keys` (`lease:{chat}`, …; the
    /// families' names come from [`Keys`] itself); `None` for a key that is absent or does not expire.
    pub(super) fn expiry(&self, keys: &Keys, key: &str, now: i64) -> Option<i64> {
        let id = |family: String| key.strip_prefix(family.as_str());
        let until = if let Some(id) = id(keys.dedupe("")) {
            self.dedupe.get(id).copied()
        } else if let Some(id) = id(keys.lease("")) {
            self.leases.get(id).map(|v| v.1)
        } else if let Some(id) = id(keys.lock("")) {
            self.locks.get(id).map(|v| v.1)
        } else if let Some(id) = id(keys.consumer("")) {
            self.consumers.get(id).map(|v| v.1)
        } else if let Some(id) = id(keys.intent("")) {
            self.intents.get(id).map(|v| v.1)
        } else if let Some(id) = id(keys.history("")) {
            self.histories.get(id).filter(|h| !h.0.is_empty()).map(|v| v.1)
        } else if let Some(id) = id(keys.web_events("")) {
            self.events.expiry(id, now)
        } else {
            self.values.get(key).map(|v| v.1)
        }?;
        (until > now).then_some(until - now)
    }
}

fn signal(id: StreamId, chat: &str) -> Signal {
    Signal {
        id: format_id(id),
        chat_id: chat.to_owned(),
    }
}
