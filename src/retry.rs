//! The retry policy of every external call (LLM, gateways, Chatwoot, media, the store): which errors
//! are worth another attempt, the backoff between attempts (exponential, capped, with jitter; a
//! remote's `Retry-After` wins when longer), and the loop that applies them. It depends on no runtime:
//! the worker, the mirror and the queue's runtime all use it.
//!
//! Invariant: what is worth another attempt is decided in one place per kind of failure, never per
//! client: [`OutboundError`] for every outbound call (classified in [`crate::outbound`]),
//! [`MediaError`] by the outbound failure it wraps (a file over the limit never is), [`StoreError`]
//! always.

use std::future::Future;
use std::time::Duration;

use rand::RngExt;

use crate::media::MediaError;
use crate::outbound::OutboundError;
use crate::store::StoreError;

/// The one attempt count and first backoff of every outbound call, defined with the failure model
/// in [`crate::outbound`] (which media, below this module, also reads).
pub use crate::outbound::{ATTEMPTS, BACKOFF};

/// An error that may be worth retrying.
pub trait Retryable: std::fmt::Display {
    /// Whether another attempt may succeed.
    fn is_retryable(&self) -> bool;
    /// The delay the remote asked for.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Every external call's failure (LLM, gateways, Chatwoot, media): classified once, in
/// [`crate::outbound`].
impl Retryable for OutboundError {
    fn is_retryable(&self) -> bool {
        OutboundError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        OutboundError::retry_after(self)
    }
}

/// A media failure is retried as the outbound failure it wraps ([`MediaError::is_retryable`]).
impl Retryable for MediaError {
    fn is_retryable(&self) -> bool {
        MediaError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        MediaError::retry_after(self)
    }
}

/// The store is ours and every failure of it transient.
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
