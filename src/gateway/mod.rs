//! WhatsApp gateways: parsing each gateway's webhooks into one [`InboundMessage`](crate::domain::InboundMessage)
//! and sending replies back through the gateway a chat came from.
//!
//! [`Gateway`] is the sending side: text, plus best-effort presence (read marks and the typing
//! indicator, no-ops by default), plus one optional capability: reading back our own recent messages
//! in a chat ([`Gateway::recent_own_texts`]), which lets a rerun of a turn that died mid-send tell
//! whether a part already reached the customer (WAHA can; the Cloud API has no read API). Each implementation classifies its failures the same way:
//! [`GatewayError::Retryable`] when trying later can help (timeouts, connection errors, a session that
//! is not ready, rate limits, 5xx), [`GatewayError::Fatal`] when it cannot (bad credentials, unknown
//! route, rejected request). Error messages never contain credentials. When no gateway is configured,
//! [`LogOnlyGateway`] logs replies instead of sending them. [`web::WebGateway`] is the browser
//! playground's channel: what it "sends" goes to the chat's event log, which the page streams.

pub mod meta;
pub mod waha;
pub mod web;

use std::time::Duration;

use crate::domain::{GatewayKind, MediaKind};

/// A file to send to a customer (a human's Chatwoot reply with an attachment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOut {
    /// How WhatsApp should show it: image, video, voice note, audio, document or sticker.
    pub kind: MediaKind,
    /// The file.
    pub bytes: bytes::Bytes,
    /// Its MIME type.
    pub mime: String,
    /// Its file name (shown for documents).
    pub file_name: Option<String>,
    /// Text shown under it; voice notes and audio carry none, so send the text separately.
    pub caption: Option<String>,
}

/// What a gateway tells about a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentMessage {
    /// The gateway's id of the sent message, when its answer carried one.
    pub id: Option<String>,
}

/// Why a gateway did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Worth trying again later.
    #[error("gateway temporarily unavailable: {message}")]
    Retryable {
        /// What went wrong, without secrets.
        message: String,
        /// How long the gateway asked us to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help.
    #[error("gateway failed: {message}")]
    Fatal {
        /// What went wrong, without secrets.
        message: String,
    },
}

impl GatewayError {
    /// Whether the queue should retry the send.
    pub fn is_retryable(&self) -> bool {
        matches!(self, GatewayError::Retryable { .. })
    }
}

/// Sends text to a WhatsApp chat.
#[async_trait::async_trait]
pub trait Gateway: Send + Sync {
    /// Which gateway this is; a chat is answered through the gateway it came from.
    fn kind(&self) -> GatewayKind;
    /// Sends `text` to `chat_id`.
    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, GatewayError>;

    /// Marks the customer's messages `message_ids` (gateway message ids, oldest first) in `chat_id` as
    /// read. Best effort: the default does nothing.
    async fn mark_read(&self, _chat_id: &str, _message_ids: &[String]) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Shows (`on`) or hides the typing indicator in `chat_id`. Best effort: the default does nothing.
    async fn set_typing(&self, _chat_id: &str, _on: bool) -> Result<(), GatewayError> {
        Ok(())
    }

    /// Sends a file to `chat_id`. The default (the log-only stand-in) cannot: a fatal error.
    async fn send_media(&self, _chat_id: &str, _media: &MediaOut) -> Result<SentMessage, GatewayError> {
        Err(GatewayError::Fatal {
            message: format!(
                "sending files is not supported by the {} gateway stand-in",
                self.kind().as_str()
            ),
        })
    }

    /// The texts of our own recent messages in `chat_id` sent at or after `since_ms` (Unix ms, by the
    /// gateway's clock), newest first. `Ok(None)`: this gateway cannot tell (the default).
    async fn recent_own_texts(
        &self,
        _chat_id: &str,
        _since_ms: i64,
    ) -> Result<Option<Vec<String>>, GatewayError> {
        Ok(None)
    }

    /// Tells the chat what happened behind the scenes (a handoff, a human's reply), for
    /// channels that show such things. Best effort: the default does nothing (WhatsApp customers see
    /// only messages).
    async fn note(&self, _chat_id: &str, _note: &Note) -> Result<(), GatewayError> {
        Ok(())
    }
}

/// Something that happened in a chat besides a message, for [`Gateway::note`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Note {
    /// The chat was handed to a human.
    Handoff {
        /// Why.
        reason: String,
    },
    /// A human agent's reply (from Chatwoot) was sent as `reply_id` (the id the gateway gave it).
    HumanReply {
        /// The gateway's id of the sent message, when it gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_id: Option<String>,
    },
}

/// A request to `service` that got no usable answer (timeout, refused or reset connection, broken
/// body): retryable, but for a request that could not even be built. The message walks the error's
/// sources, never the URL or headers (they carry credentials).
pub(crate) fn transport_error(service: &str, error: &reqwest::Error) -> GatewayError {
    let mut message = format!("{service} request failed");
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    if error.is_timeout() && !message.contains("timed out") {
        message.push_str(": timed out");
    }
    if error.is_builder() {
        GatewayError::Fatal { message }
    } else {
        GatewayError::Retryable {
            message,
            retry_after: None,
        }
    }
}

/// Stands in for a gateway that is not configured: replies are logged, not sent.
#[derive(Debug, Clone, Copy)]
pub struct LogOnlyGateway {
    kind: GatewayKind,
}

impl LogOnlyGateway {
    /// A stand-in for the `kind` gateway.
    pub fn new(kind: GatewayKind) -> Self {
        Self { kind }
    }
}

#[async_trait::async_trait]
impl Gateway for LogOnlyGateway {
    fn kind(&self) -> GatewayKind {
        self.kind
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, GatewayError> {
        tracing::info!(
            gateway = self.kind.as_str(),
            chat_id,
            reply_chars = text.chars().count(),
            "no gateway configured: reply logged, not sent"
        );
        tracing::debug!(gateway = self.kind.as_str(), chat_id, text, "unsent reply");
        Ok(SentMessage { id: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn log_only_gateway_accepts_without_an_id() {
        let gateway = LogOnlyGateway::new(GatewayKind::Meta);
        assert_eq!(gateway.kind(), GatewayKind::Meta);
        let sent = gateway.send_text("31641238876@c.us", "Hallo").await.unwrap();
        assert_eq!(sent, SentMessage { id: None });
        assert_eq!(
            gateway.recent_own_texts("31641238876@c.us", 0).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn log_only_gateway_cannot_send_files() {
        let media = MediaOut {
            kind: MediaKind::Document,
            bytes: bytes::Bytes::from_static(b"%PDF-1.4"),
            mime: "application/pdf".into(),
            file_name: Some("offerte.pdf".into()),
            caption: None,
        };
        let err = LogOnlyGateway::new(GatewayKind::Waha)
            .send_media("31641238876@c.us", &media)
            .await
            .unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("not supported"), "{err}");
    }

    #[test]
    fn retryable_is_told_apart_from_fatal() {
        let retry = GatewayError::Retryable {
            message: "x".into(),
            retry_after: None,
        };
        let fatal = GatewayError::Fatal { message: "x".into() };
        assert!(retry.is_retryable());
        assert!(!fatal.is_retryable());
    }
}
