//! The chat's summary: messages leaving the history window are condensed, together with the previous
//! summary, by one chat-completions call (behaviour 11).
//!
//! Invariants: the summary is at most [`SUMMARY_MAX_CHARS`] characters (cut at a character boundary);
//! the request carries no tools; a failure is an [`OutboundError`] and the caller keeps the old summary.

use serde_json::{Value, json};

use super::{Agent, OpenAiAgent, fatal};
use crate::domain::{HistoryEntry, Role};
use crate::outbound::OutboundError;

/// Longest summary kept.
pub const SUMMARY_MAX_CHARS: usize = 1200;

/// Marks the summarising request's instructions (tests and fakes tell it from a turn by this).
pub const SUMMARY_INSTRUCTIONS: &str = "You maintain the running summary of a customer conversation for a \
    business's assistant. Merge the previous summary and the messages below into one new summary of at \
    most 1200 characters. Keep every fact the customer gave (cars or products they asked about, budget, \
    dates, names, contact details, promises made to them) and open questions; drop greetings and small \
    talk. Answer with the summary text only.";

/// The chat-completions `messages` of a summarising call.
pub fn summary_messages(previous: Option<&str>, entries: &[HistoryEntry]) -> Vec<Value> {
    let mut text = String::new();
    if let Some(previous) = previous.map(str::trim).filter(|p| !p.is_empty()) {
        text.push_str("Previous summary:\n");
        text.push_str(previous);
        text.push_str("\n\n");
    }
    text.push_str("Messages:\n");
    for e in entries {
        let who = match e.role {
            Role::Customer => "Customer",
            Role::Agent => "Assistant",
            Role::Human => "Staff",
            Role::Tool => "Tool lookup",
        };
        text.push_str(&format!("{who}: {}\n", e.text));
    }
    vec![
        json!({ "role": "system", "content": SUMMARY_INSTRUCTIONS }),
        json!({ "role": "user", "content": text }),
    ]
}

/// `text` cut to [`SUMMARY_MAX_CHARS`] characters.
pub fn bound(text: &str) -> String {
    text.trim().chars().take(SUMMARY_MAX_CHARS).collect()
}

impl OpenAiAgent {
    pub(super) async fn summarize_with_model(
        &self,
        previous: Option<&str>,
        entries: &[HistoryEntry],
    ) -> Result<Option<String>, OutboundError> {
        let messages = summary_messages(previous, entries);
        let completion = self
            .complete(super::ChatRequest {
                messages: &messages,
                tools: &[],
            })
            .await?;
        // An empty answer is a failed summary (the old one stays and the block is tried again), never
        // "this agent makes no summaries".
        let summary = bound(&completion.text);
        if summary.is_empty() {
            return Err(fatal("empty summary"));
        }
        Ok(Some(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: Role, text: &str) -> HistoryEntry {
        HistoryEntry {
            id: text.into(),
            role,
            text: text.into(),
            at: 0,
        }
    }

    #[test]
    fn the_request_carries_the_previous_summary_and_the_block() {
        let m = summary_messages(
            Some("Wants a BMW X5."),
            &[entry(Role::Customer, "Budget 40k"), entry(Role::Agent, "Noted")],
        );
        assert_eq!(m[0]["content"], SUMMARY_INSTRUCTIONS);
        let user = m[1]["content"].as_str().unwrap();
        assert_eq!(
            user,
            "Previous summary:\nWants a BMW X5.\n\nMessages:\nCustomer: Budget 40k\nAssistant: Noted\n"
        );
    }

    #[test]
    fn the_summary_is_bounded() {
        let long = "é".repeat(5000);
        assert_eq!(bound(&long).chars().count(), SUMMARY_MAX_CHARS);
        assert_eq!(bound("  short "), "short");
    }
}
