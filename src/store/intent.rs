//! Send intents: what a turn is about to send, recorded before the first part goes to the gateway.
//!
//! A worker killed between the gateway accepting a reply and the turn's commit leaves its intent
//! behind; the worker that reruns the turn finds it and finishes *that* reply instead of asking the
//! model again, without resending the parts marked sent. Invariants:
//! - one intent per chat at most (a chat has one turn at a time, under its lease); recording replaces
//!   any other;
//! - a part is marked sent only after the gateway accepted it, and only while the intent exists;
//! - the turn's commit deletes the intent in the same atomic step that consumes the inbox, so a
//!   committed turn never leaves one behind ([`INTENT_TTL`] is only a safety net).
//!
//! In Redis an intent is the hash `intent:{chat}`: field `v` is the JSON below (parts unmarked) and
//! field `s{n}` marks part `n` sent, its value the gateway's message id (empty when none was given).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long an intent outlives a turn that never committed (a safety net; commits delete it).
pub const INTENT_TTL: Duration = Duration::from_secs(24 * 3600);

/// KEYS: intent. ARGV: JSON, ttl_ms. Replaces any intent of the chat.
pub(crate) const RECORD_LUA: &str = r#"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// KEYS: intent. ARGV: field (`s{n}`), gateway id. Marks only an intent that exists.
pub(crate) const MARK_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"#;

/// One reply part of an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentPart {
    /// The text, as sent.
    pub text: String,
    /// Whether the gateway accepted it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sent: bool,
    /// The gateway's message id, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_id: Option<String>,
}

/// A reply about to be sent, by the turn it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendIntent {
    /// The turn: the gateway message ids of the customer messages it answers, oldest first (the
    /// head of the chat's inbox, the same on a rerun).
    pub turn: Vec<String>,
    /// Unix ms when the intent was recorded, before the first part was sent.
    pub at: i64,
    /// Set when the reply is the handoff message: why the agent handed the chat over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
    /// The reply's parts, in sending order.
    pub parts: Vec<IntentPart>,
}

impl SendIntent {
    /// A fresh intent, recorded now, with no part sent.
    pub fn new(turn: Vec<String>, handoff: Option<String>, parts: &[String]) -> Self {
        Self {
            turn,
            at: crate::domain::now_ms(),
            handoff,
            parts: parts
                .iter()
                .map(|text| IntentPart {
                    text: text.clone(),
                    sent: false,
                    gateway_id: None,
                })
                .collect(),
        }
    }

    /// Whether this intent belongs to a turn over `message_ids` (oldest first): its turn is their
    /// head. A rerun may see more messages than the first run did; it then finishes the first run's
    /// reply over those messages and answers the rest in the next turn.
    pub fn answers_head_of<S: AsRef<str>>(&self, message_ids: &[S]) -> bool {
        !self.turn.is_empty()
            && self.turn.len() <= message_ids.len()
            && self.turn.iter().zip(message_ids).all(|(a, b)| a == b.as_ref())
    }

    /// Mark part `n` sent with the gateway's id (a no-op for a part that does not exist).
    pub fn mark_sent(&mut self, n: usize, gateway_id: Option<&str>) {
        if let Some(p) = self.parts.get_mut(n) {
            p.sent = true;
            p.gateway_id = gateway_id.filter(|id| !id.is_empty()).map(str::to_owned);
        }
    }

    /// The Redis field that marks part `n` sent.
    pub(crate) fn sent_field(n: usize) -> String {
        format!("s{n}")
    }

    /// Rebuild an intent from its Redis hash fields (`v` and `s{n}`); `None` without a readable `v`.
    pub(crate) fn from_fields(fields: &[(String, String)]) -> Option<Self> {
        let v = fields.iter().find(|(k, _)| k == "v")?;
        let mut intent: SendIntent = serde_json::from_str(&v.1).ok()?;
        for (k, id) in fields {
            if let Some(n) = k.strip_prefix('s').and_then(|n| n.parse::<usize>().ok()) {
                intent.mark_sent(n, Some(id));
            }
        }
        Some(intent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_matches_the_head_of_the_messages_only() {
        let intent = SendIntent::new(vec!["A".into(), "B".into()], None, &["hi".into()]);
        assert!(intent.answers_head_of(&["A", "B"]));
        assert!(intent.answers_head_of(&["A", "B", "C"]));
        assert!(!intent.answers_head_of(&["A"]));
        assert!(!intent.answers_head_of(&["B", "A"]));
        let empty = SendIntent::new(Vec::new(), None, &[]);
        assert!(!empty.answers_head_of(&["A"]));
    }

    #[test]
    fn hash_fields_round_trip_with_marks() {
        let mut intent = SendIntent::new(
            vec!["A".into()],
            Some("asked".into()),
            &["p1".into(), "p2".into()],
        );
        let v = serde_json::to_string(&intent).unwrap();
        let fields = vec![
            ("v".to_owned(), v),
            (SendIntent::sent_field(0), "wamid.1".to_owned()),
            (SendIntent::sent_field(7), String::new()),
        ];
        let read = SendIntent::from_fields(&fields).unwrap();
        intent.mark_sent(0, Some("wamid.1"));
        assert_eq!(read, intent);
        assert!(!read.parts[1].sent);
        assert_eq!(SendIntent::from_fields(&[("s0".into(), "x".into())]), None);
    }
}
