//! The queue: how an accepted message becomes exactly one turn.
//!
//! The module is split so that dependencies run one way: [`lease`] holds what a chat handler needs
//! (timings, the chat's lease, the [`ChatHandler`] trait), [`runtime`] drives any handler through that
//! trait, and the worker implements it without importing the runtime. The retry policy lives in
//! [`crate::retry`].
//!
//! # Guarantees
//! - **Accept is atomic.** The intake answers 200 only after one store step marked the gateway message
//!   id seen (24 h) *and* pushed it to its chat's inbox *and* signalled the work stream. A duplicate
//!   delivery finds the id seen and queues nothing. When the store cannot take it, the intake answers
//!   503 and the gateway retries.
//! - **At least once, answered once.** An inbox entry leaves the inbox only in the turn's commit, the
//!   same atomic step that writes the exchange to the history (and any dead letter). Before a
//!   reply's first part goes to the gateway, the turn records a send intent (the chat, the customer
//!   messages it answers, the parts) and marks each part as the gateway accepts it; the commit deletes
//!   it. A rerun that finds the intent of a worker killed between the gateway accepting a reply and
//!   that commit does not ask the model again: it sends only the parts not marked sent, and of those,
//!   on WAHA, only the ones not already among our recent messages in the chat. The window left: on the
//!   Cloud API (no read API), or when reading WAHA back fails, a part that was in flight when the
//!   worker died is sent again, and counted in `wa_agent_possible_duplicate_replies_total`.
//! - **Liveness is the lease.** A worker handles a chat only while it holds the chat's lease (`SET NX
//!   PX`, [`Tuning::lease_ttl`] = 10 s, renewed every [`Tuning::renew_every`] = 2 s). The renewal also
//!   resets the idle time of the worker's signal, so a live turn, however slow its model, is never
//!   taken from it. A dead worker stops renewing: its lease expires within 10 s and its signal is
//!   reclaimed (`XAUTOCLAIM`) once idle for `RECLAIM_AFTER_SECS` (12 s by default, checked every 2 s),
//!   so its chat is taken over within about 14 s of the death. Right before every gateway send the
//!   worker asks the store whether the lease is still its own; a worker that lost it sends nothing.
//! - **Consumer names.** Each instance reads the work stream under its `CONSUMER_NAME`; lease holders
//!   are `{consumer}/{incarnation}-{n}`. An instance started under a name takes the name over
//!   (`consumer:{name}`, refreshed every second) and at once resumes the name's unfinished work: the
//!   signals pending for the name and the leases held under it by an earlier incarnation. An earlier
//!   instance still running under that name sees the name taken at its next heartbeat, logs why, stops
//!   taking work and hands its running chats on; its turns lost their leases and send nothing.
//! - **One chat at a time, in order.** A worker that finds the chat leased acknowledges its signal and
//!   moves on: the holder re-checks the inbox, and releases the lease only in one step with "the inbox
//!   is empty", so a message accepted meanwhile is never stranded. A worker whose lease was taken does
//!   not acknowledge its signal (the new holder, or a reclaim, settles it).
//! - **Debounce.** The holder answers once the newest inbox entry is [`Tuning`]`::debounce` old; all
//!   entries then in the inbox are answered in one turn. A message that arrives while the agent is
//!   thinking supersedes the draft: the reply is not sent and the turn runs again with it.
//! - **Retries and dead letters.** Calls to the LLM, the gateway and Chatwoot are retried with
//!   exponential backoff and jitter when the error is retryable (timeouts, connection errors, 408,
//!   425, 429, 5xx: one classification for every client, [`crate::outbound::OutboundError`];
//!   `Retry-After` honoured), never when it is not. Work whose call still fails goes, in its turn's
//!   commit, to the dead letters with the reason (the customer's messages are recorded all the same);
//!   `wa-agent dlq replay` puts it back. Chatwoot mirroring is not dead-lettered: it waits in the
//!   chat's outbox, in order, until Chatwoot takes it.
//! - **Outages.** While Redis is down, readers and chats back off and resume by themselves.
//! - **Drain.** On SIGTERM the runtime stops taking chats and lets running turns finish for
//!   `SHUTDOWN_GRACE_SECS`; a chat with work left after its turn is handed on at once. A turn still
//!   running when the grace period ends is abandoned: its reply is not sent, its lease is released and
//!   its chat signalled again (new signal, old one acknowledged), so another instance takes it at once.
//!   The process exits holding no lease, no pending signal and no consumer-name registration.

mod chat;
pub mod lease;
pub mod runtime;

use std::time::Duration;

use crate::domain::{ChatEvent, Envelope, InboundMessage};
use crate::store::{Accept, Store, StoreError};

/// The retry policy moved to [`crate::retry`]; re-exported for callers not yet moved.
pub use crate::retry::{Retryable, backoff, with_retries};
pub use lease::{ChatContext, ChatHandler, Lease, Tuning};
pub use runtime::Runtime;

/// How long a gateway message id is remembered for dedupe.
pub const DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Accept a customer message: dedupe on `{gateway}:{dedupe_id}` and queue it, atomically.
pub async fn accept_message(
    store: &dyn Store,
    dedupe_id: &str,
    message: InboundMessage,
) -> Result<Accept, StoreError> {
    let key = format!("{}:{}", message.channel.as_str(), dedupe_id);
    accept_event(store, &key, ChatEvent::Customer(message)).await
}

/// Accept any chat event under a full dedupe key (e.g. `chatwoot:message_created:48262`).
pub async fn accept_event(
    store: &dyn Store,
    dedupe_key: &str,
    event: ChatEvent,
) -> Result<Accept, StoreError> {
    store.accept(dedupe_key, DEDUPE_TTL, &Envelope::new(event)).await
}
