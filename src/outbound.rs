//! The HTTP client every outbound integration (LLM, WAHA, Graph API, Chatwoot) is built with, and the
//! pieces of an outbound failure every client reads the same way (`Retry-After`, a transport error's
//! message). Messages never carry a URL or headers: they hold credentials.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

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

/// `Retry-After` as whole delay seconds; the HTTP-date form (and anything else) is ignored.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// What a request to `service` that got no usable answer says: the error's sources walked, plus
/// "timed out" for a timeout that did not say so itself. Never the URL or headers.
pub fn transport_message(service: &str, error: &reqwest::Error) -> String {
    let mut message = format!("{service} request failed");
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
