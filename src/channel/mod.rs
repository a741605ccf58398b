//! Channels: where a chat's customer is and how to answer them. A WhatsApp gateway (WAHA, the Cloud
//! API, Evolution API), the browser playground, or a Chatwoot conversation served as an Agent Bot; all
//! are peers behind one seam, the [`Channel`] trait, and the worker's turn never asks which one it is
//! talking to.
//!
//! A chat's channel is recorded when its first message is accepted (the envelope carries it, the chat's
//! state keeps it); [`Channels`] is the registry the worker looks it up in. Each channel folder holds its
//! client and its webhook parser. A channel sends text and files, shows typing and marks messages read
//! where it has them (no-ops by default), may read back our own recent messages
//! ([`Channel::recent_own_texts`], so a rerun of a turn that died mid-send can tell whether a part
//! already reached the customer), and says how the chat's Chatwoot conversation is found
//! ([`Channel::conversation`]): through the mirror for gateways, or the conversation itself for the
//! Agent Bot. Every failure is an [`OutboundError`] named after the channel's kind (`waha`, `meta`,
//! `evolution`, `chatwoot_bot`, `web`), classified like every outbound call ([`crate::outbound`]):
//! retryable when trying later can help (timeouts, connection errors, 408, 425, 429, 5xx, and what a
//! gateway says means "later": a WAHA session that is not ready, a Graph throttling code), fatal when
//! it cannot (bad credentials, unknown route, rejected request). Error messages never contain
//! credentials. When a channel is not configured, [`LogOnlyChannel`] logs replies instead of sending
//! them.

pub mod chatwoot_bot;
pub mod evolution;
pub mod lenient;
pub mod meta;
pub mod waha;
pub mod web;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{ChannelKind, MediaKind};
use crate::outbound::OutboundError;

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

/// Sends text to a WhatsApp chat.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// Which gateway this is; a chat is answered through the gateway it came from.
    fn kind(&self) -> ChannelKind;
    /// Sends `text` to `chat_id`.
    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, OutboundError>;

    /// Marks the customer's messages `message_ids` (gateway message ids, oldest first) in `chat_id` as
    /// read. Best effort: the default does nothing.
    async fn mark_read(&self, _chat_id: &str, _message_ids: &[String]) -> Result<(), OutboundError> {
        Ok(())
    }

    /// Shows (`on`) or hides the typing indicator in `chat_id`. Best effort: the default does nothing.
    async fn set_typing(&self, _chat_id: &str, _on: bool) -> Result<(), OutboundError> {
        Ok(())
    }

    /// Sends a file to `chat_id`. The default (the log-only stand-in) cannot: a fatal error.
    async fn send_media(&self, _chat_id: &str, _media: &MediaOut) -> Result<SentMessage, OutboundError> {
        let kind = self.kind().as_str();
        Err(OutboundError::fatal(
            kind,
            format!("sending files is not supported by the {kind} gateway stand-in"),
        ))
    }

    /// The texts of our own recent messages in `chat_id` sent at or after `since_ms` (Unix ms, by the
    /// gateway's clock), newest first. `Ok(None)`: this gateway cannot tell (the default).
    async fn recent_own_texts(
        &self,
        _chat_id: &str,
        _since_ms: i64,
    ) -> Result<Option<Vec<String>>, OutboundError> {
        Ok(None)
    }

    /// How the chat's Chatwoot conversation is found: through the mirror (the default), or the chat
    /// is the conversation itself (Agent Bot).
    fn conversation(&self, _chat_id: &str) -> ConversationLink {
        ConversationLink::Mirror
    }

    /// Tells the chat what happened behind the scenes (a handoff, a human's reply), for
    /// channels that show such things. Best effort: the default does nothing (WhatsApp customers see
    /// only messages).
    async fn note(&self, _chat_id: &str, _note: &Note) -> Result<(), OutboundError> {
        Ok(())
    }
}

/// Where a chat's Chatwoot conversation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationLink {
    /// A WhatsApp gateway or the playground: the mirror finds or creates a conversation in the
    /// API inbox and copies every message there.
    Mirror,
    /// The chat is a Chatwoot conversation (Agent Bot mode): nothing is mirrored, and the turn's
    /// replies are created in it by the channel itself.
    Itself {
        /// The Chatwoot account.
        account_id: u64,
        /// The conversation's display id.
        conversation_id: u64,
    },
}

/// The registry of channels: every [`ChannelKind`] has one (a [`LogOnlyChannel`] until a real one is
/// registered), so a lookup never fails.
#[derive(Clone)]
pub struct Channels {
    map: BTreeMap<ChannelKind, Arc<dyn Channel>>,
}

impl Default for Channels {
    fn default() -> Self {
        Self::new()
    }
}

impl Channels {
    /// Every channel logs instead of sending.
    pub fn new() -> Self {
        let map = ChannelKind::ALL
            .into_iter()
            .map(|k| (k, Arc::new(LogOnlyChannel::new(k)) as Arc<dyn Channel>))
            .collect();
        Self { map }
    }

    /// Registers `channel` under its own kind, replacing what was there.
    pub fn with(mut self, channel: Arc<dyn Channel>) -> Self {
        self.map.insert(channel.kind(), channel);
        self
    }

    /// The channel of `kind`.
    pub fn get(&self, kind: ChannelKind) -> &Arc<dyn Channel> {
        &self.map[&kind]
    }
}

/// The channel of a chat whose state recorded none: only chats whose state was written before
/// channels were recorded (state older than the gateway field, or expired). They can only be WAHA,
/// Cloud API or playground chats, told apart by their id as the service did before the channel
/// layer (documented in `migrations/README.md`). Every chat accepted since records its channel.
pub fn legacy_channel(chat_id: &str) -> ChannelKind {
    if web::is_web_chat(chat_id) {
        ChannelKind::Web
    } else if chat_id.contains('@') {
        ChannelKind::Waha
    } else {
        ChannelKind::Meta
    }
}

/// Something that happened in a chat besides a message, for [`Channel::note`].
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
    /// The agent called a tool during the turn (the playground shows it; the result stays in the
    /// history and the Chatwoot note, never in the page).
    ToolCall {
        /// The tool's name.
        name: String,
        /// Whether it answered (`false`: it failed or timed out).
        ok: bool,
    },
}

/// Stands in for a gateway that is not configured: replies are logged, not sent.
#[derive(Debug, Clone, Copy)]
pub struct LogOnlyChannel {
    kind: ChannelKind,
}

impl LogOnlyChannel {
    /// A stand-in for the `kind` gateway.
    pub fn new(kind: ChannelKind) -> Self {
        Self { kind }
    }
}

#[async_trait::async_trait]
impl Channel for LogOnlyChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, OutboundError> {
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
        let gateway = LogOnlyChannel::new(ChannelKind::Meta);
        assert_eq!(gateway.kind(), ChannelKind::Meta);
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
        let err = LogOnlyChannel::new(ChannelKind::Waha)
            .send_media("31641238876@c.us", &media)
            .await
            .unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(err.service(), "waha");
        assert!(err.to_string().contains("not supported"), "{err}");
    }
}
