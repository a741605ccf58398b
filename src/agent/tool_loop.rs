//! The tool loop of one turn: ask the model, run the tools it asks for, give it their results, and
//! ask again, until it answers the customer or `AGENT_MAX_STEPS` model calls are used up.
//!
//! Invariants:
//! - At most `max_steps` model calls; a model still asking for tools after the last one fails the
//!   turn (a fatal [`OutboundError`] of the agent), which the worker hands to a human like any LLM failure.
//! - The calls of one step run concurrently, each bounded by the tool timeout; a call that fails,
//!   times out or names an unknown tool answers the model with `error: …` (never the customer).
//! - A `handoff_to_human` call ends the loop after the step's other calls ran: the reply is the handoff.
//! - [`TurnMemo`] keeps every call's outcome across reruns of the same turn (a draft superseded by a
//!   newer customer message): a call with the same tool and arguments is answered from the memo, not run
//!   again, so a side effect (an MCP booking, a note) is never made twice.
//! - Every call (run or remembered) is returned in [`LoopOutcome::calls`], in order, also when the
//!   model fails later, so the turn records what was done.
//!
//! Memory: the worker stores each call as a history entry (`Role::Tool`) with a compact text, and
//! [`crate::agent::build_messages`] renders it as an assistant message `[tool] name args → result`.
//! Compact text rather than replayed `tool_calls`/`tool` pairs because a history window may cut a pair
//! in half, which providers reject, while a text line is always valid and costs fewer tokens.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::tools::{Effect, ToolRegistry};
use super::{Agent, AgentInput, AgentReply, ChatRequest, Handoff, ToolCall, build_messages};
use crate::outbound::OutboundError;
use crate::retry::{ATTEMPTS, BACKOFF, with_retries};

/// How a turn may use tools.
#[derive(Clone, Copy)]
pub struct LoopSettings<'a> {
    /// The tools offered.
    pub registry: &'a ToolRegistry,
    /// `AGENT_MAX_STEPS`.
    pub max_steps: u32,
    /// `TOOL_TIMEOUT_SECS`.
    pub timeout: Duration,
}

/// One tool call of the turn and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutedCall {
    /// The call as the model made it.
    pub call: ToolCall,
    /// The result text, or the error the model was told.
    pub result: Result<String, String>,
    /// What it asks the turn to do.
    pub effects: Vec<Effect>,
    /// Answered from the memo of an earlier run of this turn (not run again).
    pub remembered: bool,
}

/// A call's result and effects, as the memo keeps them.
type Remembered = (Result<String, String>, Vec<Effect>);

/// The outcomes of the turn's calls so far, kept across reruns of the turn.
#[derive(Debug, Default)]
pub struct TurnMemo {
    done: HashMap<(String, String), Remembered>,
}

impl TurnMemo {
    /// How many distinct calls are remembered.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}

/// What the loop produced.
#[derive(Debug)]
pub struct LoopOutcome {
    /// The reply, or why there is none.
    pub reply: Result<AgentReply, OutboundError>,
    /// Every call, in order.
    pub calls: Vec<ExecutedCall>,
    /// Model calls made.
    pub steps: u32,
}

/// The memo key: the tool and its arguments, normalised when they are JSON.
fn key(call: &ToolCall) -> (String, String) {
    let args = serde_json::from_str::<Value>(&call.arguments)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| call.arguments.trim().to_owned());
    (call.name.clone(), args)
}

/// Run the loop for one turn.
pub async fn run(
    agent: &dyn Agent,
    input: AgentInput<'_>,
    settings: LoopSettings<'_>,
    memo: &mut TurnMemo,
) -> LoopOutcome {
    let mut messages = build_messages(&input);
    let tools = settings.registry.definitions();
    let mut calls: Vec<ExecutedCall> = Vec::new();
    let mut steps = 0;
    while steps < settings.max_steps {
        steps += 1;
        let request = ChatRequest {
            messages: &messages,
            tools: &tools,
        };
        let completion = match with_retries("llm", ATTEMPTS, BACKOFF, || agent.complete(request)).await {
            Ok(c) => c,
            Err(e) => {
                return LoopOutcome {
                    reply: Err(e),
                    calls,
                    steps,
                };
            }
        };
        if completion.tool_calls.is_empty() {
            let reply = completion.into_reply();
            return LoopOutcome { reply, calls, steps };
        }
        let step = run_step(settings, &completion.tool_calls, memo).await;
        messages.push(assistant_message(&completion.text, &completion.tool_calls));
        for done in &step {
            let content = match &done.result {
                Ok(text) => text.clone(),
                Err(message) => format!("error: {message}"),
            };
            messages.push(json!({"role": "tool", "tool_call_id": done.call.id, "content": content}));
        }
        let handoff = step.iter().flat_map(|c| &c.effects).find_map(|e| match e {
            Effect::Handoff { reason } => Some(Handoff {
                reason: reason.clone(),
            }),
            _ => None,
        });
        calls.extend(step);
        if let Some(handoff) = handoff {
            let reply = Ok(AgentReply {
                text: String::new(),
                handoff: Some(handoff),
            });
            return LoopOutcome { reply, calls, steps };
        }
    }
    let reply = Err(super::fatal(format!(
        "no answer after {steps} model calls (AGENT_MAX_STEPS)"
    )));
    LoopOutcome { reply, calls, steps }
}

/// The calls of one step, concurrently; remembered ones are not run again.
async fn run_step(settings: LoopSettings<'_>, step: &[ToolCall], memo: &mut TurnMemo) -> Vec<ExecutedCall> {
    let runs = step.iter().map(|call| {
        let remembered = memo.done.get(&key(call)).cloned();
        async move {
            if let Some((result, effects)) = remembered {
                tracing::info!(tool = %call.name, "tool call answered from this turn's earlier run");
                return ExecutedCall {
                    call: call.clone(),
                    result,
                    effects,
                    remembered: true,
                };
            }
            let outcome = settings
                .registry
                .call(&call.name, &call.arguments, settings.timeout)
                .await;
            let (result, effects) = match outcome {
                Ok(out) => (Ok(out.text), out.effects),
                Err(failure) => (Err(failure.message), Vec::new()),
            };
            tracing::info!(tool = %call.name, ok = result.is_ok(), "tool call done");
            ExecutedCall {
                call: call.clone(),
                result,
                effects,
                remembered: false,
            }
        }
    });
    let done = join_all(runs).await;
    for call in &done {
        memo.done
            .entry(key(&call.call))
            .or_insert_with(|| (call.result.clone(), call.effects.clone()));
    }
    done
}

fn assistant_message(text: &str, calls: &[ToolCall]) -> Value {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|c| {
            json!({"id": c.id, "type": "function",
                   "function": {"name": c.name, "arguments": if c.arguments.is_empty() { "{}" } else { &c.arguments }}})
        })
        .collect();
    let content = if text.is_empty() { Value::Null } else { json!(text) };
    json!({"role": "assistant", "content": content, "tool_calls": tool_calls})
}

#[cfg(test)]
mod tests;
