//! The queue: how an accepted message becomes exactly one turn.
//!
//! # Guarantees
//! - **Accept is atomic.** The intake answers 200 only after one store step marked the gateway message
//!   id seen (24 h) *and* pushed it to its chat's inbox *and* signalled the work stream. A duplicate
//!   delivery finds the id seen and queues nothing. When the store cannot take it, the intake answers
//!   503 and the gateway retries.
//! - **At least once, answered once.** An inbox entry leaves the inbox only in the turn's commit, the
//!   same atomic step that writes the exchange to the history. A worker that dies mid-turn leaves its
//!   signal unacknowledged and its lease to expire; another worker reclaims the signal (`XAUTOCLAIM`)
//!   and runs the turn again from the inbox.
//! - **One chat at a time, in order.** A worker handles a chat only while it holds the chat's lease
//!   (`SET NX PX`, renewed every [`Tuning::renew_every`] while the chat is worked on; the renewal also
//!   resets the signal's idle time, so a live turn is never reclaimed). A worker that finds the chat
//!   leased acknowledges its signal and moves on: the holder re-checks the inbox, and releases the
//!   lease only in one step with "the inbox is empty", so a message accepted meanwhile is never stranded.
//! - **Debounce.** The holder answers once the newest inbox entry is [`Tuning`]`::debounce` old; all
//!   entries then in the inbox are answered in one turn. A message that arrives while the agent is
//!   thinking supersedes the draft: the reply is not sent and the turn runs again with it.
//! - **Retries.** Calls to the LLM, the gateway and Chatwoot are retried with exponential backoff and
//!   jitter when the error is retryable (timeouts, connection errors, 429, 5xx; `Retry-After`
//!   honoured), never when it is not.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::AgentError;
use crate::chatwoot::ChatwootError;
use crate::domain::{ChatEvent, Envelope, InboundMessage, now_ms};
use crate::gateway::GatewayError;
use crate::store::{Accept, Signal, Store, StoreError};
use crate::worker::Worker;

/// How long a gateway message id is remembered for dedupe.
pub const DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Accept a customer message: dedupe on `{gateway}:{dedupe_id}` and queue it, atomically.
pub async fn accept_message(
    store: &dyn Store,
    dedupe_id: &str,
    message: InboundMessage,
) -> Result<Accept, StoreError> {
    let key = format!("{}:{}", message.gateway.as_str(), dedupe_id);
    let env = Envelope {
        accepted_ms: now_ms(),
        event: ChatEvent::Customer(message),
    };
    store.accept(&key, DEDUPE_TTL, &env).await
}

/// Timings of the worker runtime.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Quiet time after a chat's newest message before it is answered.
    pub debounce: Duration,
    /// Chat lease lifetime without renewal.
    pub lease_ttl: Duration,
    /// How often a held lease is renewed.
    pub renew_every: Duration,
    /// Idle time after which an unacknowledged signal is reclaimed from its (dead) consumer.
    pub reclaim_idle: Duration,
    /// How often reclaim runs.
    pub reclaim_every: Duration,
    /// How long one blocking read of the work stream waits.
    pub block: Duration,
    /// Chats handled at once by this process.
    pub concurrency: usize,
}

impl Tuning {
    /// Defaults around a debounce window and a concurrency.
    pub fn new(debounce: Duration, concurrency: usize) -> Self {
        Self {
            debounce,
            lease_ttl: Duration::from_secs(30),
            renew_every: Duration::from_secs(5),
            reclaim_idle: Duration::from_secs(45),
            reclaim_every: Duration::from_secs(5),
            block: Duration::from_secs(1),
            concurrency,
        }
    }
}

/// An error that may be worth retrying.
pub trait Retryable: std::fmt::Display {
    /// Whether another attempt may succeed.
    fn is_retryable(&self) -> bool;
    /// The delay the remote asked for.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

impl Retryable for AgentError {
    fn is_retryable(&self) -> bool {
        AgentError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            AgentError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Retryable for GatewayError {
    fn is_retryable(&self) -> bool {
        GatewayError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Retryable for ChatwootError {
    fn is_retryable(&self) -> bool {
        ChatwootError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ChatwootError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        true
    }
}

/// Backoff before attempt `attempt + 1` (attempt counts from 1): `base · 2^(attempt-1)`, capped,
/// with ±25 % jitter; a remote's `Retry-After` wins when longer.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, retry_after: Option<Duration>) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap);
    let jitter = rand::rng().random_range(0.75..1.25);
    let d = exp.mul_f64(jitter);
    retry_after.map_or(d, |ra| ra.max(d))
}

/// Run `op` up to `attempts` times while it fails with a retryable error. `what` labels the retry
/// metric (`llm`, `gateway`, `chatwoot`, `store`).
pub async fn with_retries<T, E, F, Fut>(
    what: &'static str,
    attempts: u32,
    base: Duration,
    mut op: F,
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < attempts => {
                let wait = backoff(attempt, base, Duration::from_secs(30), e.retry_after());
                tracing::warn!(target_service = what, attempt, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                metrics::counter!("wa_agent_retries_total", "target" => what).increment(1);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The worker runtime of one process: reads the work stream, reclaims abandoned signals, and runs
/// up to `concurrency` chats at once.
pub struct Runtime {
    store: Arc<dyn Store>,
    worker: Arc<Worker>,
    tuning: Tuning,
    consumer: String,
}

impl Runtime {
    /// A runtime whose consumer name is `consumer` (unique per process, so pending work shows who
    /// holds it).
    pub fn new(store: Arc<dyn Store>, worker: Arc<Worker>, tuning: Tuning, consumer: String) -> Self {
        Self {
            store,
            worker,
            tuning,
            consumer,
        }
    }

    /// Run until `shutdown` is cancelled, then wait up to `drain` for chats in progress.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken, drain: Duration) {
        let permits = Arc::new(Semaphore::new(self.tuning.concurrency.max(1)));
        let tracker = TaskTracker::new();
        tracing::info!(consumer = %self.consumer, concurrency = self.tuning.concurrency, "workers started");
        let reclaimer = tokio::spawn(self.clone().reclaim_loop(
            permits.clone(),
            tracker.clone(),
            shutdown.clone(),
        ));
        let mut failures: u32 = 0;
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                n = self.store.next_signal(&self.consumer, self.tuning.block) => n,
            };
            match next {
                Ok(Some(signal)) => {
                    failures = 0;
                    let me = self.clone();
                    let token = shutdown.clone();
                    tracker.spawn(async move {
                        me.handle(signal, token).await;
                        drop(permit);
                    });
                }
                Ok(None) => failures = 0,
                Err(e) => {
                    failures += 1;
                    let wait = backoff(failures, Duration::from_millis(200), Duration::from_secs(5), None);
                    if failures == 1 || failures % 20 == 0 {
                        tracing::warn!(error = %e, "work stream unavailable; workers back off");
                    }
                    tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(wait) => {} }
                }
            }
        }
        reclaimer.abort();
        tracker.close();
        if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
            tracing::warn!("shutdown deadline reached with chats in progress; they will be reclaimed");
        }
        tracing::info!("workers stopped");
    }

    async fn reclaim_loop(
        self: Arc<Self>,
        permits: Arc<Semaphore>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.tuning.reclaim_every) => {}
            }
            let signals = match self
                .store
                .reclaim_signals(&self.consumer, self.tuning.reclaim_idle, 16)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "reclaim skipped");
                    continue;
                }
            };
            for signal in signals {
                tracing::info!(chat_id = %signal.chat_id, signal_id = %signal.id, "reclaimed abandoned work");
                metrics::counter!("wa_agent_reclaimed_total").increment(1);
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let me = self.clone();
                let token = shutdown.clone();
                tracker.spawn(async move {
                    me.handle(signal, token).await;
                    drop(permit);
                });
            }
        }
    }

    /// Work one signal: take the chat's lease (or leave the chat to its holder), run its turns until
    /// the inbox is empty, then acknowledge.
    async fn handle(&self, signal: Signal, shutdown: CancellationToken) {
        let chat = signal.chat_id.clone();
        let holder = format!("{}/{}", self.consumer, uuid::Uuid::new_v4().simple());
        match self
            .store
            .acquire_lease(&chat, &holder, self.tuning.lease_ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                // The holder re-checks the inbox before releasing; nothing to do here.
                if let Err(e) = self.store.ack_signal(&signal).await {
                    tracing::debug!(chat_id = %chat, error = %e, "ack failed; the signal will be reclaimed");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(chat_id = %chat, error = %e, "could not take the chat lease; left for reclaim");
                return;
            }
        }
        let lease = Lease::new();
        let renewer = {
            let store = self.store.clone();
            let (chat, holder, signal, consumer) = (
                chat.clone(),
                holder.clone(),
                signal.clone(),
                self.consumer.clone(),
            );
            let (ttl, every, lease) = (self.tuning.lease_ttl, self.tuning.renew_every, lease.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match store.renew_lease(&chat, &holder, ttl, &signal, &consumer).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(chat_id = %chat, "chat lease lost");
                            lease.lose();
                            return;
                        }
                        Err(e) => tracing::warn!(chat_id = %chat, error = %e, "lease renewal failed"),
                    }
                }
            })
        };
        let done = self
            .worker
            .run_chat(&chat, &holder, &lease, &self.tuning, &shutdown)
            .await;
        renewer.abort();
        match done {
            Ok(()) => {
                if let Err(e) = self.store.ack_signal(&signal).await {
                    tracing::warn!(chat_id = %chat, error = %e, "ack failed; the signal will be reclaimed");
                }
            }
            Err(e) => {
                tracing::warn!(chat_id = %chat, error = %e, "chat left unfinished; it will be reclaimed");
                let _ = self.store.release_lease(&chat, &holder).await;
            }
        }
    }
}

/// Whether the chat lease is still ours, shared between the turn and its renewer.
#[derive(Debug, Clone, Default)]
pub struct Lease(Arc<std::sync::atomic::AtomicBool>);

impl Lease {
    /// A held lease.
    pub fn new() -> Self {
        Self::default()
    }
    /// Mark the lease lost.
    pub fn lose(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    /// Whether the lease was lost.
    pub fn is_lost(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
