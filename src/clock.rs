//! The service's sense of time, injectable: the worker and the queue's runtime read the wall clock
//! and sleep through a [`Clock`], so a test (or an evaluation run) can hold time still and move it on
//! at will instead of waiting.
//!
//! Invariants:
//! - [`SystemClock`] is the wall clock (Unix milliseconds) with tokio's timer: production behaviour.
//! - [`ManualClock`] stands still until [`ManualClock::advance`] (or [`ManualClock::set`]) moves it;
//!   every sleeper whose deadline is reached then wakes, and none wakes before. It never goes back.
//! - Durations are measured on the clock they are slept on: a deadline is `now_ms() + d` of the
//!   same clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// A boxed sleep, so the trait stays object-safe.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Wall time and sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// A future that completes once `d` has passed on this clock.
    fn sleep(&self, d: Duration) -> Sleep;
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::domain::now_ms()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    moved: Notify,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: i64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicI64::new(now_ms),
            moved: Notify::new(),
        })
    }

    /// A clock standing at the current wall time.
    pub fn starting_now() -> Arc<Self> {
        Self::new(crate::domain::now_ms())
    }

    /// Move the clock on by `d` and wake the sleepers it reaches.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.now.fetch_add(ms, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Move the clock to `now_ms` (never back: an earlier time is ignored).
    pub fn set(&self, now_ms: i64) {
        self.now.fetch_max(now_ms, Ordering::SeqCst);
        self.moved.notify_waiters();
    }
}

impl Clock for Arc<ManualClock> {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let clock = Arc::clone(self);
        let deadline = clock
            .now_ms()
            .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Box::pin(async move {
            loop {
                // Register before checking, so an advance between the check and the wait is not missed.
                let moved = clock.moved.notified();
                if clock.now_ms() >= deadline {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleeper_wakes_only_when_its_deadline_is_reached() {
        let clock = ManualClock::new(1_000);
        let shared: SharedClock = Arc::new(Arc::clone(&clock));
        let sleeper = tokio::spawn(shared.sleep(Duration::from_secs(5)));
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(4));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke a second early");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woke at its deadline")
            .expect("sleeper task");
        assert_eq!(shared.now_ms(), 6_000);
    }

    #[test]
    fn a_manual_clock_never_goes_back() {
        let clock = ManualClock::new(10_000);
        clock.set(5_000);
        assert_eq!(clock.now_ms(), 10_000);
        clock.set(12_000);
        assert_eq!(clock.now_ms(), 12_000);
    }
}
