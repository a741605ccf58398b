//! The event log of a playground (`web:`) chat: the replies, typing changes and notes the browser page
//! shows, kept so a page that reconnects (`Last-Event-ID`) misses nothing.
//!
//! One log per chat, capped at a number of events (the oldest go first) and expiring a while after its
//! last event. In Redis it is a stream (`web-events:{chat}`, `XADD MAXLEN` + `PEXPIRE` in one script);
//! the embedded store keeps the same in memory. Event ids are Redis stream ids (`{ms}-{seq}`), strictly
//! increasing within a chat in both stores, so "the events after id X" means the same everywhere.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::time::Duration;

/// The id of one logged event: a Redis stream id, `{unix ms}-{sequence}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// Unix milliseconds when it was logged.
    pub ms: u64,
    /// Order among the events of the same millisecond.
    pub seq: u64,
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An id that is not `{digits}-{digits}` (or bare `{digits}`, read as `{digits}-0`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event id looks like 1733049600000-0")]
pub struct BadEventId;

impl FromStr for EventId {
    type Err = BadEventId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.trim().split_once('-').unwrap_or((s.trim(), "0"));
        let digits = |p: &str| -> Result<u64, BadEventId> {
            if p.is_empty() || p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadEventId);
            }
            p.parse().map_err(|_| BadEventId)
        };
        Ok(EventId {
            ms: digits(ms)?,
            seq: digits(seq)?,
        })
    }
}

/// One event of a chat's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Its id, increasing within the chat.
    pub id: EventId,
    /// What was logged (the web channel writes JSON).
    pub body: String,
}

/// The embedded store's event logs (the twin of the Redis script `APPEND` and of `XRANGE`), kept
/// under the embedded store's lock. Times are the store's clock, in Unix ms.
#[derive(Default)]
pub(super) struct MemoryLogs {
    logs: HashMap<String, ChatLog>,
}

struct ChatLog {
    events: VecDeque<LoggedEvent>,
    until: i64,
}

impl MemoryLogs {
    /// `XADD web-events:{chat} MAXLEN {cap} * e {body}` then `PEXPIRE … {ttl}`.
    pub(super) fn append(
        &mut self,
        chat_id: &str,
        body: &str,
        cap: usize,
        ttl: Duration,
        now: i64,
    ) -> EventId {
        self.logs.retain(|_, log| log.until > now);
        let log = self.logs.entry(chat_id.to_owned()).or_insert_with(|| ChatLog {
            events: VecDeque::new(),
            until: now,
        });
        let ms = u64::try_from(now).unwrap_or(0);
        let id = match log.events.back() {
            Some(last) if last.id.ms >= ms => EventId {
                ms: last.id.ms,
                seq: last.id.seq + 1,
            },
            _ => EventId { ms, seq: 0 },
        };
        log.events.push_back(LoggedEvent {
            id,
            body: body.to_owned(),
        });
        while log.events.len() > cap.max(1) {
            log.events.pop_front();
        }
        log.until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        id
    }

    /// `XRANGE web-events:{chat} ({after} + COUNT {max}`.
    pub(super) fn after(
        &self,
        chat_id: &str,
        after: Option<EventId>,
        max: usize,
        now: i64,
    ) -> Vec<LoggedEvent> {
        let Some(log) = self.logs.get(chat_id).filter(|l| l.until > now) else {
            return Vec::new();
        };
        log.events
            .iter()
            .filter(|e| after.is_none_or(|a| e.id > a))
            .take(max.max(1))
            .cloned()
            .collect()
    }

    /// The deadline of the chat's log, if it has one.
    pub(super) fn expiry(&self, chat_id: &str, now: i64) -> Option<i64> {
        self.logs.get(chat_id).map(|l| l.until).filter(|u| *u > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_read_and_print_as_stream_ids() {
        let id: EventId = "1733049600000-7".parse().unwrap();
        assert_eq!(
            id,
            EventId {
                ms: 1_733_049_600_000,
                seq: 7
            }
        );
        assert_eq!(id.to_string(), "1733049600000-7");
        assert_eq!("42".parse::<EventId>().unwrap(), EventId { ms: 42, seq: 0 });
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-b",
            "1-2-3",
            "(1-0",
            "1 -0",
            "99999999999999999999999-0",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad:?} was accepted");
        }
        assert!(EventId { ms: 1, seq: 9 } < EventId { ms: 2, seq: 0 });
    }
}
