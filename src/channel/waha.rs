//! WAHA (WhatsApp HTTP API): webhook parsing and `sendText`.
//!
//! Parsing ([`parse_webhook`]) is pure and lenient: unknown fields are ignored, every engine's shape
//! (WEBJS, NOWEB, GOWS) is read, and any input gives `Ok` or `Err`, never a panic. The chat and the
//! message id come from `payload.id` = `{fromMe}_{chatId}_{waId}[_{participant}]`, which is the same on
//! every engine (WEBJS puts our own number in `from` for messages we sent). Dedupe keys on the third
//! segment, so the `@lid`/`@c.us` twins of one message share it.
//!
//! Sending ([`WahaClient`]) posts `{base}/api/sendText` with the `X-Api-Key` header; presence posts
//! `sendSeen`, `startTyping` and `stopTyping` the same way; [`Channel::recent_own_texts`] reads the
//! chat's recent messages (`GET {base}/api/{session}/chats/{chatId}/messages`). Failures are
//! [`OutboundError`]s of service `waha`, classified like every outbound call ([`crate::outbound`]):
//! 408, 425, 429, 5xx, timeouts and connection errors are retryable, and so is 422 (the session is not
//! `WORKING` yet); 400/401/403/404 and other 4xx are fatal.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Channel, MediaOut, SentMessage};
use crate::config::WahaSettings;
use crate::domain::ChannelKind;
use crate::outbound::{Answer, OutboundError, exchange, retry_after};

/// The service name of every failure of this channel: its kind.
const SERVICE: &str = ChannelKind::Waha.as_str();

mod media;
mod parse;
mod wire;

pub use parse::{WahaEvent, parse_webhook};
pub(crate) use parse::{non_empty_str, timestamp_secs, unanswered_chat};

/// Sends text through a WAHA session.
#[derive(Debug)]
pub struct WahaClient {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<SecretString>,
    session: String,
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
impl Channel for WahaClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Waha
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, OutboundError> {
        let body = self.post("sendText", &self.send_text_body(chat_id, text)).await?;
        Ok(SentMessage {
            id: sent_message_id(&body),
        })
    }

    /// `POST /api/sendSeen {session, chatId, messageIds}`, the ids in their serialized form
    /// (`false_{chatId}_{id}`); without ids, the whole chat is marked seen.
    async fn mark_read(&self, chat_id: &str, message_ids: &[String]) -> Result<(), OutboundError> {
        let mut body = json!({ "session": self.session, "chatId": chat_id });
        if !message_ids.is_empty() {
            let ids: Vec<String> = message_ids.iter().map(|id| serialized_id(chat_id, id)).collect();
            body["messageIds"] = json!(ids);
        }
        self.post("sendSeen", &body).await.map(drop)
    }

    /// `POST /api/sendImage` (images), `/api/sendVoice` (voice notes) or `/api/sendFile` (everything
    /// else) with `{session, chatId, file: {mimetype, filename, data}, caption}`, the data base64.
    async fn send_media(&self, chat_id: &str, media: &MediaOut) -> Result<SentMessage, OutboundError> {
        let (action, body) = send_media_body(&self.session, chat_id, media);
        let answer = self.post(action, &body).await?;
        Ok(SentMessage {
            id: sent_message_id(&answer),
        })
    }

    /// `POST /api/startTyping` or `/api/stopTyping` with `{session, chatId}`.
    async fn set_typing(&self, chat_id: &str, on: bool) -> Result<(), OutboundError> {
        let action = if on { "startTyping" } else { "stopTyping" };
        let body = json!({ "session": self.session, "chatId": chat_id });
        self.post(action, &body).await.map(drop)
    }

    /// `GET /api/{session}/chats/{chatId}/messages?limit=20&downloadMedia=false`: the bodies of the
    /// `fromMe` messages sent at or after `since_ms`.
    async fn recent_own_texts(
        &self,
        chat_id: &str,
        since_ms: i64,
    ) -> Result<Option<Vec<String>>, OutboundError> {
        self.own_texts_since(chat_id, since_ms).await.map(Some)
    }
}

impl WahaClient {
    /// Posts `body` to `{base}/api/{action}`; the answer's body on 2xx, else a classified error.
    async fn post(&self, action: &str, body: &Value) -> Result<bytes::Bytes, OutboundError> {
        let request = self
            .client
            .post(format!("{}/api/{action}", self.base_url))
            .json(body);
        self.send(action, request).await
    }

    /// Sends `request` with the API key; the answer's body on 2xx, else a classified error.
    async fn send(
        &self,
        action: &str,
        mut request: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, OutboundError> {
        if let Some(key) = &self.api_key {
            request = request.header("X-Api-Key", key.expose_secret());
        }
        let Answer {
            status,
            headers,
            body,
        } = exchange(SERVICE, "WAHA", request).await?;
        tracing::debug!(status = status.as_u16(), action, "WAHA answered");
        if status.is_success() {
            return Ok(body);
        }
        let message = format!(
            "WAHA {action} answered {}{}",
            status.as_u16(),
            error_detail(&body)
        );
        // 422: the session is not `WORKING` yet (starting, scanning the QR code), which passes.
        let not_ready = status == StatusCode::UNPROCESSABLE_ENTITY;
        Err(OutboundError::from_status(SERVICE, status, &headers, message)
            .retryable_if(not_ready, retry_after(&headers)))
    }
}

/// The WAHA action and body that send `media` to `chat_id`.
pub fn send_media_body(session: &str, chat_id: &str, media: &MediaOut) -> (&'static str, Value) {
    use crate::domain::MediaKind;
    use base64::Engine;
    let action = match media.kind {
        MediaKind::Image => "sendImage",
        MediaKind::Voice => "sendVoice",
        _ => "sendFile",
    };
    let data = base64::engine::general_purpose::STANDARD.encode(&media.bytes);
    let mut file = json!({ "mimetype": media.mime, "data": data });
    if let Some(name) = &media.file_name {
        file["filename"] = json!(name);
    }
    let mut body = json!({ "session": session, "chatId": chat_id, "file": file });
    if let Some(caption) = media
        .caption
        .as_deref()
        .filter(|_| media.kind != MediaKind::Voice)
    {
        body["caption"] = json!(caption);
    }
    if media.kind == MediaKind::Voice {
        // WhatsApp plays only Opus voice notes; WAHA converts anything else when asked.
        body["convert"] = json!(!media.mime.starts_with("audio/ogg"));
    }
    (action, body)
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
    let mut detail: String = format!(": {text}")
        .chars()
        .take(crate::outbound::SNIPPET_CHARS)
        .collect();
    if let Some(status) = non_empty_str(&value, "/status") {
        detail.push_str(&format!(" (session status {status})"));
    }
    detail
}

mod recent;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod media_tests;
