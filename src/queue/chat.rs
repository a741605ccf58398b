//! One chat task of the runtime: take the chat's lease (or leave the chat to its holder), run the
//! handler while renewing the lease, then acknowledge; and the clean ends when it cannot finish.
//!
//! Invariants:
//! - at most one task of this process per signal (the `active` map), and a task works a chat only
//!   while holding its lease;
//! - a signal is acknowledged only by the task whose lease settled it (inbox drained, or chat handed
//!   on with a fresh signal first), or when another worker holds the chat; a task whose lease was
//!   taken leaves the signal alone, so it never acknowledges the new holder's work;
//! - handing a chat on = release our lease (compare-and-delete), signal the chat again, acknowledge
//!   the old signal: another instance, or this one restarted, takes it at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::task::TaskTracker;

use super::lease::{ChatContext, Lease};
use super::runtime::{Active, Runtime, Stops};
use crate::retry::backoff;
use crate::store::Signal;

/// Aborts the task when dropped (the lease renewer dies with its chat task, however it ends).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Runtime {
    /// Start a task for `signal` (with its lease when already taken), unless one already runs for it.
    /// The task is dropped where it stands when `abandon` is cancelled; its `active` entry stays for
    /// [`Runtime::hand_on_abandoned`].
    pub(super) fn spawn_chat(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        permit: OwnedSemaphorePermit,
        signal: Signal,
        lease: Option<Lease>,
        stops: &Stops,
    ) {
        {
            let mut active = self.active();
            if active.contains_key(&signal.id) {
                return;
            }
            active.insert(
                signal.id.clone(),
                Active {
                    signal: signal.clone(),
                    lease: lease.clone(),
                },
            );
        }
        let me = self.clone();
        let stops = stops.clone();
        tracker.spawn(async move {
            tokio::select! {
                biased;
                _ = stops.abandon.cancelled() => {}
                _ = me.handle(&signal, lease, &stops) => {
                    me.active().remove(&signal.id);
                }
            }
            drop(permit);
        });
    }

    /// Work one signal: take the chat's lease, run the handler until the inbox is empty, then
    /// acknowledge. While the store is down the chat is retried with backoff; when the runtime stops
    /// with work left, the chat is handed on at once.
    async fn handle(&self, signal: &Signal, lease: Option<Lease>, stops: &Stops) {
        let lease = match lease {
            Some(l) => l,
            None => match self.take_lease(signal, stops).await {
                Some(l) => l,
                None => return,
            },
        };
        if let Some(a) = self.active().get_mut(&signal.id) {
            a.lease = Some(lease.clone());
        }
        let _renewer = self.spawn_renewer(signal, &lease);
        let ctx = ChatContext {
            lease: &lease,
            tuning: &self.tuning,
            stop: &stops.stop,
        };
        let chat = signal.chat_id.as_str();
        let mut failures: u32 = 0;
        loop {
            match self.handler.run_chat(chat, &ctx).await {
                Ok(()) if lease.is_lost() => {
                    tracing::info!(chat_id = %chat, "chat lease lost; the new holder finishes the chat");
                    return;
                }
                Ok(()) => {
                    self.ack(signal).await;
                    return;
                }
                Err(e) if stops.stop.is_cancelled() => {
                    tracing::info!(chat_id = %chat, reason = %e, "stopping: handing the chat to another instance");
                    self.hand_on(signal, &lease).await;
                    return;
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(chat_id = %chat, error = %e, failures, "chat interrupted; retrying");
                    }
                    let wait = backoff(failures, Duration::from_millis(200), Duration::from_secs(5), None);
                    tokio::select! { _ = stops.stop.cancelled() => {}, _ = self.clock.sleep(wait) => {} }
                    if lease.is_lost() || !self.still_holding(&lease, signal).await {
                        lease.lose();
                        tracing::info!(chat_id = %chat, "another worker took the chat over meanwhile");
                        return;
                    }
                }
            }
        }
    }

    /// Take the chat's lease for `signal`. `None`: another worker holds the chat (the signal is
    /// acknowledged: the holder re-checks the inbox before releasing), or the runtime stopped while
    /// the store was unreachable.
    async fn take_lease(&self, signal: &Signal, stops: &Stops) -> Option<Lease> {
        let chat = signal.chat_id.as_str();
        let holder = self.new_holder();
        let mut failures: u32 = 0;
        loop {
            match self
                .store
                .acquire_lease(chat, &holder, self.tuning.lease_ttl)
                .await
            {
                Ok(true) => return Some(Lease::new(self.store.clone(), chat, &holder)),
                Ok(false) => {
                    self.ack(signal).await;
                    return None;
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(chat_id = %chat, error = %e, "could not take the chat lease; retrying");
                    }
                    let wait = backoff(failures, Duration::from_millis(200), Duration::from_secs(5), None);
                    tokio::select! {
                        _ = stops.stop.cancelled() => return None,
                        _ = self.clock.sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Give the chat up so another worker takes it at once: our lease released, a fresh signal, the
    /// old one acknowledged. A lease no longer ours is left alone (its holder has the chat).
    pub(super) async fn hand_on(&self, signal: &Signal, lease: &Lease) {
        lease.lose();
        let chat = signal.chat_id.as_str();
        match self.store.release_lease(chat, lease.holder()).await {
            Ok(true) => match self.store.signal(chat).await {
                Ok(()) => self.ack(signal).await,
                Err(e) => {
                    tracing::warn!(chat_id = %chat, error = %e, "could not signal the chat again; it will be reclaimed")
                }
            },
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(chat_id = %chat, error = %e, "could not release the chat lease; it expires by itself")
            }
        }
    }

    /// After the chat tasks were dropped: hand on every chat they left (turns cut off by the end of
    /// the grace period, or by losing the consumer name).
    pub(super) async fn hand_on_abandoned(&self) {
        let left: Vec<Active> = self.active().drain().map(|(_, a)| a).collect();
        for a in left {
            let chat = a.signal.chat_id.clone();
            match &a.lease {
                Some(lease) => {
                    tracing::warn!(chat_id = %chat, "turn abandoned: no reply sent; chat handed on");
                    metrics::counter!("wa_agent_abandoned_total").increment(1);
                    self.hand_on(&a.signal, lease).await;
                }
                // No lease yet: the signal alone is passed on; after losing the name it is left to the
                // newcomer, which may be working it under the same name.
                None if self.name_was_lost() => {}
                None => {
                    if self.store.signal(&chat).await.is_ok() {
                        self.ack(&a.signal).await;
                    }
                }
            }
        }
    }

    /// After an interruption: renew our lease, or take it again if it expired meanwhile. `false`
    /// only when another holder has it; store errors count as "still ours" (retry later).
    async fn still_holding(&self, lease: &Lease, signal: &Signal) -> bool {
        let (chat, holder, ttl) = (lease.chat_id(), lease.holder(), self.tuning.lease_ttl);
        match self
            .store
            .renew_lease(chat, holder, ttl, signal, &self.consumer)
            .await
        {
            Ok(true) | Err(_) => true,
            Ok(false) => self.store.acquire_lease(chat, holder, ttl).await.unwrap_or(true),
        }
    }

    pub(super) async fn ack(&self, signal: &Signal) {
        if let Err(e) = self.store.ack_signal(signal).await {
            tracing::debug!(chat_id = %signal.chat_id, error = %e, "ack failed; the signal will be reclaimed");
        }
    }

    fn spawn_renewer(&self, signal: &Signal, lease: &Lease) -> AbortOnDrop {
        let store = self.store.clone();
        let (signal, consumer, lease) = (signal.clone(), self.consumer.clone(), lease.clone());
        let (ttl, every) = (self.tuning.lease_ttl, self.tuning.renew_every);
        AbortOnDrop(tokio::spawn(async move {
            loop {
                // Tokio's timer, not the clock: the lease's TTL runs on Redis's wall time.
                tokio::time::sleep(every).await;
                if lease.is_lost() {
                    return;
                }
                match store
                    .renew_lease(lease.chat_id(), lease.holder(), ttl, &signal, &consumer)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(chat_id = %lease.chat_id(), "chat lease lost");
                        lease.lose();
                        return;
                    }
                    Err(e) => tracing::warn!(chat_id = %lease.chat_id(), error = %e, "lease renewal failed"),
                }
            }
        }))
    }
}
