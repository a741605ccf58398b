//! The queue: how an accepted message becomes exactly one turn.
//!
//! # Guarantees
//! - **Accept is atomic.** The intake answers 200 only after one store step marked the gateway message
//!   id seen (24 h) *and* pushed it to its chat's inbox *and* signalled the work stream. A duplicate
//!   delivery finds the id seen and queues nothing. When the store cannot take it, the intake answers
//!   503 and the gateway retries.
//! - **At least once, answered once.** An inbox entry leaves the inbox only in the turn's commit, the
//!   same atomic step that writes the exchange to the history (and any dead letter). A worker that dies
//!   mid-turn leaves its signal unacknowledged and its lease to expire; after the reclaim deadline
//!   (`RECLAIM_AFTER_SECS`, never shorter than the slowest possible turn, checked at start-up) another
//!   worker reclaims the signal (`XAUTOCLAIM`) and runs the turn again from the inbox. The one window
//!   left is a worker killed between the gateway accepting a reply and that commit: the reply is then
//!   sent again.
//! - **One chat at a time, in order.** A worker handles a chat only while it holds the chat's lease
//!   (`SET NX PX`, renewed every [`Tuning::renew_every`] while the chat is worked on; the renewal also
//!   resets the signal's idle time, so a live turn is never reclaimed). A worker that finds the chat
//!   leased acknowledges its signal and moves on: the holder re-checks the inbox, and releases the
//!   lease only in one step with "the inbox is empty", so a message accepted meanwhile is never stranded.
//! - **Debounce.** The holder answers once the newest inbox entry is [`Tuning`]`::debounce` old; all
//!   entries then in the inbox are answered in one turn. A message that arrives while the agent is
//!   thinking supersedes the draft: the reply is not sent and the turn runs again with it.
//! - **Retries and dead letters.** Calls to the LLM, the gateway and Chatwoot are retried with
//!   exponential backoff and jitter when the error is retryable (timeouts, connection errors, 429, 5xx;
//!   `Retry-After` honoured), never when it is not. Work whose call still fails goes, in its turn's
//!   commit, to the dead letters with the reason (the customer's messages are recorded all the same);
//!   `wa-agent dlq replay` puts it back. Chatwoot mirroring is not dead-lettered: it waits in the
//!   chat's outbox, in order, until Chatwoot takes it.
//! - **Outages and shutdown.** While Redis is down, readers and chats back off and resume by
//!   themselves. At shutdown a chat with work left is released and signalled again at once, so
//!   another instance takes it without waiting for the reclaim deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::AgentError;
use crate::chatwoot::ChatwootError;
use crate::domain::{ChatEvent, Envelope, InboundMessage};
use crate::gateway::GatewayError;
use crate::store::{Accept, Signal, Store, StoreError};
use crate::worker::Worker;

/// Most signals read from the work stream in one round trip.
const READ_BATCH: usize = 64;

/// How long a gateway message id is remembered for dedupe.
pub const DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Accept a customer message: dedupe on `{gateway}:{dedupe_id}` and queue it, atomically.
pub async fn accept_message(
    store: &dyn Store,
    dedupe_id: &str,
    message: InboundMessage,
) -> Result<Accept, StoreError> {
    let key = format!("{}:{}", message.gateway.as_str(), dedupe_id);
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
    /// How often chats with a waiting Chatwoot outbox are retried.
    pub outbox_sweep_every: Duration,
    /// Chats handled at once by this process.
    pub concurrency: usize,
}

impl Tuning {
    /// Defaults around a debounce window, a reclaim deadline and a concurrency.
    pub fn new(debounce: Duration, reclaim_idle: Duration, concurrency: usize) -> Self {
        Self {
            debounce,
            lease_ttl: Duration::from_secs(15),
            renew_every: Duration::from_secs(3),
            reclaim_idle,
            reclaim_every: Duration::from_secs(2).min(reclaim_idle),
            block: Duration::from_secs(1),
            outbox_sweep_every: Duration::from_secs(5),
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
        let sweeper = tokio::spawn(self.clone().outbox_sweep_loop(shutdown.clone()));
        let mut failures: u32 = 0;
        loop {
            // Read as many signals as there are free workers (at least one), in one round trip.
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let mut batch = vec![first];
            while batch.len() < READ_BATCH {
                match permits.clone().try_acquire_owned() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                n = self.store.next_signals(&self.consumer, batch.len(), self.tuning.block) => n,
            };
            match next {
                Ok(signals) => {
                    failures = 0;
                    for (signal, permit) in signals.into_iter().zip(batch.drain(..)) {
                        let me = self.clone();
                        let token = shutdown.clone();
                        tracker.spawn(async move {
                            me.handle(signal, token).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => {
                    failures += 1;
                    let wait = backoff(failures, Duration::from_millis(200), Duration::from_secs(5), None);
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(error = %e, "work stream unavailable; workers back off");
                    }
                    tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(wait) => {} }
                }
            }
        }
        reclaimer.abort();
        sweeper.abort();
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

    /// Work one signal: take the chat's lease (or leave the chat to its holder), run its inbox until
    /// it is empty, then acknowledge. While the store is down the chat is retried with backoff; at
    /// shutdown a chat with work left is handed to another instance at once.
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
                self.ack(&signal).await;
                return;
            }
            Err(e) => {
                tracing::warn!(chat_id = %chat, error = %e, "could not take the chat lease; left for reclaim");
                return;
            }
        }
        let lease = Lease::new();
        let renewer = self.spawn_renewer(&chat, &holder, &signal, &lease);
        let mut failures: u32 = 0;
        loop {
            match self
                .worker
                .run_chat(&chat, &holder, &lease, &self.tuning, &shutdown)
                .await
            {
                Ok(()) => {
                    self.ack(&signal).await;
                    break;
                }
                Err(e) if shutdown.is_cancelled() => {
                    tracing::info!(chat_id = %chat, reason = %e, "shutting down: handing the chat to another instance");
                    let handed = self.store.release_lease(&chat, &holder).await.is_ok()
                        && self.store.signal(&chat).await.is_ok();
                    if handed {
                        self.ack(&signal).await;
                    }
                    break;
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(chat_id = %chat, error = %e, failures, "chat interrupted; retrying");
                    }
                    let wait = backoff(failures, Duration::from_millis(200), Duration::from_secs(5), None);
                    tokio::select! { _ = shutdown.cancelled() => {}, _ = tokio::time::sleep(wait) => {} }
                    if lease.is_lost() || !self.still_holding(&chat, &holder, &signal).await {
                        // Someone else took the chat over meanwhile; its holder finishes it.
                        self.ack(&signal).await;
                        break;
                    }
                }
            }
        }
        renewer.abort();
    }

    /// After an interruption: renew our lease, or take it again if it expired meanwhile. `false`
    /// only when another holder has it; store errors count as "still ours" (retry later).
    async fn still_holding(&self, chat: &str, holder: &str, signal: &Signal) -> bool {
        let ttl = self.tuning.lease_ttl;
        match self
            .store
            .renew_lease(chat, holder, ttl, signal, &self.consumer)
            .await
        {
            Ok(true) | Err(_) => true,
            Ok(false) => self.store.acquire_lease(chat, holder, ttl).await.unwrap_or(true),
        }
    }

    async fn ack(&self, signal: &Signal) {
        if let Err(e) = self.store.ack_signal(signal).await {
            tracing::debug!(chat_id = %signal.chat_id, error = %e, "ack failed; the signal will be reclaimed");
        }
    }

    fn spawn_renewer(
        &self,
        chat: &str,
        holder: &str,
        signal: &Signal,
        lease: &Lease,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let (chat, holder, signal, consumer) = (
            chat.to_owned(),
            holder.to_owned(),
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
    }

    /// Every few seconds, one instance (by a short lock) signals the chats whose Chatwoot outbox
    /// waits, so mirroring resumes by itself once Chatwoot is back, in order, under the chat's lease.
    async fn outbox_sweep_loop(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.tuning.outbox_sweep_every) => {}
            }
            let lock_ttl = self
                .tuning
                .outbox_sweep_every
                .saturating_sub(Duration::from_millis(100));
            if !self
                .store
                .try_lock("outbox-sweep", &self.consumer, lock_ttl)
                .await
                .unwrap_or(false)
            {
                continue;
            }
            let chats = self.store.outbox_chats().await.unwrap_or_default();
            for chat in chats {
                if let Err(e) = self.store.signal(&chat).await {
                    tracing::debug!(error = %e, "outbox sweep interrupted");
                    break;
                }
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
