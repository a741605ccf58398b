//! The HTTP client every outbound integration (LLM, WAHA, Graph API, Chatwoot) is built with.

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
