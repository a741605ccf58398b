//! The built-in tools: `handoff_to_human {reason}`, `update_contact {name?, email?, attributes?,
//! labels?}` and `private_note {text}`.
//!
//! They are pure: a call checks its arguments and answers the model at once, and what it asks for
//! becomes an [`Effect`] that the worker makes through the turn's commit (Chatwoot through the mirror
//! outbox, the profile in the chat's state). So a draft that is thrown away changes nothing, and a
//! rerun never makes a change twice.
//!
//! Invariants: `update_contact` accepts only the attribute keys of `CONTACT_ATTRIBUTES` (any other key
//! refuses the whole call, naming the allowed keys); values are cut to [`MAX_VALUE_CHARS`]; labels are
//! lower-cased Chatwoot label names (`[a-z0-9_-]`, spaces become `-`); `handoff_to_human` and
//! `private_note` are offered only when a human can read them (Chatwoot configured).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::registry::{Effect, ToolFailure, ToolOutput, ToolSource, arguments_object};
use crate::agent::{HANDOFF_TOOL, handoff_of, handoff_tool};

/// The tool that records what was learnt about the customer.
pub const UPDATE_CONTACT_TOOL: &str = "update_contact";
/// The tool that leaves a note for the human agents.
pub const PRIVATE_NOTE_TOOL: &str = "private_note";
/// Longest attribute value, name or e-mail kept.
pub const MAX_VALUE_CHARS: usize = 200;
/// Longest private note.
const MAX_NOTE_CHARS: usize = 2_000;

/// The built-in tools of this service.
#[derive(Debug, Clone)]
pub struct BuiltinTools {
    /// Whether a human can take over and read notes (Chatwoot is configured).
    pub humans: bool,
    /// The attribute keys `update_contact` accepts.
    pub attributes: Vec<String>,
}

impl BuiltinTools {
    fn update_contact_tool(&self) -> Value {
        let mut attributes = serde_json::Map::new();
        for key in &self.attributes {
            attributes.insert(key.clone(), json!({"type": "string"}));
        }
        let mut properties = json!({
            "name": {"type": "string", "description": "The customer's name."},
            "email": {"type": "string", "description": "The customer's e-mail address."},
            "labels": {"type": "array", "items": {"type": "string"},
                       "description": "Labels to add to the conversation (e.g. hot-lead)."}
        });
        if !self.attributes.is_empty() {
            properties["attributes"] = json!({
                "type": "object",
                "properties": attributes,
                "additionalProperties": false,
                "description": format!("What you learnt about the customer; keys: {}.", self.attributes.join(", "))
            });
        }
        json!({
            "type": "function",
            "function": {
                "name": UPDATE_CONTACT_TOOL,
                "description": "Write down what you learnt about the customer (name, e-mail, interest, budget, \
                                timeline) so colleagues and later conversations know it.",
                "parameters": {"type": "object", "properties": properties}
            }
        })
    }

    fn update_contact(&self, arguments: &str) -> Result<ToolOutput, ToolFailure> {
        let args = arguments_object(arguments)?;
        let text_field = |key: &str| -> Result<Option<String>, ToolFailure> {
            match args.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(cut(s.trim(), MAX_VALUE_CHARS))),
                Some(_) => Err(ToolFailure::invalid(format!("{key} must be a string"))),
            }
        };
        let name = text_field("name")?;
        let email = text_field("email")?;
        if email
            .as_deref()
            .is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace))
        {
            return Err(ToolFailure::invalid("email is not an e-mail address"));
        }
        let mut attributes = BTreeMap::new();
        match args.get("attributes") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                let refused: Vec<&str> = map
                    .keys()
                    .filter(|k| !self.attributes.contains(&k.to_ascii_lowercase()))
                    .map(String::as_str)
                    .collect();
                if !refused.is_empty() {
                    let allowed = if self.attributes.is_empty() {
                        "none (only name and email can be recorded)".to_owned()
                    } else {
                        self.attributes.join(", ")
                    };
                    return Err(ToolFailure::invalid(format!(
                        "unknown attribute {}; allowed: {allowed}",
                        refused.join(", ")
                    )));
                }
                for (key, value) in map {
                    let value = match value {
                        Value::String(s) => s.trim().to_owned(),
                        Value::Number(_) | Value::Bool(_) => value.to_string(),
                        Value::Null => continue,
                        _ => {
                            return Err(ToolFailure::invalid(format!(
                                "attribute {key} must be text or a number"
                            )));
                        }
                    };
                    if !value.is_empty() {
                        attributes.insert(key.to_ascii_lowercase(), cut(&value, MAX_VALUE_CHARS));
                    }
                }
            }
            Some(_) => return Err(ToolFailure::invalid("attributes must be an object")),
        }
        let labels = match args.get("labels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut labels: Vec<String> = Vec::new();
                for item in items {
                    let label = item.as_str().map(label_name).unwrap_or_default();
                    if label.is_empty() {
                        return Err(ToolFailure::invalid("labels must be non-empty strings"));
                    }
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
                labels
            }
            Some(_) => return Err(ToolFailure::invalid("labels must be a list of strings")),
        };
        if name.is_none() && email.is_none() && attributes.is_empty() && labels.is_empty() {
            return Err(ToolFailure::invalid(
                "nothing to record: give name, email, attributes or labels",
            ));
        }
        let mut said: Vec<String> = Vec::new();
        said.extend(name.iter().map(|n| format!("name={n}")));
        said.extend(email.iter().map(|e| format!("email={e}")));
        said.extend(attributes.iter().map(|(k, v)| format!("{k}={v}")));
        if !labels.is_empty() {
            said.push(format!("labels={}", labels.join("|")));
        }
        Ok(ToolOutput {
            text: format!("recorded: {}", said.join(", ")),
            effects: vec![Effect::Contact {
                name,
                email,
                attributes,
                labels,
            }],
        })
    }
}

/// A Chatwoot label name: lower case, spaces as `-`, only `[a-z0-9_-]`.
fn label_name(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(MAX_VALUE_CHARS)
        .collect()
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn private_note_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": PRIVATE_NOTE_TOOL,
            "description": "Leave a private note for the human colleagues in this conversation (the customer \
                            does not see it).",
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string", "description": "The note."}},
                "required": ["text"]
            }
        }
    })
}

#[async_trait::async_trait]
impl ToolSource for BuiltinTools {
    fn definitions(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if self.humans {
            out.push(handoff_tool());
        }
        out.push(self.update_contact_tool());
        if self.humans {
            out.push(private_note_tool());
        }
        out
    }

    fn offers(&self, name: &str) -> bool {
        name == UPDATE_CONTACT_TOOL || (self.humans && (name == HANDOFF_TOOL || name == PRIVATE_NOTE_TOOL))
    }

    async fn call(&self, name: &str, arguments: &str, _timeout: Duration) -> Result<ToolOutput, ToolFailure> {
        match name {
            HANDOFF_TOOL => Ok(ToolOutput {
                text: "handing the conversation to a colleague".into(),
                effects: vec![Effect::Handoff {
                    reason: handoff_of(arguments).reason,
                }],
            }),
            PRIVATE_NOTE_TOOL => {
                let args = arguments_object(arguments)?;
                let text = args["text"].as_str().map(str::trim).unwrap_or_default();
                if text.is_empty() {
                    return Err(ToolFailure::invalid("text must be a non-empty string"));
                }
                Ok(ToolOutput {
                    text: "note added for the team".into(),
                    effects: vec![Effect::Note {
                        text: cut(text, MAX_NOTE_CHARS),
                    }],
                })
            }
            _ => self.update_contact(arguments),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> BuiltinTools {
        BuiltinTools {
            humans: true,
            attributes: vec!["interest".into(), "budget".into()],
        }
    }

    async fn call(name: &str, args: &str) -> Result<ToolOutput, ToolFailure> {
        tools().call(name, args, Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn update_contact_records_allowed_attributes_and_normalised_labels() {
        let out = call(
            UPDATE_CONTACT_TOOL,
            r#"{"name":" Sanne ","attributes":{"interest":"BMW X5","budget":60000},"labels":["Hot Lead","hot-lead"]}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            out.text,
            "recorded: name=Sanne, budget=60000, interest=BMW X5, labels=hot-lead"
        );
        let Effect::Contact {
            attributes, labels, ..
        } = &out.effects[0]
        else {
            panic!("{out:?}")
        };
        assert_eq!(attributes["budget"], "60000");
        assert_eq!(labels, &vec!["hot-lead".to_owned()]);
    }

    #[tokio::test]
    async fn update_contact_refuses_unknown_keys_naming_the_allowed_ones() {
        let err = call(
            UPDATE_CONTACT_TOOL,
            r#"{"attributes":{"shoe_size":"44","budget":"1"}}"#,
        )
        .await
        .unwrap_err();
        assert_eq!(err.outcome, "invalid");
        assert_eq!(
            err.message,
            "unknown attribute shoe_size; allowed: interest, budget"
        );
        assert!(call(UPDATE_CONTACT_TOOL, "{}").await.is_err());
        assert!(call(UPDATE_CONTACT_TOOL, r#"{"email":"nope"}"#).await.is_err());
        assert!(call(UPDATE_CONTACT_TOOL, "not json").await.is_err());
    }

    #[tokio::test]
    async fn notes_and_handoffs_become_effects_and_need_humans() {
        let note = call(PRIVATE_NOTE_TOOL, r#"{"text":"Wil inruilen"}"#)
            .await
            .unwrap();
        assert_eq!(
            note.effects,
            vec![Effect::Note {
                text: "Wil inruilen".into()
            }]
        );
        let handoff = call(HANDOFF_TOOL, r#"{"reason":"financing"}"#).await.unwrap();
        assert_eq!(
            handoff.effects,
            vec![Effect::Handoff {
                reason: "financing".into()
            }]
        );
        let alone = BuiltinTools {
            humans: false,
            attributes: vec![],
        };
        let names: Vec<Value> = alone
            .definitions()
            .iter()
            .map(|d| d["function"]["name"].clone())
            .collect();
        assert_eq!(names, vec![json!(UPDATE_CONTACT_TOOL)]);
        assert!(!alone.offers(PRIVATE_NOTE_TOOL));
    }
}
