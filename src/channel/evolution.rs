//! Evolution API (v2): webhook parsing (`messages.upsert`) and sending (`sendText`, presence, read
//! marks), behind the [`Channel`] seam like WAHA.
//!
//! Parsing ([`parse_webhook`]) is pure and lenient: one Baileys message record in `data`. Events other
//! than `messages.upsert` are ignored; so are `fromMe` messages (our own sends and the phone's), groups
//! (unless allowed), broadcasts and statuses, by the same rules as WAHA. A chat addressed by a hidden
//! linked id (`…@lid`, `addressingMode` `lid`) is answered under its phone JID (`remoteJidAlt`,
//! `…@s.whatsapp.net`) when Evolution tells it, so the `@lid` and phone twins of one customer are one
//! chat; dedupe keys on `{instance}:{key.id}`, which both twins share. A media message gives its
//! placeholder plus caption and a [`crate::domain::MediaSource::Evolution`] reference (the instance and
//! `key.id`); the turn fetches the file through `chat/getBase64FromMediaMessage` (see
//! [`crate::media::download`]), never the webhook.
//!
//! Sending ([`EvolutionClient`]) posts `{base}/message/sendText/{instance}` `{number, text}` with the
//! `apikey` header (`number`: the JID's digits, or the whole JID for an `@lid` without a phone); typing
//! posts `chat/sendPresence/{instance}` and read marks `chat/markMessageAsRead/{instance}`;
//! [`Channel::recent_own_texts`] reads our own recent messages back through `chat/findMessages`
//! (`recent`). Failures are [`OutboundError`]s of service `evolution`, classified by status like every
//! outbound call ([`crate::outbound`]): 408, 425, 429 and 5xx (and transport errors) are retryable,
//! other 4xx fatal.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::waha::{non_empty_str, timestamp_secs, unanswered_chat};
use super::{Channel, SentMessage};
use crate::config::EvolutionSettings;
use crate::domain::{ChannelKind, InboundMessage, ParseError};
use crate::outbound::{Answer, OutboundError, exchange, snippet};

/// The service name of every failure of this channel: its kind.
const SERVICE: &str = ChannelKind::Evolution.as_str();

mod media;
mod recent;

/// What an Evolution webhook means for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvolutionEvent {
    /// A customer message to answer.
    Message {
        /// The Evolution instance it arrived on.
        instance: String,
        /// The normalised message.
        message: InboundMessage,
    },
    /// A well-formed event the agent does not answer, and why.
    Ignored {
        /// A short sentence for the `{"status":"ignored","reason":…}` answer and the logs.
        reason: String,
    },
}

fn ignored(reason: impl Into<String>) -> Result<EvolutionEvent, ParseError> {
    Ok(EvolutionEvent::Ignored {
        reason: reason.into(),
    })
}

fn invalid(field: &str, problem: &str) -> ParseError {
    ParseError::InvalidPayload(format!("{field}: {problem}"))
}

/// Reads an Evolution webhook body. Group chats are answered only when `allow_groups` is set.
pub fn parse_webhook(body: &[u8], allow_groups: bool) -> Result<EvolutionEvent, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let Some(envelope) = value.as_object() else {
        return Err(invalid("event", "missing (the body is not a JSON object)"));
    };
    let event = match envelope.get("event") {
        Some(Value::String(e)) => e.as_str(),
        Some(_) => return Err(invalid("event", "not a string")),
        None => return Err(invalid("event", "missing")),
    };
    // Evolution spells events `messages.upsert`, or `MESSAGES_UPSERT` with some webhook settings.
    if !event.eq_ignore_ascii_case("messages.upsert") && !event.eq_ignore_ascii_case("messages_upsert") {
        return ignored(format!("event {event} is not handled"));
    }
    let instance = non_empty_str(&value, "/instance").unwrap_or("default").to_owned();
    let data = match envelope.get("data") {
        Some(d @ Value::Object(_)) => d,
        Some(_) => return Err(invalid("data", "not an object")),
        None => return Err(invalid("data", "missing")),
    };
    let Some(key) = data.get("key").filter(|k| k.is_object()) else {
        return Err(invalid("data.key", "missing or not an object"));
    };
    let Some(id) = non_empty_str(key, "/id") else {
        return Err(invalid("data.key.id", "missing or empty"));
    };
    let Some(remote) = non_empty_str(key, "/remoteJid") else {
        return Err(invalid("data.key.remoteJid", "missing or empty"));
    };
    if key.get("fromMe").and_then(Value::as_bool).unwrap_or(false) {
        return ignored("sent by us");
    }
    let chat_id = chat_of(remote, non_empty_str(key, "/remoteJidAlt"));
    if let Some(reason) = unanswered_chat(&chat_id, allow_groups) {
        return ignored(reason);
    }
    let Some((text, media)) = data
        .get("message")
        .and_then(|m| media::message_content(m, &instance, id))
    else {
        return ignored("empty message");
    };
    let message = InboundMessage {
        channel: ChannelKind::Evolution,
        chat_id,
        message_id: id.to_owned(),
        text,
        sender_name: non_empty_str(data, "/pushName").map(str::to_owned),
        timestamp: timestamp_secs(data.get("messageTimestamp")),
        media,
    };
    Ok(EvolutionEvent::Message { instance, message })
}

/// The chat to answer: the phone JID when an `@lid` chat comes with one, else the JID as sent.
fn chat_of(remote: &str, alt: Option<&str>) -> String {
    match alt {
        Some(alt) if remote.ends_with("@lid") && alt.ends_with("@s.whatsapp.net") => alt.to_owned(),
        _ => remote.to_owned(),
    }
}

/// Sends through one Evolution API instance.
#[derive(Debug)]
pub struct EvolutionClient {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<SecretString>,
    instance: String,
}

/// The `number` Evolution sends to: the digits of a phone JID, or the whole JID otherwise (`@lid`).
pub fn number_of(chat_id: &str) -> &str {
    match chat_id.split_once('@') {
        Some((digits, "s.whatsapp.net" | "c.us")) => digits,
        _ => chat_id,
    }
}

impl EvolutionClient {
    /// A client for the Evolution API at `settings.base_url`; every request gives up after `timeout`.
    pub fn new(settings: &EvolutionSettings, timeout: Duration) -> Self {
        Self {
            client: crate::outbound::http_client(timeout),
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            api_key: settings.api_key.clone(),
            instance: settings.instance.clone(),
        }
    }

    /// Posts `body` to `{base}/{path}/{instance}`; the answer's body on 2xx, else a classified error.
    async fn post(&self, path: &str, body: &Value) -> Result<bytes::Bytes, OutboundError> {
        let mut request = self
            .client
            .post(format!("{}/{path}/{}", self.base_url, self.instance))
            .json(body);
        if let Some(key) = &self.api_key {
            request = request.header("apikey", key.expose_secret());
        }
        let Answer {
            status,
            headers,
            body,
        } = exchange(SERVICE, "Evolution API", request).await?;
        tracing::debug!(status = status.as_u16(), path, "Evolution API answered");
        if status.is_success() {
            return Ok(body);
        }
        let message = format!(
            "Evolution API {path} answered {}: {}",
            status.as_u16(),
            snippet(&body)
        );
        Err(OutboundError::from_status(SERVICE, status, &headers, message))
    }
}

#[async_trait::async_trait]
impl Channel for EvolutionClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Evolution
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, OutboundError> {
        let body = json!({ "number": number_of(chat_id), "text": text, "linkPreview": false });
        let answer = self.post("message/sendText", &body).await?;
        let id = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| non_empty_str(&v, "/key/id").map(str::to_owned));
        Ok(SentMessage { id })
    }

    async fn mark_read(&self, chat_id: &str, message_ids: &[String]) -> Result<(), OutboundError> {
        if message_ids.is_empty() {
            return Ok(());
        }
        let read: Vec<Value> = message_ids
            .iter()
            .map(|id| json!({ "remoteJid": chat_id, "fromMe": false, "id": id }))
            .collect();
        self.post("chat/markMessageAsRead", &json!({ "readMessages": read }))
            .await
            .map(drop)
    }

    async fn set_typing(&self, chat_id: &str, on: bool) -> Result<(), OutboundError> {
        let presence = if on { "composing" } else { "paused" };
        // `delay` (ms) is required: how long Evolution shows the presence before it answers.
        let body = json!({ "number": number_of(chat_id), "presence": presence, "delay": 1000 });
        self.post("chat/sendPresence", &body).await.map(drop)
    }

    async fn recent_own_texts(
        &self,
        chat_id: &str,
        since_ms: i64,
    ) -> Result<Option<Vec<String>>, OutboundError> {
        self.own_texts_since(chat_id, since_ms).await.map(Some)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod media_tests;
