//! [`OpenAiAgent`]: the client of any OpenAI-compatible chat-completions endpoint
//! (`{LLM_BASE_URL}/chat/completions`). It reads its answers through [`crate::outbound::exchange`],
//! classifies a non-2xx answer by its status alone, and lets an error body contribute only its
//! `error.code` (or `error.type`): the API key never reaches an error or a log line.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Agent, ChatRequest, Completion, SERVICE, parse_completion};
use crate::config::LlmSettings;
use crate::domain::HistoryEntry;
use crate::outbound::{Answer, OutboundError, exchange};

/// Sampling temperature sent with every request: low, so answers stay factual and repeatable.
const TEMPERATURE: f64 = 0.3;

/// A client for an OpenAI-compatible chat-completions endpoint.
#[derive(Debug)]
pub struct OpenAiAgent {
    client: reqwest::Client,
    pub(super) endpoint: String,
    api_key: Option<SecretString>,
    model: Option<String>,
}

impl OpenAiAgent {
    /// A client for `{settings.base_url}/chat/completions`; every request gives up after `timeout`.
    pub fn new(settings: &LlmSettings, timeout: Duration) -> Self {
        let client = crate::outbound::http_client(timeout);
        Self {
            client,
            endpoint: format!("{}/chat/completions", settings.base_url.trim_end_matches('/')),
            api_key: settings.api_key.clone(),
            model: settings.model.clone(),
        }
    }

    pub(super) fn request_body(&self, request: ChatRequest<'_>) -> Value {
        let mut body = json!({
            "messages": request.messages,
            "temperature": TEMPERATURE,
            "stream": false,
        });
        if let Some(model) = &self.model {
            body["model"] = Value::String(model.clone());
        }
        if !request.tools.is_empty() {
            body["tools"] = Value::Array(request.tools.to_vec());
            body["tool_choice"] = json!("auto");
        }
        body
    }
}

#[async_trait::async_trait]
impl Agent for OpenAiAgent {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn summarize(
        &self,
        previous: Option<&str>,
        entries: &[HistoryEntry],
    ) -> Result<Option<String>, OutboundError> {
        self.summarize_with_model(previous, entries).await
    }

    async fn complete(&self, request: ChatRequest<'_>) -> Result<Completion, OutboundError> {
        let started = Instant::now();
        let mut http = self.client.post(&self.endpoint).json(&self.request_body(request));
        if let Some(key) = &self.api_key {
            http = http.bearer_auth(key.expose_secret());
        }
        let Answer {
            status,
            headers,
            body,
        } = exchange(SERVICE, "LLM", http).await?;
        tracing::debug!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            messages = request.messages.len(),
            tools = request.tools.len(),
            "chat-completions answered"
        );
        if !status.is_success() {
            return Err(status_error(status, &headers, &body));
        }
        parse_completion(&body)
    }
}

/// A non-2xx answer, classified by its status ([`OutboundError::from_status`]); the body only
/// contributes a short, safe detail.
pub(super) fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> OutboundError {
    let message = format!("LLM answered {}{}", status.as_u16(), error_detail(body));
    OutboundError::from_status(SERVICE, status, headers, message)
}

/// `: <error.code or error.type>` from an OpenAI-style error body, when there is one. The free-text
/// `error.message` is left out: some servers quote a masked API key in it.
fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let error = value.get("error");
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .or_else(|| error.and_then(|e| e.get("type")).and_then(Value::as_str));
    match code {
        Some(code) => format!(
            ": {}",
            code.chars()
                .take(crate::outbound::SNIPPET_CHARS)
                .collect::<String>()
        ),
        None => String::new(),
    }
}
