//! Everything outbound: the HTTP client every integration (LLM, WAHA, Graph API, Evolution API,
//! Chatwoot, media downloads, transcription) is built with, and [`OutboundError`], the one failure
//! every client returns.
//!
//! Invariants:
//! - a failure is [`OutboundError::Retryable`] or [`OutboundError::Fatal`], and only the status and
//!   the transport decide which ([`OutboundError::from_status`], [`OutboundError::from_transport`]):
//!   timeouts, connection errors, broken bodies, 408, 425, 429 and 5xx are retryable (with the
//!   remote's `Retry-After`); a request that could not be built and every other 4xx are fatal. A client
//!   may only widen that with a "try again later" its remote says in the body
//!   ([`OutboundError::retryable_if`]: WAHA's session not ready, Chatwoot's flood limit, Graph's
//!   throttling codes), never narrow it;
//! - every error names its service (`agent` for the LLM, `chatwoot`, the channel kinds `waha`, `meta`,
//!   `evolution`, `chatwoot_bot`, `web`, and `media`) and keeps the HTTP status when a response
//!   arrived, so callers can tell a 404 apart;
//! - messages never carry a URL, headers or credentials ([`transport_message`] walks the error's
//!   sources only; clients put a short body snippet at most, see [`snippet`]);
//! - every client reads its answers here: [`exchange`] (the whole answer, the status left to the
//!   client) or [`exchange_limited`] (files: the status first, the body never past a limit).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Attempts of each external call (model, gateways, Chatwoot, media) within a turn: the one count.
pub const ATTEMPTS: u32 = 3;
/// First backoff between those attempts.
pub const BACKOFF: Duration = Duration::from_millis(500);

/// How much of an error body goes into a message ([`snippet`]).
pub const SNIPPET_CHARS: usize = 200;

/// Longest `Retry-After` honoured: a day.
const MAX_RETRY_AFTER_SECS: f64 = 86_400.0;

/// A client whose every request gives up after `timeout` (connecting after at most 10 s), with the
/// service's user agent.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("wa-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// A failed call to an external service, split by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Worth trying again later: timeouts, connection failures, 408, 425, 429, 5xx, or a remote's own
    /// "try again later".
    #[error("{service} temporarily unavailable: {message}")]
    Retryable {
        /// The service called (`agent`, `chatwoot`, `waha`, `meta`, `evolution`, `media`, …).
        service: &'static str,
        /// The HTTP status, when a response arrived.
        status: Option<u16>,
        /// What went wrong, without secrets, URLs or headers.
        message: String,
        /// How long the remote asked us to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help: a 4xx, a request that could not be built, an unusable answer.
    #[error("{service} failed: {message}")]
    Fatal {
        /// The service called.
        service: &'static str,
        /// The HTTP status, when a response arrived.
        status: Option<u16>,
        /// What went wrong, without secrets, URLs or headers.
        message: String,
    },
}

impl OutboundError {
    /// A request to `service` that got no usable answer; `what` names the request in the message
    /// ([`transport_message`]). Retryable (timeouts, refused or reset connections, broken bodies), but
    /// for a request that could not even be built.
    pub fn from_transport(service: &'static str, what: &str, error: &reqwest::Error) -> Self {
        let message = transport_message(what, error);
        if error.is_builder() {
            OutboundError::Fatal {
                service,
                status: None,
                message,
            }
        } else {
            OutboundError::Retryable {
                service,
                status: None,
                message,
                retry_after: None,
            }
        }
    }

    /// A non-2xx answer, classified by its status alone ([`retryable_status`]); a retryable one
    /// carries the `Retry-After` of `headers`. `message` is the client's safe summary: the request,
    /// the status and at most a short detail of the body.
    pub fn from_status(
        service: &'static str,
        status: StatusCode,
        headers: &HeaderMap,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        if retryable_status(status) {
            OutboundError::Retryable {
                service,
                status: Some(status.as_u16()),
                message,
                retry_after: retry_after(headers),
            }
        } else {
            OutboundError::Fatal {
                service,
                status: Some(status.as_u16()),
                message,
            }
        }
    }

    /// A failure that trying again will not fix (bad configuration, an unusable answer).
    pub fn fatal(service: &'static str, message: impl Into<String>) -> Self {
        OutboundError::Fatal {
            service,
            status: None,
            message: message.into(),
        }
    }

    /// A failure without a response that trying again may fix (e.g. the store behind the playground).
    pub fn retryable(service: &'static str, message: impl Into<String>) -> Self {
        OutboundError::Retryable {
            service,
            status: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// This error, made retryable (waiting `retry_after`) when `retry` holds: the remote said "try
    /// again later" in a way its status does not. A retryable error stays as it is.
    pub fn retryable_if(self, retry: bool, retry_after: Option<Duration>) -> Self {
        match self {
            OutboundError::Fatal {
                service,
                status,
                message,
            } if retry => OutboundError::Retryable {
                service,
                status,
                message,
                retry_after,
            },
            other => other,
        }
    }

    /// This error with every occurrence of `secret` in its message replaced by `[redacted]`.
    pub fn redacted(mut self, secret: &str) -> Self {
        if !secret.is_empty() {
            let message = match &mut self {
                OutboundError::Retryable { message, .. } | OutboundError::Fatal { message, .. } => message,
            };
            *message = message.replace(secret, "[redacted]");
        }
        self
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, OutboundError::Retryable { .. })
    }

    /// The delay the remote asked for (retryable errors only).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            OutboundError::Retryable { retry_after, .. } => *retry_after,
            OutboundError::Fatal { .. } => None,
        }
    }

    /// The HTTP status of the failed answer, when one arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            OutboundError::Retryable { status, .. } | OutboundError::Fatal { status, .. } => *status,
        }
    }

    /// The service that failed.
    pub fn service(&self) -> &'static str {
        match self {
            OutboundError::Retryable { service, .. } | OutboundError::Fatal { service, .. } => service,
        }
    }

    /// What went wrong, without the service prefix of the display text.
    pub fn message(&self) -> &str {
        match self {
            OutboundError::Retryable { message, .. } | OutboundError::Fatal { message, .. } => message,
        }
    }
}

/// Whether a status alone says "try again later": 408, 425, 429 and every 5xx.
pub fn retryable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
    ) || status.is_server_error()
}

/// A request's answer, read whole.
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The answer's headers (`Retry-After` is read from them).
    pub headers: HeaderMap,
    /// The body.
    pub body: bytes::Bytes,
}

/// Send `request` and read its whole answer. A failure to send or to read the body is the transport
/// [`OutboundError`] of `service`, described as a request to `what`; the status is left to the caller.
pub async fn exchange(
    service: &'static str,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, OutboundError> {
    let transport = |e: reqwest::Error| OutboundError::from_transport(service, what, &e);
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// What [`exchange_limited`] read of a 2xx answer.
pub enum Limited {
    /// The whole body, at most the limit, with the answer's headers.
    Read {
        /// The answer's headers.
        headers: HeaderMap,
        /// The body.
        body: bytes::Bytes,
    },
    /// The body is longer than the limit (announced or counted); the rest was not read.
    TooLarge,
}

/// Send `request` and read a 2xx answer's body, giving up as soon as it is known to pass `max` bytes:
/// from `Content-Length` before reading anything, else while counting chunks (at most `max` plus one
/// chunk is buffered; the connection is dropped). Any other status is the [`OutboundError::from_status`]
/// of `service`, `"{what} answered {status}"`, with the body left unread; a failure to send or to read
/// is the transport error, as in [`exchange`].
pub async fn exchange_limited(
    service: &'static str,
    what: &str,
    request: reqwest::RequestBuilder,
    max: u64,
) -> Result<Limited, OutboundError> {
    let transport = |e: reqwest::Error| OutboundError::from_transport(service, what, &e);
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    if !status.is_success() {
        let message = format!("{what} answered {}", status.as_u16());
        return Err(OutboundError::from_status(
            service,
            status,
            response.headers(),
            message,
        ));
    }
    if response.content_length().is_some_and(|len| len > max) {
        return Ok(Limited::TooLarge);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Ok(Limited::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Limited::Read {
        headers: std::mem::take(response.headers_mut()),
        body: body.freeze(),
    })
}

/// `Retry-After` as delay seconds (whole or decimal) or as an HTTP date, at most a day. Negative and
/// unreadable values, and a date that has passed, are ignored.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// [`retry_after`] as read at `now` (an HTTP date is a wait from `now`).
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let max = Duration::from_secs_f64(MAX_RETRY_AFTER_SECS);
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER_SECS)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    date.duration_since(now)
        .ok()
        .filter(|wait| !wait.is_zero())
        .map(|wait| wait.min(max))
}

/// The first [`SNIPPET_CHARS`] characters of an error body, trimmed (invalid UTF-8 replaced).
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(SNIPPET_CHARS)
        .collect()
}

/// What a request `what` that got no usable answer says: the error's sources walked, plus
/// "timed out" for a timeout that did not say so itself. Never the URL or headers.
pub fn transport_message(what: &str, error: &reqwest::Error) -> String {
    let mut message = format!("{what} request failed");
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    if error.is_timeout() && !message.contains("timed out") {
        message.push_str(": timed out");
    }
    message
}

#[cfg(test)]
mod tests;
