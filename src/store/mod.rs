//! The state layer: every piece of shared state behind one trait, with two implementations.
//!
//! - [`redis::RedisStore`]: the production store. Every multi-key change is one Lua script, so it is
//!   atomic across any number of instances sharing one Redis.
//! - [`memory::MemoryStore`]: the embedded twin used when `REDIS_URL` is unset. Same semantics, one
//!   process, lost on restart.
//!
//! Invariants both keep:
//! - `accept` marks a message seen *and* queues it in one step: a message is never marked seen without
//!   being queued, and never queued twice.
//! - A chat's inbox is only shortened by `commit_turn`, in the same step that appends the turn's
//!   messages to the history and queues their mirror jobs: a turn is either wholly recorded or not at all.
//! - History appends and fills skip ids already present, so a replay or a read-through fill never
//!   duplicates a message, and a fill never removes what a racing append wrote.
//! - A chat lease is held by one holder at a time; `release_lease_if_idle` refuses while the inbox has
//!   work, which closes the race between "inbox looked empty" and a message accepted just then. Only
//!   `take_lease` replaces a live holder, and only one of the same consumer name's earlier incarnation.
//! - A consumer name is registered to one instance at a time; the latest `claim_consumer` wins and the
//!   earlier instance's `refresh_consumer` then answers `false`.
//! - A chat's send intent ([`intent`]) is recorded before a reply's first part is sent and deleted
//!   only by `commit_turn`, in the same step that consumes the inbox: an intent found at the start of
//!   a turn is the reply of a run that never committed.
//! - Every key is named by [`keys`]; callers never name one. Small values are typed: the chat state
//!   (JSON the caller owns), the summary, and presence [`Marker`]s, each with the caller's TTL.
//! - Both stores keep the same caps and TTLs (the work stream's length, the event logs' caps, the
//!   history window, the dedupe window in whole seconds) and answer alike; `tests/store_model.rs`
//!   runs random sequences of every operation on both and compares what each answers and holds.

pub mod event_log;
pub mod intent;
pub mod keys;
pub mod keyspace;
pub mod memory;
pub mod migrations;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Envelope, HistoryEntry};
pub use event_log::{EventId, LoggedEvent};
pub use intent::SendIntent;
pub use keys::Marker;

/// A Redis (or embedded store) failure. Always retryable from the caller's point of view.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

/// A history window of 0 with entries to keep: refused by both stores alike, with a clear error
/// (Redis's script failed on `LTRIM key -0 -1`; settings never give 0).
pub(crate) fn check_window(window: usize, entries: usize) -> Result<(), StoreError> {
    if window == 0 && entries > 0 {
        return Err(StoreError("a history window must keep at least one entry".into()));
    }
    Ok(())
}

/// What `accept` did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// New: queued in the chat's inbox and signalled to the workers.
    Accepted,
    /// Seen within the dedupe window: nothing was queued.
    Duplicate,
}

/// A "chat has work" signal read from the work stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The stream entry id (acknowledged once the chat's inbox is drained).
    pub id: String,
    /// The chat with work.
    pub chat_id: String,
}

/// How a lease release went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Released: the inbox was empty.
    Released,
    /// Kept: work arrived in the inbox; the holder must go on.
    WorkWaiting,
    /// The lease was no longer ours (expired or taken over).
    Lost,
}

/// Everything the service keeps, behind one interface.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `redis` or `memory`, for logs and `/ready`.
    fn kind(&self) -> &'static str;

    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Atomically: mark `dedupe_key` seen for `dedupe_ttl` (in whole seconds, at least one) and, only
    /// if it was new, push the envelope to its chat's inbox and signal the work stream.
    async fn accept(
        &self,
        dedupe_key: &str,
        dedupe_ttl: Duration,
        env: &Envelope,
    ) -> Result<Accept, StoreError>;

    /// Wait up to `block` for signals for this consumer (under a millisecond: no wait); at most
    /// `max` (at least one) at once.
    async fn next_signals(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Signal>, StoreError>;

    /// Acknowledge (and delete) a signal.
    async fn ack_signal(&self, signal: &Signal) -> Result<(), StoreError>;

    /// Claim for `consumer` the signals another consumer read but did not acknowledge for `min_idle`.
    async fn reclaim_signals(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Signal>, StoreError>;

    /// Queue figures for `/metrics`.
    async fn queue_stats(&self) -> Result<QueueStats, StoreError>;

    /// Signal the work stream that `chat_id` has work (outbox retries, hand-over at shutdown).
    async fn signal(&self, chat_id: &str) -> Result<(), StoreError>;

    /// Take a named, expiring lock (compare-and-delete is not needed: it simply expires).
    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Take the chat's lease for `ttl` if nobody holds it.
    async fn acquire_lease(&self, chat_id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Extend our lease and mark our signal as still being worked on. `false`: the lease is not ours.
    async fn renew_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        signal: &Signal,
        consumer: &str,
    ) -> Result<bool, StoreError>;

    /// Release the lease only if the chat's inbox is empty.
    async fn release_lease_if_idle(&self, chat_id: &str, holder: &str) -> Result<Release, StoreError>;

    /// Release the lease whatever the inbox holds (hand-over at shutdown). Compare-and-delete:
    /// `false` when it was not (or no longer) `holder`'s.
    async fn release_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError>;

    /// Whether `holder` holds the chat's lease now (checked right before a gateway send).
    async fn holds_lease(&self, chat_id: &str, holder: &str) -> Result<bool, StoreError>;

    /// Take the chat's lease for `ttl` if nobody holds it, or if its holder starts with `prefix` but
    /// not with `keep`: an earlier incarnation of this consumer (`{consumer}/`) gives its leases up at
    /// once to the new one (whose own holders start with `keep`).
    async fn take_lease(
        &self,
        chat_id: &str,
        holder: &str,
        ttl: Duration,
        prefix: &str,
        keep: &str,
    ) -> Result<bool, StoreError>;

    /// The signals read under `consumer` and not yet acknowledged (its pending entries), at most
    /// `max`, without waiting: an earlier incarnation's unfinished work.
    async fn own_pending(&self, consumer: &str, max: usize) -> Result<Vec<Signal>, StoreError>;

    /// Register `instance` as the live holder of the consumer name for `ttl`, taking it over from
    /// whoever had it. Returns the previous instance, if one was registered.
    async fn claim_consumer(
        &self,
        name: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError>;

    /// Heartbeat: extend the registration if it is still `instance`'s (or register again if it
    /// expired). `false`: another instance took the name over.
    async fn refresh_consumer(&self, name: &str, instance: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Remove the registration if it is still `instance`'s (at exit).
    async fn release_consumer(&self, name: &str, instance: &str) -> Result<(), StoreError>;

    /// The chat's inbox, oldest first.
    async fn inbox(&self, chat_id: &str) -> Result<Vec<Envelope>, StoreError>;

    /// Atomically: append `entries` to the history (skipping ids present; when the history is absent
    /// all of them start it), trim to `window`, refresh `ttl`; drop the first `consumed` inbox entries;
    /// queue `mirror_jobs` in the chat's outbox; delete the chat's send intent.
    async fn commit_turn(&self, chat_id: &str, turn: &TurnCommit<'_>) -> Result<(), StoreError>;

    /// The chat's send intent, if a turn recorded one and did not commit.
    async fn send_intent(&self, chat_id: &str) -> Result<Option<SendIntent>, StoreError>;

    /// Record the chat's send intent (replacing any), expiring after `ttl` unless a commit deletes it.
    async fn record_send_intent(
        &self,
        chat_id: &str,
        intent: &SendIntent,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Mark part `part` of the chat's send intent accepted by the gateway (with its message id, when
    /// it gave one). Nothing happens when the chat has no intent.
    async fn mark_intent_sent(
        &self,
        chat_id: &str,
        part: usize,
        gateway_id: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The cached history, oldest first; `None` when absent (a miss).
    async fn history(&self, chat_id: &str) -> Result<Option<Vec<HistoryEntry>>, StoreError>;

    /// Read-through fill: start the history with `entries` (oldest first) or, if an append created it
    /// meanwhile, put the missing ones in front of what is there. Trims and refreshes the TTL.
    async fn fill_history(
        &self,
        chat_id: &str,
        entries: &[HistoryEntry],
        window: usize,
        ttl: Duration,
    ) -> Result<(), StoreError>;

    /// Drop the `n` oldest history entries: a whole block leaving the window (behaviour 11). Called
    /// by the chat's lease holder only, after the block was folded into the summary.
    async fn drop_history_front(&self, chat_id: &str, n: usize) -> Result<(), StoreError>;

    /// The chat's state (JSON, as saved), if any.
    async fn chat_state(&self, chat_id: &str) -> Result<Option<String>, StoreError>;

    /// Save the chat's state (JSON), expiring `ttl` after this save.
    async fn save_chat_state(&self, chat_id: &str, json: &str, ttl: Duration) -> Result<(), StoreError>;

    /// The chat's summary of the history beyond its window, if any.
    async fn summary(&self, chat_id: &str) -> Result<Option<String>, StoreError>;

    /// Save the chat's summary, expiring `ttl` after this save.
    async fn save_summary(&self, chat_id: &str, summary: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Whether `marker` is set (and not expired).
    async fn has_marker(&self, marker: Marker<'_>) -> Result<bool, StoreError>;

    /// Set `marker` for `ttl`.
    async fn set_marker(&self, marker: Marker<'_>, ttl: Duration) -> Result<(), StoreError>;

    /// Remove `marker`.
    async fn clear_marker(&self, marker: Marker<'_>) -> Result<(), StoreError>;

    /// The first `n` mirror jobs of the chat's outbox, oldest first.
    async fn outbox_peek(&self, chat_id: &str, n: usize) -> Result<Vec<String>, StoreError>;

    /// Remove the outbox head if it still equals `job`.
    async fn outbox_pop(&self, chat_id: &str, job: &str) -> Result<(), StoreError>;

    /// Replace the outbox head with `new` if it still equals `old`.
    async fn outbox_replace_head(&self, chat_id: &str, old: &str, new: &str) -> Result<(), StoreError>;

    /// Every dead letter (JSON), in no particular order.
    async fn dead_letters(&self) -> Result<Vec<String>, StoreError>;

    /// Atomically remove dead letter `id` and put its envelopes back at the end of their chat's inbox,
    /// signalling the chat. `false` when no such dead letter exists (already replayed).
    async fn replay_dead_letter(
        &self,
        id: &str,
        chat_id: &str,
        envelopes: &[Envelope],
    ) -> Result<bool, StoreError>;

    /// Chats whose outbox holds jobs.
    async fn outbox_chats(&self) -> Result<Vec<String>, StoreError>;

    /// Append `body` to the event log of a playground chat (see [`event_log`]): at most `cap` events
    /// are kept (the oldest go first) and the log expires `ttl` after its last event. Returns the new
    /// event's id, greater than every earlier id of the chat.
    async fn append_chat_event(
        &self,
        chat_id: &str,
        body: &str,
        cap: usize,
        ttl: Duration,
    ) -> Result<EventId, StoreError>;

    /// Up to `max` events of the chat's log after `after` (all of them when `None`), oldest first.
    async fn chat_events_after(
        &self,
        chat_id: &str,
        after: Option<EventId>,
        max: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// What keyspace migrations work on (see [`migrations`] and [`keyspace`]). `None`, the default,
    /// for a store with nothing to migrate: the embedded store keeps nothing across restarts.
    fn keyspace(&self) -> Option<&dyn keyspace::Keyspace> {
        None
    }
}

/// One turn's changes, committed atomically by [`Store::commit_turn`].
#[derive(Debug, Clone)]
pub struct TurnCommit<'a> {
    /// Inbox entries handled by the turn (removed from the head).
    pub consumed: usize,
    /// History entries to append, oldest first.
    pub entries: &'a [HistoryEntry],
    /// History window.
    pub window: usize,
    /// History TTL.
    pub ttl: Duration,
    /// Serialized mirror jobs for the outbox, in order.
    pub mirror_jobs: &'a [String],
    /// A dead letter to record with the turn: `(id, JSON)`.
    pub dead_letter: Option<(&'a str, &'a str)>,
}

/// Queue figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Signals read or unread but not yet acknowledged.
    pub pending_signals: u64,
    /// Age in ms of the oldest signal not yet acknowledged (the oldest waiting work).
    pub oldest_age_ms: Option<i64>,
    /// Dead letters waiting for an operator.
    pub dead_letters: u64,
}
