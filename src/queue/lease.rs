//! What a chat handler gets from the runtime, and nothing of the runtime itself: the timings
//! ([`Tuning`]), the chat's lease ([`Lease`]) and the trait the runtime drives ([`ChatHandler`]). The
//! worker imports this module, never [`super::runtime`].
//!
//! Invariants: a [`Lease`] once lost stays lost; [`Lease::confirm`] asks the store, so a handler that
//! confirms right before an irreversible step (a gateway send) never takes it after another worker
//! took the chat over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// Timings of the worker runtime.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Quiet time after a chat's newest message before it is answered.
    pub debounce: Duration,
    /// Chat lease lifetime without renewal: how long a dead worker keeps its chat at most.
    pub lease_ttl: Duration,
    /// How often a held lease is renewed (which also resets the idle time of the holder's signal).
    pub renew_every: Duration,
    /// Idle time after which an unacknowledged signal is reclaimed from its (dead) consumer; longer
    /// than `lease_ttl`, so the dead holder's lease has expired by then.
    pub reclaim_idle: Duration,
    /// How often reclaim runs.
    pub reclaim_every: Duration,
    /// How long one blocking read of the work stream waits.
    pub block: Duration,
    /// How often chats with a waiting Chatwoot outbox are retried.
    pub outbox_sweep_every: Duration,
    /// How often the consumer-name registration is refreshed (and checked still ours).
    pub heartbeat_every: Duration,
    /// Lifetime of the consumer-name registration without a heartbeat.
    pub name_ttl: Duration,
    /// Chats handled at once by this process.
    pub concurrency: usize,
}

impl Tuning {
    /// Defaults around a debounce window, a reclaim deadline and a concurrency.
    pub fn new(debounce: Duration, reclaim_idle: Duration, concurrency: usize) -> Self {
        Self {
            debounce,
            lease_ttl: Duration::from_secs(10),
            renew_every: Duration::from_secs(2),
            reclaim_idle,
            reclaim_every: Duration::from_secs(2).min(reclaim_idle),
            block: Duration::from_secs(1),
            outbox_sweep_every: Duration::from_secs(5),
            heartbeat_every: Duration::from_secs(1),
            name_ttl: Duration::from_secs(10),
            concurrency,
        }
    }
}

/// A chat lease held by this process, shared between the turn, its renewer and the runtime.
#[derive(Clone)]
pub struct Lease(Arc<Inner>);

struct Inner {
    store: Arc<dyn Store>,
    chat_id: String,
    holder: String,
    lost: AtomicBool,
}

// Written by hand, not derived: nothing here is secret, but the store is a trait object without
// `Debug`, and `lost` is shown as the flag's current value.
impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("chat_id", &self.0.chat_id)
            .field("holder", &self.0.holder)
            .field("lost", &self.is_lost())
            .finish()
    }
}

impl Lease {
    /// The lease `holder` holds on `chat_id` (already taken in the store).
    pub fn new(store: Arc<dyn Store>, chat_id: &str, holder: &str) -> Self {
        Self(Arc::new(Inner {
            store,
            chat_id: chat_id.to_owned(),
            holder: holder.to_owned(),
            lost: AtomicBool::new(false),
        }))
    }

    /// The chat.
    pub fn chat_id(&self) -> &str {
        &self.0.chat_id
    }

    /// Who holds it: `{consumer}/{incarnation}-{n}`.
    pub fn holder(&self) -> &str {
        &self.0.holder
    }

    /// Mark the lease lost (taken over, expired, or abandoned at shutdown).
    pub fn lose(&self) {
        self.0.lost.store(true, Ordering::SeqCst);
    }

    /// Whether the lease is known lost, without asking the store.
    pub fn is_lost(&self) -> bool {
        self.0.lost.load(Ordering::SeqCst)
    }

    /// Whether the lease is still ours, asked of the store (call it right before a send). A lease
    /// found lost stays lost. `Err`: the store could not say; the caller must not send.
    pub async fn confirm(&self) -> Result<bool, StoreError> {
        if self.is_lost() {
            return Ok(false);
        }
        let held = self.0.store.holds_lease(&self.0.chat_id, &self.0.holder).await?;
        if !held {
            tracing::warn!(chat_id = %self.0.chat_id, "chat lease lost before sending; nothing sent");
            self.lose();
        }
        Ok(held && !self.is_lost())
    }
}

/// What the runtime hands a handler for one chat.
pub struct ChatContext<'a> {
    /// The chat's lease, held when the handler is called.
    pub lease: &'a Lease,
    /// The runtime's timings.
    pub tuning: &'a Tuning,
    /// Cancelled when the runtime stops taking work (shutdown began): finish the running step, then
    /// return `Err` if work is left, so the runtime hands the chat on.
    pub stop: &'a CancellationToken,
}

/// Something that works a chat's inbox while holding its lease (the worker).
#[async_trait]
pub trait ChatHandler: Send + Sync + 'static {
    /// Work the chat's inbox until it is empty and the lease released (`Ok`), or the lease is lost
    /// (`Ok`, with [`Lease::is_lost`]). `Err`: the store failed, or `stop` was cancelled with work
    /// waiting; the runtime decides what next.
    async fn run_chat(&self, chat_id: &str, ctx: &ChatContext<'_>) -> Result<(), StoreError>;
}
