//! The agent: turns a chat's history plus the customer's new messages into one reply.
//!
//! Two implementations: [`OpenAiAgent`] talks to any OpenAI-compatible chat-completions endpoint
//! (`{LLM_BASE_URL}/chat/completions`), and [`EchoAgent`] is the built-in stand-in used when no model
//! is configured. Prompt assembly ([`build_messages`]) is a pure function shared by both.
//!
//! Invariants: every failure is an [`OutboundError`] of service `agent`, classified by HTTP status
//! only, like every outbound call ([`crate::outbound`]: retryable for timeouts, connection failures,
//! 408, 425, 429 and 5xx; fatal for every other status); an answer the turn cannot use (not JSON, no
//! `choices[0].message`, neither text nor a handoff, an empty summary) is fatal too. The API key never
//! appears in an error or a log line (an error body contributes only its `error.code`), and message
//! contents are never logged at `info`.

mod openai;
pub mod prompt;
pub mod summary;
pub mod tool_loop;
pub mod tools;

pub use openai::OpenAiAgent;

use serde_json::{Value, json};

use crate::domain::{HistoryEntry, Role};
use crate::outbound::OutboundError;

/// The service name of every agent failure.
pub const SERVICE: &str = "agent";

/// Everything the agent needs for one turn.
#[derive(Debug, Clone, Copy)]
pub struct AgentInput<'a> {
    /// The agent's instructions (`SYSTEM_PROMPT`).
    pub system_prompt: &'a str,
    /// The chat's earlier messages, oldest first.
    pub history: &'a [HistoryEntry],
    /// The customer's messages this turn answers, in arrival order.
    pub new_messages: &'a [String],
    /// Images of those messages, by position (`new_images[i]` belongs to `new_messages[i]`; shorter
    /// or empty: no image): `data:` URLs sent as `image_url` parts in this turn only (`LLM_VISION`).
    pub new_images: &'a [Option<String>],
    /// Whether the `handoff_to_human` tool is offered (only when a human can take over: Chatwoot).
    pub offer_handoff: bool,
    /// What changes every turn ([`prompt::changing_tail`]): sent as a system message after the
    /// history, just before the new messages, so the prompt's beginning stays the same.
    pub tail: Option<&'a str>,
}

/// The model asked to hand the chat to a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// Why, in the model's words (or `unspecified` when its arguments did not parse).
    pub reason: String,
}

/// The agent's answer to one turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReply {
    /// The text to send to the customer (trimmed; empty only when `handoff` is set).
    pub text: String,
    /// Set when the model called `handoff_to_human`: the text is then not sent.
    pub handoff: Option<Handoff>,
}

/// Name of the tool that hands a chat to a human.
pub const HANDOFF_TOOL: &str = "handoff_to_human";

/// The `tools` entry offering [`HANDOFF_TOOL`].
pub fn handoff_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": HANDOFF_TOOL,
            "description": "Hand the conversation to a human colleague when the customer asks for a person, \
                            when you cannot help, or for complaints, trade-ins and financing.",
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why a human should take over, in one sentence."}
                },
                "required": ["reason"]
            }
        }
    })
}

/// An agent failure that trying again will not fix (an unusable answer).
fn fatal(message: impl Into<String>) -> OutboundError {
    OutboundError::fatal(SERVICE, message)
}

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The provider's id of the call (`call_…`), echoed in the `tool` message that answers it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the model wrote them (a JSON object as text; possibly malformed).
    pub arguments: String,
}

/// One model answer: its text (trimmed, possibly empty) and the tool calls it asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Completion {
    /// `choices[0].message.content`, trimmed.
    pub text: String,
    /// `choices[0].message.tool_calls`, in order.
    pub tool_calls: Vec<ToolCall>,
}

/// One chat-completions request: the messages and the `tools` offered (none: no `tools` field).
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// The `messages`.
    pub messages: &'a [Value],
    /// The `tools` entries.
    pub tools: &'a [Value],
}

/// Something that answers a customer.
#[async_trait::async_trait]
pub trait Agent: Send + Sync {
    /// A short name for logs and metrics (`openai`, `echo`).
    fn name(&self) -> &'static str;
    /// One model call.
    async fn complete(&self, request: ChatRequest<'_>) -> Result<Completion, OutboundError>;
    /// One model call over a turn's input, offering only `handoff_to_human` (when asked to); tool
    /// calls other than the handoff are ignored. The worker runs the full loop ([`tool_loop`]).
    async fn reply(&self, input: AgentInput<'_>) -> Result<AgentReply, OutboundError> {
        let messages = build_messages(&input);
        let tools = if input.offer_handoff {
            vec![handoff_tool()]
        } else {
            Vec::new()
        };
        let completion = self
            .complete(ChatRequest {
                messages: &messages,
                tools: &tools,
            })
            .await?;
        completion.into_reply()
    }
    /// Condenses `entries` (leaving the window) and the `previous` summary into a new summary;
    /// `Ok(None)`: this agent makes no summaries (the default, and the echo agent).
    async fn summarize(
        &self,
        _previous: Option<&str>,
        _entries: &[HistoryEntry],
    ) -> Result<Option<String>, OutboundError> {
        Ok(None)
    }
}

impl Completion {
    /// The answer as a reply: the text, and the first `handoff_to_human` call as the handoff.
    /// Neither text nor a handoff is fatal.
    pub fn into_reply(self) -> Result<AgentReply, OutboundError> {
        let handoff = self
            .tool_calls
            .iter()
            .find(|call| call.name == HANDOFF_TOOL)
            .map(|call| handoff_of(&call.arguments));
        if self.text.is_empty() && handoff.is_none() {
            return Err(fatal("empty reply"));
        }
        Ok(AgentReply {
            text: self.text,
            handoff,
        })
    }
}

/// The handoff a `handoff_to_human` call's arguments ask for (`unspecified` without a reason).
pub fn handoff_of(arguments: &str) -> Handoff {
    let reason = serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|a| {
            a.get("reason")
                .and_then(Value::as_str)
                .map(str::trim)
                .map(str::to_owned)
        })
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "unspecified".to_owned());
    Handoff { reason }
}

/// The chat-completions `messages` for one turn: the system prompt, then the history oldest first
/// (customer → `user`; agent and human → `assistant`; a tool call → `assistant` `[tool] name args →
/// result`), then the changing tail as a `system` message (when there is one), then each new message
/// as its own `user` message. A new message with an image has content parts: its text, then the image
/// as an `image_url` part.
pub fn build_messages(input: &AgentInput<'_>) -> Vec<Value> {
    let mut messages = Vec::with_capacity(1 + input.history.len() + input.new_messages.len());
    messages.push(json!({ "role": "system", "content": input.system_prompt }));
    for entry in input.history {
        let role = match entry.role {
            Role::Customer => "user",
            Role::Agent | Role::Human | Role::Tool => "assistant",
        };
        let content = match entry.role {
            Role::Tool => format!("[tool] {}", entry.text),
            _ => entry.text.clone(),
        };
        messages.push(json!({ "role": role, "content": content }));
    }
    if let Some(tail) = input.tail {
        messages.push(json!({ "role": "system", "content": tail }));
    }
    for (n, text) in input.new_messages.iter().enumerate() {
        let content = match input.new_images.get(n).and_then(Option::as_deref) {
            Some(url) => json!([
                { "type": "text", "text": text },
                { "type": "image_url", "image_url": { "url": url } },
            ]),
            None => json!(text),
        };
        messages.push(json!({ "role": "user", "content": content }));
    }
    messages
}

/// The answer in a chat-completions response body: `choices[0].message.content` (trimmed) and a
/// `handoff_to_human` tool call, if any. Tool calls never become customer text.
///
/// A body that is not JSON, or has no `choices[0].message`, is fatal; so is an answer
/// with neither text nor a handoff.
pub fn parse_chat_response(body: &[u8]) -> Result<AgentReply, OutboundError> {
    parse_completion(body)?.into_reply()
}

/// The model's text and tool calls in a chat-completions response body. A body that is not JSON, or
/// has no `choices[0].message`, is fatal; a call without a name is left out.
pub fn parse_completion(body: &[u8]) -> Result<Completion, OutboundError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| fatal(format!("unparseable chat-completions response: {e}")))?;
    let message = value
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .filter(|m| m.is_object())
        .ok_or_else(|| fatal("unparseable chat-completions response: no choices[0].message"))?;
    let tool_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(n, call)| {
            let name = call["function"]["name"].as_str().filter(|n| !n.is_empty())?;
            let arguments = match &call["function"]["arguments"] {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            Some(ToolCall {
                id: call["id"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("call_{n}")),
                name: name.to_owned(),
                arguments,
            })
        })
        .collect();
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    Ok(Completion { text, tool_calls })
}

/// The built-in agent used when `LLM_BASE_URL` is unset: it repeats the customer's messages and says
/// how many earlier messages it was given, so a trial run visibly shows the conversation memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoAgent;

#[async_trait::async_trait]
impl Agent for EchoAgent {
    fn name(&self) -> &'static str {
        "echo"
    }

    async fn complete(&self, request: ChatRequest<'_>) -> Result<Completion, OutboundError> {
        // The trailing `user` messages are the new ones; every other non-system message is memory.
        let messages = request.messages;
        let new_from = messages
            .iter()
            .rposition(|m| m["role"] != "user")
            .map_or(0, |i| i + 1);
        let new: Vec<&str> = messages[new_from..]
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect();
        let earlier = messages[..new_from]
            .iter()
            .filter(|m| m["role"] != "system")
            .count();
        let mut text = format!("Echo: {}", new.join(" / "));
        if earlier > 0 {
            text.push_str(&format!(" (I remember {earlier} earlier messages.)"));
        }
        Ok(Completion {
            text,
            tool_calls: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
