//! WAHA (WhatsApp HTTP API): webhook parsing and `sendText`.
//!
//! Parsing ([`parse_webhook`]) is pure and lenient: unknown fields are ignored, every engine's shape
//! (WEBJS, NOWEB, GOWS) is read, and any input gives `Ok` or `Err`, never a panic. The chat and the
//! message id come from `payload.id` = `{fromMe}_{chatId}_{waId}[_{participant}]`, which is the same on
//! every engine (WEBJS puts our own number in `from` for messages we sent). Dedupe keys on the third
//! segment, so the `@lid`/`@c.us` twins of one message share it.
//!
//! Sending ([`WahaClient`]) posts `{base}/api/sendText` with the `X-Api-Key` header; presence posts
//! `sendSeen`, `startTyping` and `stopTyping` the same way. Failures are classified by status: 400/401/403/404 (and other 4xx) are fatal; 408, 422 (session not `WORKING`),
//! 429, 5xx, timeouts and connection errors are retryable.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Gateway, GatewayError, SentMessage};
use crate::config::WahaSettings;
use crate::domain::{GatewayKind, InboundMessage};

/// How much of an error body's text goes into an error message.
const ERROR_DETAIL_CHARS: usize = 200;

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

/// Why a WAHA webhook body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WahaParseError {
    /// The body is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but a required field is missing or has the wrong type; the message names the field.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
}

fn ignored(reason: impl Into<String>) -> WahaEvent {
    WahaEvent::Ignored {
        reason: reason.into(),
    }
}

fn invalid(field: &str, problem: &str) -> WahaParseError {
    WahaParseError::InvalidPayload(format!("{field}: {problem}"))
}

/// Reads a WAHA webhook body. Group chats are answered only when `allow_groups` is set.
pub fn parse_webhook(body: &[u8], allow_groups: bool) -> Result<WahaEvent, WahaParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WahaParseError::InvalidJson(e.to_string()))?;
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
    let Some(text) = message_text(payload) else {
        return Ok(ignored("empty message"));
    };
    let message = InboundMessage {
        gateway: GatewayKind::Waha,
        chat_id,
        message_id,
        text,
        sender_name: sender_name(payload),
        timestamp: timestamp_secs(payload.get("timestamp")),
    };
    Ok(WahaEvent::Message { session, message })
}

/// The chat (second segment of `payload.id`) and the stable message id (third segment). An id without
/// that shape is taken whole as the message id, with the chat from `payload.from`.
fn chat_and_message_id(id: &str, payload: &Value) -> Result<(String, String), WahaParseError> {
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
fn unanswered_chat(chat_id: &str, allow_groups: bool) -> Option<String> {
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

fn non_empty_str<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// What the agent reads: the trimmed body, or for media a placeholder such as `[image]` followed by
/// the caption. `None` when there is neither text nor media.
fn message_text(payload: &Value) -> Option<String> {
    let body = non_empty_str(payload, "/body");
    let Some(kind) = media_kind(payload) else {
        return body.map(str::to_owned);
    };
    let placeholder = match kind {
        "image" => "[image]".to_owned(),
        "video" => "[video]".to_owned(),
        "audio" => "[audio]".to_owned(),
        "ptt" => "[voice message]".to_owned(),
        "sticker" => "[sticker]".to_owned(),
        "document" => match document_filename(payload) {
            Some(name) => format!("[document: {name}]"),
            None => "[document]".to_owned(),
        },
        _ => "[media]".to_owned(),
    };
    let caption = body
        .or_else(|| non_empty_str(payload, "/_data/caption"))
        .filter(|caption| Some(*caption) != document_filename(payload).filter(|_| kind == "document"));
    Some(match caption {
        Some(caption) => format!("{placeholder} {caption}"),
        None => placeholder,
    })
}

/// The media kind (`image`, `video`, `audio`, `ptt`, `document`, `sticker`, or `media` when unknown),
/// or `None` for a message without media.
fn media_kind(payload: &Value) -> Option<&'static str> {
    const KINDS: [&str; 6] = ["image", "video", "audio", "ptt", "document", "sticker"];
    let known = |name: &str| KINDS.iter().copied().find(|k| k.eq_ignore_ascii_case(name));
    // WEBJS `_data.type`; GOWS `_data.Info.MediaType`.
    let declared = ["/_data/type", "/_data/Info/MediaType"]
        .iter()
        .find_map(|p| non_empty_str(payload, p).and_then(known));
    if declared.is_some() {
        return declared;
    }
    // NOWEB and GOWS: the Baileys/whatsmeow message object names its kind.
    for message in ["/_data/message", "/_data/Message"] {
        if let Some(Value::Object(fields)) = payload.pointer(message) {
            for (key, content) in fields {
                if let Some(kind) = key.strip_suffix("Message").and_then(known) {
                    let is_ptt = content.get("ptt").and_then(Value::as_bool) == Some(true)
                        || content.get("PTT").and_then(Value::as_bool) == Some(true);
                    return Some(if kind == "audio" && is_ptt { "ptt" } else { kind });
                }
            }
        }
    }
    if payload.get("hasMedia").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let mimetype =
        non_empty_str(payload, "/media/mimetype").or_else(|| non_empty_str(payload, "/_data/mimetype"));
    Some(match mimetype.and_then(|m| m.split('/').next()) {
        Some("image") => "image",
        Some("video") => "video",
        Some("audio") => "audio",
        Some("application" | "text") => "document",
        _ => "media",
    })
}

fn document_filename(payload: &Value) -> Option<&str> {
    [
        "/media/filename",
        "/_data/filename",
        "/_data/message/documentMessage/fileName",
        "/_data/Message/documentMessage/fileName",
    ]
    .iter()
    .find_map(|p| non_empty_str(payload, p))
}

/// The customer's profile name: WEBJS `notifyName`, GOWS `Info.PushName`, NOWEB `pushName`.
fn sender_name(payload: &Value) -> Option<String> {
    ["/_data/notifyName", "/_data/Info/PushName", "/_data/pushName"]
        .iter()
        .find_map(|p| non_empty_str(payload, p))
        .map(str::to_owned)
}

/// Unix seconds from a number or numeric string; milliseconds are scaled down; 0 when unknown.
fn timestamp_secs(value: Option<&Value>) -> i64 {
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

/// Sends text through a WAHA session.
pub struct WahaClient {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<SecretString>,
    session: String,
}

impl std::fmt::Debug for WahaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WahaClient")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("session", &self.session)
            .finish()
    }
}

impl WahaClient {
    /// A client for the WAHA at `settings.base_url`; every request gives up after `timeout`.
    pub fn new(settings: &WahaSettings, timeout: Duration) -> Self {
        let client = crate::outbound::http_client(timeout);
        Self {
            client,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            api_key: settings.api_key.clone(),
            session: settings.session.clone(),
        }
    }

    fn send_text_body(&self, chat_id: &str, text: &str) -> Value {
        json!({ "session": self.session, "chatId": chat_id, "text": text, "linkPreview": false })
    }
}

#[async_trait::async_trait]
impl Gateway for WahaClient {
    fn kind(&self) -> GatewayKind {
        GatewayKind::Waha
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, GatewayError> {
        let body = self.post("sendText", &self.send_text_body(chat_id, text)).await?;
        Ok(SentMessage {
            id: sent_message_id(&body),
        })
    }

    /// `POST /api/sendSeen {session, chatId, messageIds}`, the ids in their serialized form
    /// (`false_{chatId}_{id}`); without ids, the whole chat is marked seen.
    async fn mark_read(&self, chat_id: &str, message_ids: &[String]) -> Result<(), GatewayError> {
        let mut body = json!({ "session": self.session, "chatId": chat_id });
        if !message_ids.is_empty() {
            let ids: Vec<String> = message_ids.iter().map(|id| serialized_id(chat_id, id)).collect();
            body["messageIds"] = json!(ids);
        }
        self.post("sendSeen", &body).await.map(drop)
    }

    /// `POST /api/startTyping` or `/api/stopTyping` with `{session, chatId}`.
    async fn set_typing(&self, chat_id: &str, on: bool) -> Result<(), GatewayError> {
        let action = if on { "startTyping" } else { "stopTyping" };
        let body = json!({ "session": self.session, "chatId": chat_id });
        self.post(action, &body).await.map(drop)
    }
}

impl WahaClient {
    /// Posts `body` to `{base}/api/{action}`; the answer's body on 2xx, else a classified error.
    async fn post(&self, action: &str, body: &Value) -> Result<bytes::Bytes, GatewayError> {
        let mut request = self
            .client
            .post(format!("{}/api/{action}", self.base_url))
            .json(body);
        if let Some(key) = &self.api_key {
            request = request.header("X-Api-Key", key.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|e| super::transport_error("WAHA", &e))?;
        let status = response.status();
        let retry_after = crate::outbound::retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| super::transport_error("WAHA", &e))?;
        tracing::debug!(status = status.as_u16(), action, "WAHA answered");
        if status.is_success() {
            return Ok(body);
        }
        let message = format!(
            "WAHA {action} answered {}{}",
            status.as_u16(),
            error_detail(&body)
        );
        let retryable = matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::UNPROCESSABLE_ENTITY | StatusCode::TOO_MANY_REQUESTS
        ) || status.is_server_error();
        Err(if retryable {
            GatewayError::Retryable { message, retry_after }
        } else {
            GatewayError::Fatal { message }
        })
    }
}

/// A message id in WAHA's serialized form: `false_{chatId}_{id}` for the bare third segment that
/// [`parse_webhook`] keeps; an id that already has segments is passed through.
pub fn serialized_id(chat_id: &str, id: &str) -> String {
    if id.contains('_') {
        id.to_owned()
    } else {
        format!("false_{chat_id}_{id}")
    }
}

/// The sent message's id from a `sendText` answer: `id._serialized`, or `id` as a string, or nothing
/// (engines answer in different shapes, and some builds send an empty body).
pub fn sent_message_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let id = value.get("id")?;
    id.get("_serialized")
        .and_then(Value::as_str)
        .or_else(|| id.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `: <error or message>` from a WAHA error body (plus the session status when given), shortened.
fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let text = non_empty_str(&value, "/error").or_else(|| non_empty_str(&value, "/message"));
    let Some(text) = text else {
        return String::new();
    };
    let mut detail: String = format!(": {text}").chars().take(ERROR_DETAIL_CHARS).collect();
    if let Some(status) = non_empty_str(&value, "/status") {
        detail.push_str(&format!(" (session status {status})"));
    }
    detail
}

#[cfg(test)]
mod tests;
