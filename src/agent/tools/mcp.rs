//! MCP servers as a tool source (behaviour 8, `MCP_SERVERS`, `CONFIG_FILE`'s `[[mcp_servers]]`).
//!
//! [`McpTools::start`] spawns one background supervisor per configured server and returns at once.
//! A supervisor connects with rmcp's streamable-HTTP client (the configured headers, e.g.
//! `Authorization`, on every request), lists the server's tools and publishes them; it refreshes the
//! list when the server sends `notifications/tools/list_changed` and every [`McpOptions::refresh_every`],
//! and pings the server every [`McpOptions::health_every`] (and at once after a call saw a transport
//! failure). A server that cannot be reached at start, or is lost later, is withdrawn from the offer with
//! a warning and reconnected in the background with exponential backoff; its tools come back by
//! themselves.
//!
//! Invariants:
//! - Never blocks start-up or a turn on a down server: [`McpTools::definitions`] and [`McpTools::status`]
//!   only read the last published state, and a down server's tools are simply not in the offer; a call
//!   is bounded by its timeout.
//! - Names: tool `t` of server `s` is offered as `s__t`, sanitized to OpenAI's `^[a-zA-Z0-9_-]{1,64}$`
//!   (see [`names`] for the rules for long and clashing names); calls are routed by lookup, never by
//!   parsing the name.
//! - The cut: a result reaches the model as one string of at most [`RESULT_MAX_CHARS`] characters, cut on
//!   a char boundary with a marker line saying it was cut (see [`render`]).
//! - Failures reach the model as a [`ToolError`] with a short message: our own words naming the server at
//!   most, or the tool's own error text cut to 300 characters; never a URL, a header or the arguments.
//!   Logs at `info` carry the tool name and outcome, never arguments; failure reasons in logs and
//!   [`McpTools::status`] have URLs replaced by `<url>`.

pub mod names;
pub mod render;
mod supervisor;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::service::{Peer, RoleClient, ServiceError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use names::OfferedTool;
pub use render::RESULT_MAX_CHARS;
use render::{ERROR_MAX_CHARS, cut};

/// One MCP server (streamable HTTP).
#[derive(Debug, Clone)]
pub struct McpServerConfig {
    /// The prefix of its tools' names (`{name}__{tool}`).
    pub name: String,
    /// Its streamable-HTTP endpoint, e.g. `https://mcp.example.com/mcp`.
    pub url: String,
    /// Headers sent with every request (`Authorization`, API keys); never logged.
    pub headers: Vec<(String, SecretString)>,
}

impl McpServerConfig {
    /// Check what start-up can check, for the settings loader: a name of `[a-zA-Z0-9_-]` (so offered
    /// names read `{name}__tool`), an `http`/`https` URL, and valid header names and values. The message
    /// names the server and the header, never a value.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty() || names::sanitize(name) != *name {
            return Err(format!(
                "MCP server name {name:?} must be letters, digits, '_' or '-'"
            ));
        }
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => return Err(format!("MCP server {name}: the url is not an http(s) URL")),
        }
        for (header, value) in &self.headers {
            let header_ok = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok();
            if !header_ok || reqwest::header::HeaderValue::from_str(value.expose_secret()).is_err() {
                return Err(format!(
                    "MCP server {name}: header {header:?} is not a valid HTTP header"
                ));
            }
        }
        Ok(())
    }
}

/// Timing of the supervisors. The defaults suit production; tests shorten them.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// First wait before reconnecting a server that could not be reached; doubles per failure.
    pub reconnect_min: Duration,
    /// Longest wait between reconnection attempts.
    pub reconnect_max: Duration,
    /// How often a connected server's tool list is listed again without a notification.
    pub refresh_every: Duration,
    /// How often a connected server is pinged to notice that it went away.
    pub health_every: Duration,
    /// Limit of one connect, list or ping exchange.
    pub request_timeout: Duration,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            refresh_every: Duration::from_secs(300),
            health_every: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What `wa-agent check` shows for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerStatus {
    pub name: String,
    /// Connected and its tools listed.
    pub reachable: bool,
    /// The offered names of its tools (empty while unreachable).
    pub tools: Vec<String>,
    /// Why it is unreachable (a short reason without URL or headers); `None` while reachable or before
    /// the first attempt finished.
    pub error: Option<String>,
}

/// A tool call that produced no result for the model. The message is meant for the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("the tool {0} is not available right now")]
    UnknownTool(String),
    #[error("the arguments are not a JSON object: {0}")]
    InvalidArguments(String),
    #[error("the {server} tool server cannot be reached right now")]
    Unavailable { server: String },
    #[error("the tool did not answer within {} s", .after.as_secs_f64())]
    Timeout { after: Duration },
    #[error("the tool reported an error: {0}")]
    Failed(String),
    #[error("the tool server refused the call: {0}")]
    Rejected(String),
}

impl ToolError {
    /// The `outcome` label of `wa_agent_tool_calls_total` (successful calls are `ok`).
    pub fn outcome(&self) -> &'static str {
        match self {
            ToolError::UnknownTool(_) => "unknown",
            ToolError::InvalidArguments(_) => "invalid",
            ToolError::Unavailable { .. } => "unavailable",
            ToolError::Timeout { .. } => "timeout",
            ToolError::Failed(_) => "error",
            ToolError::Rejected(_) => "rejected",
        }
    }
}

/// The tools of every configured MCP server. Cheap to clone; the supervisors stop when the shutdown
/// token is cancelled or the last clone is dropped.
#[derive(Clone)]
pub struct McpTools {
    shared: Arc<Shared>,
}

struct Shared {
    slots: Vec<Arc<Slot>>,
    changes: watch::Sender<u64>,
    _stop: DropGuard,
}

/// One server's published state, written by its supervisor and read by calls.
struct Slot {
    config: McpServerConfig,
    state: RwLock<SlotState>,
    /// A call saw a transport failure: the supervisor pings at once.
    check: Notify,
}

#[derive(Default)]
struct SlotState {
    attempted: bool,
    peer: Option<Peer<RoleClient>>,
    tools: Vec<OfferedTool>,
    error: Option<String>,
}

impl Slot {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, SlotState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SlotState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl McpTools {
    /// Start a supervisor per server (in the current tokio runtime) and return without waiting for any.
    pub fn start(servers: Vec<McpServerConfig>, options: McpOptions, shutdown: CancellationToken) -> Self {
        let stop = shutdown.child_token();
        let (changes, _) = watch::channel(0);
        let slots: Vec<Arc<Slot>> = servers
            .into_iter()
            .map(|config| {
                Arc::new(Slot {
                    config,
                    state: RwLock::new(SlotState::default()),
                    check: Notify::new(),
                })
            })
            .collect();
        for slot in &slots {
            let run = supervisor::supervise(slot.clone(), options.clone(), stop.clone(), changes.clone());
            tokio::spawn(run.instrument(tracing::info_span!("mcp_server", server = %slot.config.name)));
        }
        McpTools {
            shared: Arc::new(Shared {
                slots,
                changes,
                _stop: stop.drop_guard(),
            }),
        }
    }

    /// Whether no server is configured.
    pub fn is_empty(&self) -> bool {
        self.shared.slots.is_empty()
    }

    /// The OpenAI `tools` entries of every reachable server's tools, servers in configured order. When
    /// two servers' sanitized names collide, the first configured server's tool is offered.
    pub fn definitions(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for slot in &self.shared.slots {
            for tool in &slot.read().tools {
                if seen.insert(tool.name.clone()) {
                    out.push(tool.definition.clone());
                }
            }
        }
        out
    }

    /// Whether `name` is currently offered.
    pub fn offers(&self, name: &str) -> bool {
        self.route(name).is_some()
    }

    /// Per server: reachable or not, and its offered tool names.
    pub fn status(&self) -> Vec<McpServerStatus> {
        let slots = self.shared.slots.iter();
        slots
            .map(|slot| {
                let state = slot.read();
                McpServerStatus {
                    name: slot.config.name.clone(),
                    reachable: state.peer.is_some(),
                    tools: state.tools.iter().map(|t| t.name.clone()).collect(),
                    error: state.error.clone(),
                }
            })
            .collect()
    }

    /// Wait until every server's first connection attempt has finished, or `within` has passed (for
    /// `wa-agent check` and tests; a turn never waits).
    pub async fn settle(&self, within: Duration) {
        let mut changes = self.shared.changes.subscribe();
        let all_attempted = |slots: &[Arc<Slot>]| slots.iter().all(|s| s.read().attempted);
        let _ = tokio::time::timeout(within, async {
            while !all_attempted(&self.shared.slots) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }

    fn route(&self, name: &str) -> Option<(Arc<Slot>, String, Peer<RoleClient>)> {
        self.shared.slots.iter().find_map(|slot| {
            let state = slot.read();
            let tool = state.tools.iter().find(|t| t.name == name)?;
            Some((slot.clone(), tool.remote.clone(), state.peer.clone()?))
        })
    }

    /// Call the offered tool `name` with the model's `arguments_json` (empty means `{}`), within
    /// `timeout`. Records `wa_agent_tool_calls_total{tool,outcome}` and
    /// `wa_agent_tool_duration_seconds{tool}` (`tool` is `unknown` for a name not offered).
    pub async fn call(
        &self,
        name: &str,
        arguments_json: &str,
        timeout: Duration,
    ) -> Result<String, ToolError> {
        let started = Instant::now();
        let route = self.route(name);
        let label = if route.is_some() {
            name.to_owned()
        } else {
            "unknown".to_owned()
        };
        let span = tracing::info_span!("tool_call", tool = %label, outcome = tracing::field::Empty);
        let result = async {
            tracing::debug!(arguments_bytes = arguments_json.len(), "calling MCP tool");
            let Some((slot, remote, peer)) = route else {
                return Err(ToolError::UnknownTool(name.to_owned()));
            };
            let arguments = parse_arguments(arguments_json)?;
            let params = CallToolRequestParams::new(remote).with_arguments(arguments);
            match tokio::time::timeout(timeout, peer.call_tool(params)).await {
                Err(_) => Err(ToolError::Timeout { after: timeout }),
                Ok(Ok(result)) if result.is_error == Some(true) => {
                    Err(ToolError::Failed(cut(&render::render(&result), ERROR_MAX_CHARS)))
                }
                Ok(Ok(result)) => Ok(cut(&render::render(&result), RESULT_MAX_CHARS)),
                Ok(Err(e)) => Err(call_error(&slot, e, timeout)),
            }
        }
        .instrument(span.clone())
        .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        span.record("outcome", outcome);
        let elapsed = started.elapsed();
        span.in_scope(|| tracing::info!(elapsed_ms = elapsed.as_millis() as u64, "tool call finished"));
        metrics::counter!("wa_agent_tool_calls_total", "tool" => label.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("wa_agent_tool_duration_seconds", "tool" => label).record(elapsed.as_secs_f64());
        result
    }
}

fn parse_arguments(json: &str) -> Result<JsonObject, ToolError> {
    if json.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ToolError::InvalidArguments("expected an object".into())),
        Err(e) => Err(ToolError::InvalidArguments(cut(&e.to_string(), ERROR_MAX_CHARS))),
    }
}

fn call_error(slot: &Slot, error: ServiceError, timeout: Duration) -> ToolError {
    match error {
        ServiceError::McpError(e) => ToolError::Rejected(cut(&e.message, ERROR_MAX_CHARS)),
        ServiceError::Timeout { .. } => ToolError::Timeout { after: timeout },
        ServiceError::UnexpectedResponse | ServiceError::InputRequiredRoundsExceeded { .. } => {
            ToolError::Rejected("the server's answer was not a tool result".into())
        }
        other => {
            tracing::warn!(reason = %supervisor::reason(&other), "MCP tool call failed in transport");
            slot.check.notify_one();
            ToolError::Unavailable {
                server: slot.config.name.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
