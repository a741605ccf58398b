//! Reading a WAHA webhook ([`parse_webhook`]): pure and lenient. The body is read into the typed
//! structs of [`super::wire`] (unknown fields skipped unbuilt, strings borrowed from the body), every
//! engine's shape (WEBJS, NOWEB, GOWS) is read, and any input gives `Ok` or `Err`, never a panic: a
//! broken body is `InvalidJson`, a missing or mistyped required field (`event`, `payload`,
//! `payload.id`) is `InvalidPayload` naming it, and any other field of an unexpected type is ignored.

use serde_json::Value;

use super::media::message_content;
use super::wire::{Payload, Webhook};
use crate::channel::lenient::{Object, Scalar};
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

/// Reads a WAHA webhook body. Group chats are answered only when `allow_groups` is set.
pub fn parse_webhook(body: &[u8], allow_groups: bool) -> Result<WahaEvent, ParseError> {
    let envelope: Object<Webhook<'_>> =
        serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let Object::Is(envelope) = envelope else {
        return Err(invalid("event", "missing (the body is not a JSON object)"));
    };
    let event = match &envelope.event {
        Scalar::Str(event) => event.as_ref(),
        Scalar::Missing => return Err(invalid("event", "missing")),
        _ => return Err(invalid("event", "not a string")),
    };
    if event != "message" && event != "message.any" {
        return Ok(ignored(format!("event {event} is not handled")));
    }
    let session = envelope.session.as_str().unwrap_or("default").to_owned();
    let payload = match &envelope.payload {
        Object::Is(payload) => payload,
        Object::Not => return Err(invalid("payload", "not an object")),
        Object::Missing => return Err(invalid("payload", "missing")),
    };
    let id = match &payload.id {
        Scalar::Str(id) if !id.trim().is_empty() => id.trim(),
        Scalar::Str(_) => return Err(invalid("payload.id", "empty")),
        Scalar::Missing => return Err(invalid("payload.id", "missing")),
        _ => return Err(invalid("payload.id", "not a string")),
    };
    if payload.from_me.as_bool().unwrap_or(false) {
        let from_api = payload.source.as_str() == Some("api");
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
        timestamp: scalar_timestamp_secs(&payload.timestamp),
        media,
    };
    Ok(WahaEvent::Message { session, message })
}

/// The chat (second segment of `payload.id`) and the stable message id (third segment). An id without
/// that shape is taken whole as the message id, with the chat from `payload.from`.
fn chat_and_message_id(id: &str, payload: &Payload<'_>) -> Result<(String, String), ParseError> {
    let segments: Vec<&str> = id.splitn(4, '_').collect();
    if let [_, chat, wa_id, ..] = segments.as_slice()
        && !chat.is_empty()
        && !wa_id.is_empty()
    {
        return Ok(((*chat).to_owned(), (*wa_id).to_owned()));
    }
    match payload.from.non_empty() {
        Some(from) => Ok((from.to_owned(), id.to_owned())),
        None => Err(invalid(
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
fn sender_name(payload: &Payload<'_>) -> Option<String> {
    let data = payload.data()?;
    data.notify_name
        .non_empty()
        .or_else(|| data.info.get().and_then(|info| info.push_name.non_empty()))
        .or_else(|| data.push_name.non_empty())
        .map(str::to_owned)
}

/// Unix seconds from a number or numeric string; milliseconds are scaled down; 0 when unknown.
pub(crate) fn timestamp_secs(value: Option<&Value>) -> i64 {
    let raw = match value {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    scaled_secs(raw)
}

/// [`timestamp_secs`] of a typed field.
fn scalar_timestamp_secs(value: &Scalar<'_>) -> i64 {
    let raw = match value {
        Scalar::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Scalar::Str(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    scaled_secs(raw)
}

/// Unix seconds of a raw timestamp in seconds or milliseconds; 0 when unknown.
fn scaled_secs(raw: Option<i64>) -> i64 {
    match raw {
        Some(t) if t > 100_000_000_000 => t / 1000,
        Some(t) if t > 0 => t,
        _ => 0,
    }
}
