//! The one registry the tool loop talks to: built-in, catalogue and MCP tools behind [`ToolSource`].
//!
//! A source offers OpenAI `tools` entries (name, description, JSON schema) and runs a call from the
//! model's arguments, returning a result text for the model plus the [`Effect`]s it asks the turn to
//! make (built-in tools never touch Chatwoot themselves: their effects go through the turn's atomic
//! commit and the mirror outbox, so a draft that is thrown away changes nothing).
//!
//! Invariants: every call ends in a result or a [`ToolFailure`] whose message is meant for the model,
//! never the customer; a call never outlives its timeout; a name offered by two sources is routed to
//! the first one registered (built-ins first); `wa_agent_tool_calls_total{tool,outcome}` and
//! `wa_agent_tool_duration_seconds{tool}` are recorded once per call (MCP records its own).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::catalogue::{CatalogueHandle, SEARCH_CATALOGUE_TOOL};
use super::mcp::McpTools;

/// Something a built-in tool asks the turn to do once the turn is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Hand the chat to a human.
    Handoff {
        /// Why, in the model's words.
        reason: String,
    },
    /// Record what was learnt about the customer (Chatwoot contact and the chat's profile).
    Contact {
        /// The customer's name.
        name: Option<String>,
        /// The customer's e-mail address.
        email: Option<String>,
        /// Custom attributes (keys from `CONTACT_ATTRIBUTES`).
        attributes: BTreeMap<String, String>,
        /// Labels to add to the conversation.
        labels: Vec<String>,
    },
    /// A private note for the human agents.
    Note {
        /// The note.
        text: String,
    },
}

/// A tool's answer: the text the model reads and the effects for the turn.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolOutput {
    /// What the model reads.
    pub text: String,
    /// What the turn does with it.
    pub effects: Vec<Effect>,
}

impl ToolOutput {
    /// A result without effects.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            effects: Vec::new(),
        }
    }
}

/// A call that produced no result: the message is meant for the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolFailure {
    /// The `outcome` label (`invalid`, `timeout`, `error`, `unknown`, …).
    pub outcome: &'static str,
    /// What the model is told.
    pub message: String,
}

impl ToolFailure {
    /// A call whose arguments the tool refuses.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            outcome: "invalid",
            message: message.into(),
        }
    }
}

/// A source of tools.
#[async_trait::async_trait]
pub trait ToolSource: Send + Sync {
    /// The `tools` entries offered now.
    fn definitions(&self) -> Vec<Value>;
    /// Whether `name` is offered now.
    fn offers(&self, name: &str) -> bool;
    /// Run one call (`arguments`: the model's JSON text) within `timeout`.
    async fn call(&self, name: &str, arguments: &str, timeout: Duration) -> Result<ToolOutput, ToolFailure>;
    /// Whether the source records the call metrics itself.
    fn records_metrics(&self) -> bool {
        false
    }
}

/// Every tool of the service. Cheap to clone.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    sources: Vec<Arc<dyn ToolSource>>,
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a source (after the ones already there).
    pub fn with(mut self, source: Arc<dyn ToolSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// The `tools` entries of every source, first source first; a name is offered once.
    pub fn definitions(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for definition in self.sources.iter().flat_map(|s| s.definitions()) {
            let name = definition["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if seen.insert(name) {
                out.push(definition);
            }
        }
        out
    }

    /// Run the call `name(arguments)` on the source that offers it, within `timeout`.
    pub async fn call(
        &self,
        name: &str,
        arguments: &str,
        timeout: Duration,
    ) -> Result<ToolOutput, ToolFailure> {
        let started = Instant::now();
        let Some(source) = self.sources.iter().find(|s| s.offers(name)) else {
            record("unknown", "unknown", started);
            return Err(ToolFailure {
                outcome: "unknown",
                message: format!("the tool {name} is not available right now"),
            });
        };
        let result = match tokio::time::timeout(timeout, source.call(name, arguments, timeout)).await {
            Ok(result) => result,
            Err(_) => Err(ToolFailure {
                outcome: "timeout",
                message: format!("the tool did not answer within {} s", timeout.as_secs_f64()),
            }),
        };
        if !source.records_metrics() {
            let outcome = result.as_ref().map_or_else(|f| f.outcome, |_| "ok");
            record(name, outcome, started);
        }
        result
    }
}

fn record(tool: &str, outcome: &'static str, started: Instant) {
    let tool = tool.to_owned();
    metrics::counter!("wa_agent_tool_calls_total", "tool" => tool.clone(), "outcome" => outcome).increment(1);
    metrics::histogram!("wa_agent_tool_duration_seconds", "tool" => tool)
        .record(started.elapsed().as_secs_f64());
}

/// The model's arguments as a JSON object (empty text: `{}`).
pub fn arguments_object(arguments: &str) -> Result<Value, ToolFailure> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ToolFailure::invalid("the arguments are not a JSON object")),
        Err(e) => Err(ToolFailure::invalid(format!(
            "the arguments are not valid JSON: {e}"
        ))),
    }
}

#[async_trait::async_trait]
impl ToolSource for CatalogueHandle {
    fn definitions(&self) -> Vec<Value> {
        vec![self.tool_schema()]
    }

    fn offers(&self, name: &str) -> bool {
        name == SEARCH_CATALOGUE_TOOL
    }

    async fn call(
        &self,
        _name: &str,
        arguments: &str,
        _timeout: Duration,
    ) -> Result<ToolOutput, ToolFailure> {
        let arguments = arguments_object(arguments)?;
        self.run_tool(&arguments)
            .map(ToolOutput::text)
            .map_err(|e| ToolFailure::invalid(e.0))
    }
}

#[async_trait::async_trait]
impl ToolSource for McpTools {
    fn definitions(&self) -> Vec<Value> {
        McpTools::definitions(self)
    }

    fn offers(&self, name: &str) -> bool {
        McpTools::offers(self, name)
    }

    async fn call(&self, name: &str, arguments: &str, timeout: Duration) -> Result<ToolOutput, ToolFailure> {
        McpTools::call(self, name, arguments, timeout)
            .await
            .map(ToolOutput::text)
            .map_err(|e| ToolFailure {
                outcome: e.outcome(),
                message: e.to_string(),
            })
    }

    fn records_metrics(&self) -> bool {
        true
    }
}
