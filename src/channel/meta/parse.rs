//! Parsing Cloud API notifications (see the parent module's invariants): pure and lenient, any input
//! gives `Ok` or `Err`, never a panic; only the envelope can make a notification invalid, and a
//! malformed or unanswerable item inside it is skipped with a reason.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::media::{contacts_text, location_text, media_content};
use crate::domain::{ChannelKind, InboundMessage, MediaRef, ParseError};

/// A customer message of a notification, with the business phone number it was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaMessage {
    /// `metadata.phone_number_id` of the change it came in, when given.
    pub phone_number_id: Option<String>,
    /// The normalised message.
    pub message: InboundMessage,
}

/// A receipt for a message we sent (`sent`, `delivered`, `read`, `failed`, …), for metrics only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The wamid of our message.
    pub message_id: String,
    /// The customer's `recipient_id` (or `recipient_user_id`).
    pub recipient: String,
    /// The status as Meta names it.
    pub status: String,
}

/// Everything one webhook POST carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaNotification {
    /// Customer messages to answer, in the order they appear.
    pub messages: Vec<MetaMessage>,
    /// Receipts for our messages.
    pub statuses: Vec<StatusUpdate>,
    /// Why each skipped item was skipped.
    pub ignored: Vec<String>,
}

fn invalid(field: &str, problem: &str) -> ParseError {
    ParseError::InvalidPayload(format!("{field}: {problem}"))
}

/// Reads a Cloud API webhook body (a `whatsapp_business_account` notification).
pub fn parse_notification(body: &[u8]) -> Result<MetaNotification, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let Some(envelope) = value.as_object() else {
        return Err(invalid("object", "missing (the body is not a JSON object)"));
    };
    match envelope.get("object") {
        Some(Value::String(o)) if o == "whatsapp_business_account" => {}
        Some(Value::String(o)) => {
            let shown: String = o.chars().take(60).collect();
            return Err(invalid(
                "object",
                &format!("expected whatsapp_business_account, got {shown:?}"),
            ));
        }
        Some(_) => return Err(invalid("object", "not a string")),
        None => return Err(invalid("object", "missing")),
    }
    let entries = match envelope.get("entry") {
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(invalid("entry", "not an array")),
        None => return Err(invalid("entry", "missing")),
    };
    let mut out = MetaNotification::default();
    for entry in entries {
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            out.ignored.push("entry without changes".into());
            continue;
        };
        for change in changes {
            read_change(change, &mut out);
        }
    }
    Ok(out)
}

fn read_change(change: &Value, out: &mut MetaNotification) {
    if let Some(field) = change.get("field").and_then(Value::as_str)
        && field != "messages"
    {
        out.ignored.push(format!("field {} is not handled", clip(field)));
        return;
    }
    let Some(value) = change.get("value").and_then(Value::as_object) else {
        out.ignored.push("change without value".into());
        return;
    };
    let phone_number_id = value
        .get("metadata")
        .and_then(|m| text_at(m, "phone_number_id"))
        .map(str::to_owned);
    let names = contact_names(value);
    for message in array(value, "messages") {
        match read_message(message, &names) {
            Ok(message) => out.messages.push(MetaMessage {
                phone_number_id: phone_number_id.clone(),
                message,
            }),
            Err(reason) => out.ignored.push(reason),
        }
    }
    for status in array(value, "statuses") {
        match read_status(status) {
            Some(status) => out.statuses.push(status),
            None => out.ignored.push("status without id or status".into()),
        }
    }
}

fn array<'a>(value: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A trimmed, non-empty string field of an object.
pub(super) fn text_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// At most 40 characters of an untrusted name, for a reason.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Profile names by `wa_id` and by `user_id`.
fn contact_names(value: &Map<String, Value>) -> HashMap<&str, &str> {
    let mut names = HashMap::new();
    for contact in array(value, "contacts") {
        let Some(name) = contact.get("profile").and_then(|p| text_at(p, "name")) else {
            continue;
        };
        for key in ["wa_id", "user_id"] {
            if let Some(id) = text_at(contact, key) {
                names.insert(id, name);
            }
        }
    }
    names
}

fn read_message(message: &Value, names: &HashMap<&str, &str>) -> Result<InboundMessage, String> {
    let id = text_at(message, "id").ok_or("message without id")?;
    let chat_id = text_at(message, "from")
        .or_else(|| text_at(message, "from_user_id"))
        .ok_or("message without from")?;
    let (text, media) = message_content(message)?;
    let sender_name = [text_at(message, "from"), text_at(message, "from_user_id")]
        .into_iter()
        .flatten()
        .find_map(|key| names.get(key))
        .map(|name| (*name).to_owned());
    Ok(InboundMessage {
        channel: ChannelKind::Meta,
        chat_id: chat_id.to_owned(),
        message_id: id.to_owned(),
        text,
        sender_name,
        timestamp: timestamp_secs(message.get("timestamp")),
        media,
    })
}

/// What the agent reads and the file it carries, or why the message is not answered.
fn message_content(message: &Value) -> Result<(String, Option<Box<MediaRef>>), String> {
    let kind = text_at(message, "type").unwrap_or("text");
    let text = match kind {
        "text" => message
            .get("text")
            .and_then(|t| text_at(t, "body"))
            .map(str::to_owned),
        "button" => message
            .get("button")
            .and_then(|b| text_at(b, "text"))
            .map(str::to_owned),
        "interactive" => interactive_text(message.get("interactive").unwrap_or(&Value::Null))?,
        "image" | "video" | "audio" | "voice" | "document" | "sticker" => {
            return Ok(media_content(kind, message.get(kind).unwrap_or(&Value::Null)));
        }
        "location" => Some(location_text(message.get("location").unwrap_or(&Value::Null))),
        "contacts" => Some(contacts_text(message.get("contacts").unwrap_or(&Value::Null))),
        "reaction" | "unsupported" | "system" | "order" | "request_welcome" => {
            return Err(format!("{kind} messages are not answered"));
        }
        other => return Err(format!("message type {} is not handled", clip(other))),
    };
    text.map(|t| (t, None)).ok_or_else(|| "empty message".to_owned())
}

/// A reply button's or list row's title (plus the row's description).
fn interactive_text(interactive: &Value) -> Result<Option<String>, String> {
    let kind = text_at(interactive, "type").unwrap_or("");
    let reply = match kind {
        "button_reply" | "list_reply" => interactive.get(kind).unwrap_or(&Value::Null),
        other => return Err(format!("interactive {} replies are not handled", clip(other))),
    };
    let title = text_at(reply, "title");
    let description = text_at(reply, "description");
    Ok(match (title, description) {
        (Some(t), Some(d)) => Some(format!("{t} ({d})")),
        (Some(t), None) => Some(t.to_owned()),
        (None, d) => d.map(str::to_owned),
    })
}

fn read_status(status: &Value) -> Option<StatusUpdate> {
    Some(StatusUpdate {
        message_id: text_at(status, "id")?.to_owned(),
        recipient: text_at(status, "recipient_id")
            .or_else(|| text_at(status, "recipient_user_id"))
            .unwrap_or_default()
            .to_owned(),
        status: text_at(status, "status")?.to_owned(),
    })
}

/// Unix seconds from a numeric string or a number; 0 when unknown.
fn timestamp_secs(value: Option<&Value>) -> i64 {
    let raw = match value {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    raw.filter(|t| *t > 0).unwrap_or(0)
}
