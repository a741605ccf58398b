//! Reading a WAHA webhook ([`parse_webhook`]): pure and lenient. Unknown fields are ignored (and
//! never built: only [`WEBHOOK_KEYS`] are parsed into a tree), every engine's shape (WEBJS, NOWEB,
//! GOWS) is read, and any input gives `Ok` or `Err`, never a panic.

use serde_json::Value;

use super::media::message_content;
use crate::channel::keep::{self, Keep};
use crate::domain::{ChannelKind, InboundMessage, ParseError};

/// What a WAHA webhook means for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WahaEvent {
    /// A customer message to answer.
    Message {
        /// The WAHA session it arrived on.
        session: String,
        /// The normalised message.
        message: InboundMessage,
    },
    /// A well-formed event the agent does not answer, and why.
    Ignored {
        /// A short sentence for the `{"status":"ignored","reason":…}` answer and the logs.
        reason: String,
    },
}

fn ignored(reason: impl Into<String>) -> WahaEvent {
    WahaEvent::Ignored {
        reason: reason.into(),
    }
}

fn invalid(field: &str, problem: &str) -> ParseError {
    ParseError::InvalidPayload(format!("{field}: {problem}"))
}

/// What [`parse_webhook`] and [`media::message_content`] read of a webhook: everything else (the
/// recipient, `_data`'s copies of the ids, acks, links, the engine's environment) is skipped unbuilt.
/// A field read by the parser must be listed here.
const WEBHOOK_KEYS: Keep = Keep::Keys(&[
    ("event", Keep::All),
    ("session", Keep::All),
    (
        "payload",
        Keep::Keys(&[
            ("id", Keep::All),
            ("fromMe", Keep::All),
            ("source", Keep::All),
            ("from", Keep::All),
            ("timestamp", Keep::All),
            ("body", Keep::All),
            ("hasMedia", Keep::All),
            ("media", Keep::All),
            ("location", Keep::All),
            ("vCards", Keep::All),
            (
                "_data",
                Keep::Keys(&[
                    ("notifyName", Keep::All),
                    ("pushName", Keep::All),
                    ("Info", Keep::All),
                    ("type", Keep::All),
                    ("caption", Keep::All),
                    ("mimetype", Keep::All),
                    ("filename", Keep::All),
                    ("lat", Keep::All),
                    ("lng", Keep::All),
                    ("loc", Keep::All),
                    ("message", Keep::All),
                    ("Message", Keep::All),
                ]),
            ),
        ]),
    ),
]);

/// Reads a WAHA webhook body. Group chats are answered only when `allow_groups` is set.
pub fn parse_webhook(body: &[u8], allow_groups: bool) -> Result<WahaEvent, ParseError> {
    let value = keep::parse(body, &WEBHOOK_KEYS).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let Some(envelope) = value.as_object() else {
        return Err(invalid("event", "missing (the body is not a JSON object)"));
    };
    let event = match envelope.get("event") {
        Some(Value::String(event)) => event.as_str(),
        Some(_) => return Err(invalid("event", "not a string")),
        None => return Err(invalid("event", "missing")),
    };
    if event != "message" && event != "message.any" {
        return Ok(ignored(format!("event {event} is not handled")));
    }
    let session = envelope
        .get("session")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    let payload = match envelope.get("payload") {
        Some(payload @ Value::Object(_)) => payload,
        Some(_) => return Err(invalid("payload", "not an object")),
        None => return Err(invalid("payload", "missing")),
    };
    let id = match payload.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.trim(),
        Some(Value::String(_)) => return Err(invalid("payload.id", "empty")),
        Some(_) => return Err(invalid("payload.id", "not a string")),
        None => return Err(invalid("payload.id", "missing")),
    };
    if payload.get("fromMe").and_then(Value::as_bool).unwrap_or(false) {
        let from_api = payload.get("source").and_then(Value::as_str) == Some("api");
        return Ok(ignored(if from_api {
            "echo of our own message"
        } else {
            "sent by us"
        }));
    }
    let (chat_id, message_id) = chat_and_message_id(id, payload)?;
    if let Some(reason) = unanswered_chat(&chat_id, allow_groups) {
        return Ok(ignored(reason));
    }
    let Some((text, media)) = message_content(payload) else {
        return Ok(ignored("empty message"));
    };
    let message = InboundMessage {
        channel: ChannelKind::Waha,
        chat_id,
        message_id,
        text,
        sender_name: sender_name(payload),
        timestamp: timestamp_secs(payload.get("timestamp")),
        media,
    };
    Ok(WahaEvent::Message { session, message })
}

/// The chat (second segment of `payload.id`) and the stable message id (third segment). An id without
/// that shape is taken whole as the message id, with the chat from `payload.from`.
fn chat_and_message_id(id: &str, payload: &Value) -> Result<(String, String), ParseError> {
    let segments: Vec<&str> = id.splitn(4, '_').collect();
    if let [_, chat, wa_id, ..] = segments.as_slice()
        && !chat.is_empty()
        && !wa_id.is_empty()
    {
        return Ok(((*chat).to_owned(), (*wa_id).to_owned()));
    }
    match payload.get("from").and_then(Value::as_str).map(str::trim) {
        Some(from) if !from.is_empty() => Ok((from.to_owned(), id.to_owned())),
        _ => Err(invalid(
            "payload.from",
            "missing (and payload.id has no chat segment)",
        )),
    }
}

/// Why a chat is not answered, or `None` for an answerable one.
pub(crate) fn unanswered_chat(chat_id: &str, allow_groups: bool) -> Option<String> {
    let direct = ["@c.us", "@lid", "@s.whatsapp.net"];
    if direct.iter().any(|suffix| chat_id.ends_with(suffix)) {
        return None;
    }
    let reason = if chat_id.ends_with("@g.us") {
        if allow_groups {
            return None;
        }
        "group chat"
    } else if chat_id == "status@broadcast" {
        "status update"
    } else if chat_id.ends_with("@broadcast") {
        "broadcast list"
    } else if chat_id.ends_with("@newsletter") {
        "newsletter channel"
    } else {
        "unsupported chat type"
    };
    Some(reason.to_owned())
}

/// `value` at `path` (`/a/b`: object keys only, no `~` escapes), like [`Value::pointer`] but without
/// allocating a string per segment.
pub(crate) fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.strip_prefix('/')?
        .split('/')
        .try_fold(value, |v, key| v.as_object()?.get(key))
}

pub(crate) fn non_empty_str<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    at(value, pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The customer's profile name: WEBJS `notifyName`, GOWS `Info.PushName`, NOWEB `pushName`.
fn sender_name(payload: &Value) -> Option<String> {
    ["/_data/notifyName", "/_data/Info/PushName", "/_data/pushName"]
        .iter()
        .find_map(|p| non_empty_str(payload, p))
        .map(str::to_owned)
}

/// Unix seconds from a number or numeric string; milliseconds are scaled down; 0 when unknown.
pub(crate) fn timestamp_secs(value: Option<&Value>) -> i64 {
    let raw = match value {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match raw {
        Some(t) if t > 100_000_000_000 => t / 1000,
        Some(t) if t > 0 => t,
        _ => 0,
    }
}
