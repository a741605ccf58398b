//! What a turn records of its tool calls: a history entry per call (`Role::Tool`, the tool, its
//! arguments and a compact result), a private note per call in Chatwoot (so humans see what the bot
//! looked up), and the built-in tools' effects (contact update, labels, notes, the profile).
//!
//! Invariants: an entry's result part is at most [`RESULT_CHARS`] characters and its arguments at most
//! [`ARGUMENT_CHARS`]; a note shows one line of the result; ids are `t-{turn}-{n}` (history) and
//! `tool-{turn}-{n}` (notes), so a replayed commit never duplicates them; the profile is saved in the
//! chat's state whether or not Chatwoot is configured. The channel is told of each call (name and
//! whether it answered) for the playground's notes. The handoff effect is not made here: it is the
//! loop's reply, delivered like any handoff.

use super::turn::Turn;
use super::{Record, Worker};
use crate::agent::tool_loop::ExecutedCall;
use crate::agent::tools::Effect;
use crate::channel::Note;
use crate::chat_state::ChatState;
use crate::domain::ChannelKind;
use crate::domain::{HistoryEntry, Role};
use crate::mirror::MirrorJob;

/// Longest result kept in a history entry.
pub const RESULT_CHARS: usize = 500;
/// Longest arguments kept in a history entry.
pub const ARGUMENT_CHARS: usize = 300;
/// Longest result line in a Chatwoot note.
const NOTE_RESULT_CHARS: usize = 200;

fn cut(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The arguments as compact JSON (or as written when they are not JSON).
fn arguments(call: &ExecutedCall) -> String {
    let raw = call.call.arguments.trim();
    let compact = serde_json::from_str::<serde_json::Value>(raw)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| one_line(raw));
    if compact.is_empty() {
        "{}".to_owned()
    } else {
        compact
    }
}

/// `name args → result` (or `→ error: …`), the text of a tool call's history entry.
pub fn entry_text(call: &ExecutedCall) -> String {
    let result = match &call.result {
        Ok(text) => cut(&one_line(text), RESULT_CHARS),
        Err(e) => format!("error: {}", cut(&one_line(e), RESULT_CHARS)),
    };
    format!(
        "{} {} → {result}",
        call.call.name,
        cut(&arguments(call), ARGUMENT_CHARS)
    )
}

/// `tool:ok,tool:error` for the turn's span.
pub fn summary(calls: &[ExecutedCall]) -> String {
    let parts: Vec<String> = calls
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c.call.name,
                if c.result.is_ok() { "ok" } else { "error" }
            )
        })
        .collect();
    parts.join(",")
}

impl Worker {
    /// Show the turn's tool calls in the chat's channel (the playground draws them as notes; gateways
    /// ignore them), a handoff aside (it has its own note). Best effort: a note that cannot be shown
    /// never fails the turn.
    pub(super) async fn note_tool_calls(&self, chat_id: &str, channel: ChannelKind, calls: &[ExecutedCall]) {
        let channel = self.channels.get(channel);
        for call in calls {
            if call.effects.iter().any(|e| matches!(e, Effect::Handoff { .. })) {
                continue;
            }
            let note = Note::ToolCall {
                name: call.call.name.clone(),
                ok: call.result.is_ok(),
            };
            if let Err(e) = channel.note(chat_id, &note).await {
                tracing::debug!(chat_id, error = %e, "tool call note not shown");
            }
        }
    }

    /// Record the turn's tool calls and make their effects part of the turn's commit.
    pub(super) async fn record_tool_calls(&self, turn: &mut Turn<'_>, calls: &[ExecutedCall]) {
        let mut profile_changed = false;
        for (n, call) in calls.iter().enumerate() {
            turn.record.entries.push(HistoryEntry {
                id: format!("t-{}-{n}", turn.id),
                role: Role::Tool,
                text: entry_text(call),
                at: self.clock.now_ms(),
            });
            // A handoff already leaves its own note with the reason.
            let handoff = call.effects.iter().any(|e| matches!(e, Effect::Handoff { .. }));
            if !handoff {
                turn.record.mirror(&MirrorJob::note(
                    &format!("tool-{}-{n}", turn.id),
                    &note_text(call),
                ));
            }
            for (e, effect) in call.effects.iter().enumerate() {
                let id = format!("note-{}-{n}-{e}", turn.id);
                profile_changed |= apply_effect(effect, &id, &mut turn.state, &mut turn.record);
            }
        }
        if profile_changed && let Err(e) = self.states.save(turn.chat_id, &turn.state).await {
            tracing::warn!(chat_id = turn.chat_id, error = %e, "could not save the customer's profile");
        }
    }
}

/// A tool call's private note: the tool, its arguments and one line of its result.
fn note_text(call: &ExecutedCall) -> String {
    let result = match &call.result {
        Ok(text) => cut(&one_line(text), NOTE_RESULT_CHARS),
        Err(e) => format!("error: {}", cut(&one_line(e), NOTE_RESULT_CHARS)),
    };
    format!(
        "wa-agent tool: {} {} → {result}",
        call.call.name,
        cut(&arguments(call), NOTE_RESULT_CHARS)
    )
}

/// Make one built-in effect part of the turn (`note_id` for a note). Returns whether the profile
/// changed.
fn apply_effect(effect: &Effect, note_id: &str, state: &mut ChatState, record: &mut Record) -> bool {
    match effect {
        Effect::Handoff { .. } => false,
        Effect::Note { text } => {
            record.mirror(&MirrorJob::note(note_id, &format!("wa-agent: {text}")));
            false
        }
        Effect::Contact {
            name,
            email,
            attributes,
            labels,
        } => {
            let fields = [("name", name), ("email", email)];
            for (key, value) in fields.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k, v))) {
                state.profile.insert((*key).to_owned(), value.clone());
            }
            for (key, value) in attributes {
                state.profile.insert(key.clone(), value.clone());
            }
            if name.is_some() || email.is_some() || !attributes.is_empty() {
                record.mirror(&MirrorJob::Contact {
                    name: name.clone(),
                    email: email.clone(),
                    attributes: attributes.clone(),
                });
            }
            if !labels.is_empty() {
                record.mirror(&MirrorJob::Labels {
                    labels: labels.clone(),
                });
            }
            true
        }
    }
}
