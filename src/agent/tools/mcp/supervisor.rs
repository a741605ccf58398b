//! One server's supervisor: connect, list, keep fresh, notice loss, reconnect with backoff.
//!
//! The supervisor is the only writer of its [`Slot`]. It publishes the tool list after every successful
//! listing and clears it (keeping a short reason) as soon as the server cannot be reached, so a turn never
//! sees a down server's tools. A lost session is treated as a lost server (rmcp's transparent
//! re-initialisation is off): the reconnect lists the tools again, so a restarted server's new list is
//! picked up. Warnings are logged on the first failure and every 20th after it, and on loss.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{ClientCapabilities, ClientConfig, ClientRequest, Implementation, PingRequest};
use rmcp::service::{
    ClientCacheConfig, ClientInitializeError, MaybeSendFuture, NotificationContext, Peer, RoleClient,
    RunningService,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError};
use rmcp::{ClientHandler, ServiceExt};
use secrecy::ExposeSecret;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::{Slot, names};

/// Most characters of a failure reason kept for logs and `status()`.
const REASON_MAX_CHARS: usize = 200;

/// Receives the server's notifications; only `tools/list_changed` matters.
#[derive(Clone)]
struct Listener {
    changed: Arc<Notify>,
}

impl ClientHandler for Listener {
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.changed.notify_one();
        std::future::ready(())
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("wa-agent", env!("CARGO_PKG_VERSION")),
        )
    }
}

type Running = RunningService<RoleClient, Listener>;

/// Writes the slot and tells [`super::McpTools::settle`] something changed.
struct Publisher<'a> {
    slot: &'a Slot,
    changes: watch::Sender<u64>,
}

impl Publisher<'_> {
    fn update(&self, f: impl FnOnce(&mut super::SlotState)) {
        f(&mut self.slot.write());
        self.changes.send_modify(|v| *v += 1);
    }
}

/// Run until `stop` is cancelled.
pub(super) async fn supervise(
    slot: Arc<Slot>,
    options: super::McpOptions,
    stop: CancellationToken,
    changes: watch::Sender<u64>,
) {
    let publish = Publisher { slot: &slot, changes };
    let mut delay = options.reconnect_min;
    let mut failures = 0u32;
    loop {
        let attempt = tokio::select! {
            _ = stop.cancelled() => return,
            attempt = connect(&slot, &options) => attempt,
        };
        match attempt {
            Ok((running, changed, tools)) => {
                delay = options.reconnect_min;
                let peer = running.peer().clone();
                let offered = names::assign(&slot.config.name, &tools);
                tracing::info!(
                    tools = offered.len(),
                    "MCP server connected; its tools are offered"
                );
                publish.update(|s| {
                    s.attempted = true;
                    s.peer = Some(peer);
                    s.tools = offered;
                    s.error = None;
                });
                let lost = stay_connected(&slot, running, &changed, &options, &stop, &publish).await;
                publish.update(|s| {
                    s.peer = None;
                    s.tools.clear();
                    s.error.clone_from(&lost);
                });
                match lost {
                    None => return,
                    Some(reason) => {
                        tracing::warn!(%reason, "MCP server lost; its tools are withdrawn until it is back");
                        // The loss was just logged: the next warning comes with the 20th failure.
                        failures = 1;
                        continue;
                    }
                }
            }
            Err(reason) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(%reason, failures, "MCP server unreachable; its tools are not offered");
                } else {
                    tracing::debug!(%reason, failures, "MCP server still unreachable");
                }
                publish.update(|s| {
                    s.attempted = true;
                    s.error = Some(reason);
                });
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(options.reconnect_max);
    }
}

/// Initialise a session and list the tools, each step within the request timeout.
async fn connect(
    slot: &Slot,
    options: &super::McpOptions,
) -> Result<(Running, Arc<Notify>, Vec<rmcp::model::Tool>), String> {
    let transport = StreamableHttpClientTransport::from_config(transport_config(slot)?);
    let changed = Arc::new(Notify::new());
    let listener = Listener {
        changed: changed.clone(),
    };
    let running = tokio::time::timeout(options.request_timeout, listener.serve(transport))
        .await
        .map_err(|_| "no answer to initialize in time".to_owned())?
        .map_err(|e| match &e {
            ClientInitializeError::TransportError { error, .. } => reason(error),
            other => reason(other),
        })?;
    // Listings must reflect the server now, never a cached or stale copy.
    running
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    let tools = list(running.peer(), options).await?;
    Ok((running, changed, tools))
}

fn transport_config(slot: &Slot) -> Result<StreamableHttpClientTransportConfig, String> {
    let mut headers = HashMap::new();
    for (name, value) in &slot.config.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header name {name:?}"))?;
        let mut value = HeaderValue::from_str(value.expose_secret())
            .map_err(|_| format!("header {name} has a value that is not a valid header value"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let mut retry = ExponentialBackoff::default();
    retry.max_delay = Some(Duration::from_secs(5));
    let mut config = StreamableHttpClientTransportConfig::with_uri(slot.config.url.as_str())
        .custom_headers(headers)
        .reinit_on_expired_session(false);
    config.retry_config = Arc::new(retry);
    Ok(config)
}

async fn list(
    peer: &Peer<RoleClient>,
    options: &super::McpOptions,
) -> Result<Vec<rmcp::model::Tool>, String> {
    tokio::time::timeout(options.request_timeout, peer.list_all_tools())
        .await
        .map_err(|_| "no answer to tools/list in time".to_owned())?
        .map_err(|e| reason(&e))
}

/// Keep the published list fresh and watch the connection. Returns `None` when stopped, else why the
/// server was lost.
async fn stay_connected(
    slot: &Slot,
    running: Running,
    changed: &Notify,
    options: &super::McpOptions,
    stop: &CancellationToken,
    publish: &Publisher<'_>,
) -> Option<String> {
    let peer = running.peer().clone();
    // Dropping this future (on return) drops the service, which cancels it.
    let mut ended = Box::pin(running.waiting());
    let mut refresh = tokio::time::interval_at(
        tokio::time::Instant::now() + options.refresh_every,
        options.refresh_every,
    );
    let mut health = tokio::time::interval_at(
        tokio::time::Instant::now() + options.health_every,
        options.health_every,
    );
    loop {
        let relist = tokio::select! {
            _ = stop.cancelled() => return None,
            _ = &mut ended => return Some("connection closed".to_owned()),
            _ = changed.notified() => true,
            _ = refresh.tick() => true,
            _ = health.tick() => false,
            _ = slot.check.notified() => false,
        };
        if relist {
            let tools = match list(&peer, options).await {
                Ok(tools) => tools,
                Err(reason) => return Some(reason),
            };
            let offered = names::assign(&slot.config.name, &tools);
            tracing::info!(tools = offered.len(), "MCP server's tool list refreshed");
            publish.update(|s| s.tools = offered);
        } else {
            let ping = peer.send_request(ClientRequest::PingRequest(PingRequest::default()));
            match tokio::time::timeout(options.request_timeout, ping).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Some(reason(&e)),
                Err(_) => return Some("no answer to ping in time".to_owned()),
            }
        }
    }
}

/// The innermost cause of `error` (e.g. `Connection refused (os error 111)`, `HTTP 401 Unauthorized`),
/// scrubbed: the outer layers only name rmcp's transport types.
pub(super) fn reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    // rmcp keeps reqwest's error as a variant, not as a source: follow it by hand.
    if let Some(StreamableHttpError::<reqwest::Error>::Client(e)) = inner.downcast_ref() {
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "request failed"
        };
        return match std::error::Error::source(e) {
            Some(source) => format!("{what}: {}", reason(source)),
            None => what.to_owned(),
        };
    }
    scrub(inner.to_string().trim_end_matches([' ', ':']))
}

/// A failure reason fit for logs and `status()`: words containing `://` (URLs, which may carry tokens)
/// are replaced by `<url>`, and the text is cut short. Headers never appear in rmcp's or reqwest's errors.
pub(super) fn scrub(text: &str) -> String {
    let words: Vec<&str> = text
        .split(' ')
        .map(|w| if w.contains("://") { "<url>" } else { w })
        .collect();
    super::render::cut(&words.join(" "), REASON_MAX_CHARS)
}
