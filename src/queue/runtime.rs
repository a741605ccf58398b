//! The worker runtime of one process: registers its consumer name, resumes the name's unfinished
//! work, reads the work stream, reclaims dead workers' signals, and runs up to `concurrency` chats at
//! once through a [`ChatHandler`]. It stops taking work on shutdown (or when another instance takes
//! its name), lets running chats finish for the grace period, then abandons the rest cleanly (see
//! [`super::chat`]) and exits holding nothing.
//!
//! Time: the waits that pace this process's own work (the reclaim and outbox-sweep rounds, backoffs,
//! the grace period) are slept on the runtime's [`Clock`], so a test with a manual clock moves them on
//! at will. The waits that keep a store-side TTL alive (the consumer-name heartbeat, the lease
//! renewer) stay on tokio's timer: Redis expires those keys on its own wall time, which no manual
//! clock moves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::lease::{ChatHandler, Lease, Tuning};
use crate::clock::SharedClock;
use crate::retry::backoff;
use crate::store::{Signal, Store};

/// Most signals read from the work stream in one round trip.
const READ_BATCH: usize = 64;
/// Most signals reclaimed in one round.
const RECLAIM_BATCH: usize = 16;
/// Most of this consumer's pending signals resumed at start.
const RESUME_MAX: usize = 10_000;

/// A signal a chat task of this process works on, and its lease once taken.
pub(super) struct Active {
    pub(super) signal: Signal,
    pub(super) lease: Option<Lease>,
}

/// The worker runtime of one process.
pub struct Runtime {
    pub(super) store: Arc<dyn Store>,
    pub(super) handler: Arc<dyn ChatHandler>,
    pub(super) tuning: Tuning,
    /// `CONSUMER_NAME`: the name this process reads the work stream under.
    pub(super) consumer: String,
    /// This process's incarnation of the name (a random id).
    pub(super) instance: String,
    next_holder: AtomicU64,
    /// Signals this process works on, by signal id (at most one task per signal).
    pub(super) active: Mutex<HashMap<String, Active>>,
    name_lost: AtomicBool,
    /// The clock the runtime's own waits are slept on (the system clock unless a test gives one).
    pub(super) clock: SharedClock,
}

/// Cancellation of the chat tasks: `stop` ends taking work, `abandon` drops running chats.
#[derive(Clone)]
pub(super) struct Stops {
    pub(super) stop: CancellationToken,
    pub(super) abandon: CancellationToken,
}

impl Runtime {
    /// A runtime reading the work stream as `consumer` (`CONSUMER_NAME`).
    pub fn new(
        store: Arc<dyn Store>,
        handler: Arc<dyn ChatHandler>,
        tuning: Tuning,
        consumer: String,
    ) -> Self {
        Self {
            store,
            handler,
            tuning,
            consumer,
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            next_holder: AtomicU64::new(0),
            active: Mutex::new(HashMap::new()),
            name_lost: AtomicBool::new(false),
            clock: crate::clock::system(),
        }
    }

    /// The same runtime with its waits slept on `clock` (see the module's "Time").
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Whether this process has nothing left to do: no chat task running (a chat waiting out its
    /// debounce is running), no signal waiting in the work stream, no Chatwoot outbox waiting. A store
    /// error counts as busy.
    pub async fn is_idle(&self) -> bool {
        if !self.active().is_empty() {
            return false;
        }
        let (Ok(stats), Ok(outboxes)) = (self.store.queue_stats().await, self.store.outbox_chats().await)
        else {
            return false;
        };
        stats.pending_signals == 0 && outboxes.is_empty() && self.active().is_empty()
    }

    /// A new lease holder name: `{consumer}/{instance}-{n}`.
    pub(super) fn new_holder(&self) -> String {
        let n = self.next_holder.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.own_prefix())
    }

    /// The prefix of every holder of this incarnation.
    fn own_prefix(&self) -> String {
        format!("{}/{}", self.consumer, self.instance)
    }

    /// Whether another instance took this process's consumer name.
    pub(super) fn name_was_lost(&self) -> bool {
        self.name_lost.load(Ordering::SeqCst)
    }

    pub(super) fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run until `shutdown` is cancelled (or another instance takes the name), then let running chats
    /// finish for up to `grace` and abandon the rest cleanly.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken, grace: Duration) {
        let stops = Stops {
            stop: shutdown.child_token(),
            abandon: CancellationToken::new(),
        };
        self.claim_name().await;
        let heartbeat = tokio::spawn(self.clone().heartbeat_loop(stops.clone()));
        let permits = Arc::new(Semaphore::new(self.tuning.concurrency.max(1)));
        let tracker = TaskTracker::new();
        tracing::info!(consumer = %self.consumer, concurrency = self.tuning.concurrency, "workers started");
        self.resume_own_work(&permits, &tracker, &stops).await;
        let reclaimer = tokio::spawn(self.clone().reclaim_loop(
            permits.clone(),
            tracker.clone(),
            stops.clone(),
        ));
        let sweeper = tokio::spawn(self.clone().outbox_sweep_loop(stops.stop.clone()));
        // The grace period runs from the moment the runtime is told to stop.
        let grace_over = {
            let (stop, clock) = (stops.stop.clone(), self.clock.clone());
            tokio::spawn(async move {
                stop.cancelled().await;
                clock.sleep(grace).await;
            })
        };
        self.read_loop(&permits, &tracker, &stops).await;

        // Store calls are not raced against the stop (a dropped XREADGROUP or XAUTOCLAIM would leave
        // what Redis delivered pending here): the loops end at their next check.
        let _ = reclaimer.await;
        sweeper.abort();
        tracker.close();
        if !stops.abandon.is_cancelled() && !tracker.is_empty() {
            tracing::info!(
                chats = tracker.len(),
                grace_secs = grace.as_secs(),
                "draining: running chats may finish"
            );
            tokio::select! {
                _ = tracker.wait() => {}
                _ = stops.abandon.cancelled() => {}
                _ = grace_over => {
                    tracing::warn!(chats = tracker.len(), "grace period over: abandoning running turns (no reply sent) and handing their chats on");
                }
            }
        }
        stops.abandon.cancel();
        tracker.wait().await;
        self.hand_on_abandoned().await;
        heartbeat.abort();
        if !self.name_was_lost()
            && let Err(e) = self.store.release_consumer(&self.consumer, &self.instance).await
        {
            tracing::warn!(error = %e, "could not release the consumer name; it expires by itself");
        }
        tracing::info!("workers stopped");
    }

    /// Read new signals while permits are free, until `stop`.
    async fn read_loop(self: &Arc<Self>, permits: &Arc<Semaphore>, tracker: &TaskTracker, stops: &Stops) {
        let mut failures: u32 = 0;
        loop {
            // Read as many signals as there are free workers (at least one), in one round trip.
            let Some(mut batch) = self.permits(permits, READ_BATCH, &stops.stop).await else {
                return;
            };
            let next = self
                .store
                .next_signals(&self.consumer, batch.len(), self.tuning.block)
                .await;
            match next {
                Ok(signals) if stops.stop.is_cancelled() => {
                    self.give_back(signals).await;
                    return;
                }
                Ok(signals) => {
                    failures = 0;
                    for (signal, permit) in signals.into_iter().zip(batch.drain(..)) {
                        self.spawn_chat(tracker, permit, signal, None, stops);
                    }
                }
                Err(e) => {
                    failures += 1;
                    let wait = backoff(failures, Duration::from_millis(200), Duration::from_secs(5), None);
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(error = %e, "work stream unavailable; workers back off");
                    }
                    tokio::select! { _ = stops.stop.cancelled() => return, _ = self.clock.sleep(wait) => {} }
                }
            }
        }
    }

    /// Wait for one free permit, then take up to `max` at once; `None` on `stop`.
    async fn permits(
        &self,
        permits: &Arc<Semaphore>,
        max: usize,
        stop: &CancellationToken,
    ) -> Option<Vec<OwnedSemaphorePermit>> {
        let first = tokio::select! {
            _ = stop.cancelled() => return None,
            p = permits.clone().acquire_owned() => p.ok()?,
        };
        let mut batch = vec![first];
        while batch.len() < max {
            match permits.clone().try_acquire_owned() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    /// Signals read just as the runtime stopped: passed on untouched (a fresh signal each, the read
    /// one acknowledged), so this process holds no pending work.
    async fn give_back(&self, signals: Vec<Signal>) {
        for signal in signals {
            if self.store.signal(&signal.chat_id).await.is_ok() {
                self.ack(&signal).await;
            }
        }
    }

    /// Register the consumer name, taking it over from any earlier instance.
    async fn claim_name(&self) {
        match self
            .store
            .claim_consumer(&self.consumer, &self.instance, self.tuning.name_ttl)
            .await
        {
            Ok(None) => {}
            Ok(Some(previous)) => tracing::warn!(
                consumer = %self.consumer,
                previous_instance = %previous,
                "CONSUMER_NAME was registered by an earlier instance: taken over (after a restart this is expected; \
                 a duplicate still running stops taking work)"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not register the consumer name yet; the heartbeat retries")
            }
        }
    }

    /// Keep the name registered; when another instance took it, stop taking work and abandon running
    /// chats (their leases went to the newcomer, which resumes them).
    async fn heartbeat_loop(self: Arc<Self>, stops: Stops) {
        loop {
            // Tokio's timer, not the clock: the name's TTL runs on Redis's wall time.
            tokio::time::sleep(self.tuning.heartbeat_every).await;
            match self
                .store
                .refresh_consumer(&self.consumer, &self.instance, self.tuning.name_ttl)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        consumer = %self.consumer,
                        "another instance started with the same CONSUMER_NAME and took the name over: this instance \
                         stops taking work (give every instance its own CONSUMER_NAME)"
                    );
                    self.name_lost.store(true, Ordering::SeqCst);
                    stops.stop.cancel();
                    stops.abandon.cancel();
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "consumer name heartbeat failed"),
            }
        }
    }

    /// At start: the signals still pending for this consumer name (an earlier incarnation's unfinished
    /// work) are resumed at once, taking over the leases that incarnation held.
    async fn resume_own_work(
        self: &Arc<Self>,
        permits: &Arc<Semaphore>,
        tracker: &TaskTracker,
        stops: &Stops,
    ) {
        let signals = match self.store.own_pending(&self.consumer, RESUME_MAX).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not read this consumer's unfinished work; it will be reclaimed");
                return;
            }
        };
        let prefix = format!("{}/", self.consumer);
        for signal in signals {
            let Some(mut permit) = self.permits(permits, 1, &stops.stop).await else {
                return;
            };
            let holder = self.new_holder();
            let ttl = self.tuning.lease_ttl;
            let chat = signal.chat_id.clone();
            match self
                .store
                .take_lease(&chat, &holder, ttl, &prefix, &self.own_prefix())
                .await
            {
                Ok(true) => {
                    tracing::info!(chat_id = %chat, signal_id = %signal.id, "resumed this consumer's unfinished work");
                    metrics::counter!("wa_agent_resumed_total").increment(1);
                    let lease = Lease::new(self.store.clone(), &chat, &holder);
                    let permit = permit.pop().expect("one permit");
                    self.spawn_chat(tracker, permit, signal, Some(lease), stops);
                }
                // Another consumer's worker holds the chat and finishes it.
                Ok(false) => self.ack(&signal).await,
                Err(e) => tracing::warn!(chat_id = %chat, error = %e, "could not resume; left for reclaim"),
            }
        }
    }

    async fn reclaim_loop(self: Arc<Self>, permits: Arc<Semaphore>, tracker: TaskTracker, stops: Stops) {
        loop {
            tokio::select! {
                _ = stops.stop.cancelled() => return,
                _ = self.clock.sleep(self.tuning.reclaim_every) => {}
            }
            // Claim only as many as can start now, so no claimed signal waits (or is held at exit).
            let Some(batch) = self.permits(&permits, RECLAIM_BATCH, &stops.stop).await else {
                return;
            };
            let signals = match self
                .store
                .reclaim_signals(&self.consumer, self.tuning.reclaim_idle, batch.len())
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "reclaim skipped");
                    continue;
                }
            };
            if stops.stop.is_cancelled() {
                self.give_back(signals).await;
                return;
            }
            for (signal, permit) in signals.into_iter().zip(batch) {
                tracing::info!(chat_id = %signal.chat_id, signal_id = %signal.id, "reclaimed abandoned work");
                metrics::counter!("wa_agent_reclaimed_total").increment(1);
                self.spawn_chat(&tracker, permit, signal, None, &stops);
            }
        }
    }

    /// Every few seconds, one instance (by a short lock) signals the chats whose Chatwoot outbox
    /// waits, so mirroring resumes by itself once Chatwoot is back, in order, under the chat's lease.
    async fn outbox_sweep_loop(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.clock.sleep(self.tuning.outbox_sweep_every) => {}
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
