//! Meta's WhatsApp Cloud API: webhook parsing, sending text, read marks and the typing indicator.
//!
//! Parsing ([`parse_notification`]) is pure and lenient, and any input gives `Ok` or `Err`, never a
//! panic. Only the envelope can make a notification invalid (`object` must be
//! `whatsapp_business_account`, `entry` an array). Inside it, every `entry[].changes[].value` is read
//! and a malformed or unanswerable item is skipped with a reason, so one odd message never makes Meta
//! retry the good ones next to it for days. The chat is the sender's `wa_id` (`from`, digits without
//! `+`), or the business-scoped user id (`from_user_id`) for users known only by a username; the
//! message id is the wamid, which dedupe keys on.
//!
//! Sending ([`MetaClient`]) posts `{graph base}/{phone number id}/messages` with a Bearer token.
//! Failures are [`OutboundError`]s of service `meta`, classified by status like every outbound call
//! ([`crate::outbound`]: 408, 425, 429, 5xx, timeouts and connection errors are retryable) and by
//! Graph error code: the throttling or temporary codes in [`RETRYABLE_CODES`] are retryable whatever
//! the status; other 4xx are fatal. Error messages and logs never contain the token (a message that
//! echoes it is redacted).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Channel, MediaOut, SentMessage};
use crate::config::MetaSettings;
use crate::domain::ChannelKind;
use crate::outbound::{Answer, OutboundError, SNIPPET_CHARS, exchange, retry_after};

/// The service name of every failure of this channel: its kind.
const SERVICE: &str = ChannelKind::Meta.as_str();

mod media;
mod parse;
mod send_media;

use parse::text_at;
pub use parse::{MetaMessage, MetaNotification, StatusUpdate, parse_notification};

/// Graph error codes worth retrying: API-level throttling (4, 17, 32, 613), temporary errors (1, 2),
/// the business-account rate limits (80007, 130429), spam rate limit (131048) and pair rate limit
/// (131056).
pub const RETRYABLE_CODES: [i64; 10] = [1, 2, 4, 17, 32, 613, 80007, 130429, 131048, 131056];
/// Chats whose newest message id the client remembers for the typing indicator.
const REMEMBERED_CHATS: usize = 10_000;

/// Sends through one Cloud API business phone number.
#[derive(Debug)]
pub struct MetaClient {
    client: reqwest::Client,
    messages_url: String,
    /// `{graph base}/{phone number id}/media`, where files are uploaded before sending.
    media_url: String,
    token: SecretString,
    /// The newest customer message id per chat, from [`Channel::mark_read`], for the typing indicator.
    newest: Mutex<HashMap<String, String>>,
}

impl MetaClient {
    /// A client when `META_ACCESS_TOKEN` and `META_PHONE_NUMBER_ID` are both set; every request gives
    /// up after `timeout`.
    pub fn new(settings: &MetaSettings, timeout: Duration) -> Option<Self> {
        let token = settings.access_token.clone()?;
        let phone_number_id = settings.phone_number_id.as_deref()?;
        let client = crate::outbound::http_client(timeout);
        let base = settings.graph_base_url.trim_end_matches('/');
        Some(Self {
            client,
            messages_url: format!("{base}/{phone_number_id}/messages"),
            media_url: format!("{base}/{phone_number_id}/media"),
            token,
            newest: Mutex::new(HashMap::new()),
        })
    }

    /// Posts `body` to the messages endpoint; the answer's body on 2xx, else a classified error.
    async fn post(&self, what: &str, body: &Value) -> Result<bytes::Bytes, OutboundError> {
        let request = self
            .client
            .post(&self.messages_url)
            .bearer_auth(self.token.expose_secret())
            .json(body);
        let Answer {
            status,
            headers,
            body: bytes,
        } = self.exchange(request).await?;
        tracing::debug!(status = status.as_u16(), what, "Graph API answered");
        if status.is_success() {
            return Ok(bytes);
        }
        Err(self.redact(classify(what, status, &headers, &bytes)))
    }

    /// Sends `request` and reads its whole answer ([`exchange`]); a transport error is redacted.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Answer, OutboundError> {
        exchange(SERVICE, "Graph API", request)
            .await
            .map_err(|e| self.redact(e))
    }

    /// The error with any occurrence of the token replaced.
    fn redact(&self, error: OutboundError) -> OutboundError {
        error.redacted(self.token.expose_secret())
    }

    fn remember_newest(&self, chat_id: &str, message_id: &str) {
        let mut newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        if newest.len() >= REMEMBERED_CHATS && !newest.contains_key(chat_id) {
            newest.clear();
        }
        newest.insert(chat_id.to_owned(), message_id.to_owned());
    }
}

#[async_trait::async_trait]
impl Channel for MetaClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Meta
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, OutboundError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": chat_id,
            "type": "text",
            "text": { "preview_url": false, "body": text },
        });
        let answer = self.post("send", &body).await?;
        Ok(SentMessage {
            id: sent_message_id(&answer),
        })
    }

    /// Uploads the file (`POST {phone number id}/media`), then sends it by its media id.
    async fn send_media(&self, chat_id: &str, media: &MediaOut) -> Result<SentMessage, OutboundError> {
        let id = self.upload(media).await?;
        let answer = self
            .post("send media", &send_media::message_body(chat_id, &id, media))
            .await?;
        Ok(SentMessage {
            id: sent_message_id(&answer),
        })
    }

    /// Marks the newest of `message_ids` read, which marks the earlier ones read too.
    async fn mark_read(&self, chat_id: &str, message_ids: &[String]) -> Result<(), OutboundError> {
        let Some(newest) = message_ids.last() else {
            return Ok(());
        };
        self.remember_newest(chat_id, newest);
        let body = json!({ "messaging_product": "whatsapp", "status": "read", "message_id": newest });
        self.post("mark read", &body).await.map(drop)
    }

    /// Shows the typing indicator on the newest message [`Channel::mark_read`] saw in the chat (Meta
    /// needs a message to attach it to). It stops by itself on the reply or after about 25 s, so
    /// hiding it is a no-op.
    async fn set_typing(&self, chat_id: &str, on: bool) -> Result<(), OutboundError> {
        if !on {
            return Ok(());
        }
        let newest = self
            .newest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(chat_id)
            .cloned();
        let Some(newest) = newest else {
            tracing::debug!(chat_id, "no message to show typing on");
            return Ok(());
        };
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": newest,
            "typing_indicator": { "type": "text" },
        });
        self.post("typing", &body).await.map(drop)
    }
}

/// The wamid of a sent message: `messages[0].id`.
pub fn sent_message_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    text_at(value.pointer("/messages/0")?, "id").map(str::to_owned)
}

/// A Graph API error answer as a retryable or fatal error: by its status like every outbound call,
/// and retryable for the codes in [`RETRYABLE_CODES`] whatever the status.
pub fn classify(what: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> OutboundError {
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
        .unwrap_or(Value::Null);
    let code = error.get("code").and_then(Value::as_i64);
    let detail = text_at(&error, "message")
        .or_else(|| error.pointer("/error_data/details").and_then(Value::as_str))
        .map(|m| format!(": {}", m.chars().take(SNIPPET_CHARS).collect::<String>()))
        .unwrap_or_default();
    let code_text = code.map(|c| format!(" (code {c})")).unwrap_or_default();
    let message = format!("Graph API {what} answered {}{code_text}{detail}", status.as_u16());
    let throttled = code.is_some_and(|c| RETRYABLE_CODES.contains(&c));
    OutboundError::from_status(SERVICE, status, headers, message)
        .retryable_if(throttled, retry_after(headers))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod media_tests;
