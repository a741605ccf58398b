//! The `web` channel of the browser playground: chats `web:{id}` whose customer is a person on the
//! `/playground` page.
//!
//! "Sending" appends to the chat's event log in the store ([`crate::store::event_log`]), which the page
//! reads as a server-sent event stream: a `reply` per sent part, `typing` on and off while a turn runs,
//! and a `note` for what happens behind the scenes (handoffs, a human's reply from Chatwoot). Every
//! instance sharing the store serves every web chat, whichever instance ran the turn. The log keeps the
//! last [`EVENT_LOG_CAP`] events of a chat for [`EVENT_LOG_TTL`] after its last one. A store failure
//! is a retryable [`OutboundError`] of service `web`, like a gateway that is briefly down.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Channel, Note, SentMessage};
use crate::domain::{ChannelKind, now_ms};
use crate::outbound::OutboundError;
use crate::store::{EventId, Store};

/// The service name of every failure of this channel: its kind.
const SERVICE: &str = ChannelKind::Web.as_str();

/// Prefix of every playground chat id.
pub const CHAT_PREFIX: &str = "web:";
/// Events kept per chat.
pub const EVENT_LOG_CAP: usize = 500;
/// How long a chat's events are kept after its last one.
pub const EVENT_LOG_TTL: Duration = Duration::from_secs(24 * 3600);

/// One event of a web chat, as logged and streamed: `event` is `reply`, `typing` or `note`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebEvent {
    /// `reply`, `typing` or `note` (the SSE event name).
    pub event: String,
    /// The event's JSON (the SSE data).
    pub data: serde_json::Value,
}

/// Whether `chat_id` is a playground chat.
pub fn is_web_chat(chat_id: &str) -> bool {
    chat_id.starts_with(CHAT_PREFIX)
}

/// Whether `chat_id` is a well-formed playground chat id: `web:` and 8 to 64 letters, digits, `-`
/// or `_`.
pub fn valid_chat_id(chat_id: &str) -> bool {
    chat_id.strip_prefix(CHAT_PREFIX).is_some_and(|id| {
        (8..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A fresh, unguessable playground chat id.
pub fn new_chat_id() -> String {
    format!("{CHAT_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// The playground's gateway: writes to the chats' event logs.
#[derive(Clone)]
pub struct WebChannel {
    store: Arc<dyn Store>,
}

impl WebChannel {
    /// A gateway over the store that holds the event logs.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    async fn log(
        &self,
        chat_id: &str,
        event: &str,
        data: serde_json::Value,
    ) -> Result<EventId, OutboundError> {
        let body = serde_json::to_string(&WebEvent {
            event: event.to_owned(),
            data,
        })
        .map_err(|e| OutboundError::fatal(SERVICE, format!("web event: {e}")))?;
        self.store
            .append_chat_event(chat_id, &body, EVENT_LOG_CAP, EVENT_LOG_TTL)
            .await
            .map_err(|e| OutboundError::retryable(SERVICE, e.to_string()))
    }
}

#[async_trait::async_trait]
impl Channel for WebChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Web
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, OutboundError> {
        let id = self
            .log(chat_id, "reply", json!({"text": text, "at": now_ms()}))
            .await?;
        Ok(SentMessage {
            id: Some(id.to_string()),
        })
    }

    async fn set_typing(&self, chat_id: &str, on: bool) -> Result<(), OutboundError> {
        self.log(chat_id, "typing", json!({"on": on})).await.map(|_| ())
    }

    async fn note(&self, chat_id: &str, note: &Note) -> Result<(), OutboundError> {
        let data = serde_json::to_value(note).unwrap_or_default();
        self.log(chat_id, "note", data).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn chat_ids_are_checked() {
        assert!(valid_chat_id(&new_chat_id()));
        assert!(valid_chat_id("web:3f2a9c1d"));
        assert!(valid_chat_id("web:visitor_42-a"));
        for bad in [
            "3f2a9c1d",
            "web:",
            "web:short",
            "web:has space1",
            "web:ünïcode12",
            "wa:3f2a9c1d00",
        ] {
            assert!(!valid_chat_id(bad), "{bad:?} was accepted");
        }
        assert!(!valid_chat_id(&format!("web:{}", "a".repeat(65))));
        assert!(is_web_chat("web:x") && !is_web_chat("31641238876@c.us"));
    }

    #[tokio::test]
    async fn replies_typing_and_notes_land_in_the_log_in_order() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let web = WebChannel::new(store.clone());
        let chat = "web:abcdefgh";
        web.set_typing(chat, true).await.unwrap();
        let sent = web.send_text(chat, "Hallo!").await.unwrap();
        web.note(
            chat,
            &Note::HumanReply {
                reply_id: sent.id.clone(),
            },
        )
        .await
        .unwrap();
        let tool = Note::ToolCall {
            name: "search_catalogue".into(),
            ok: false,
        };
        web.note(chat, &tool).await.unwrap();
        let events = store.chat_events_after(chat, None, 10).await.unwrap();
        let parsed: Vec<WebEvent> = events
            .iter()
            .map(|e| serde_json::from_str(&e.body).unwrap())
            .collect();
        let names: Vec<&str> = parsed.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, ["typing", "reply", "note", "note"]);
        assert_eq!(parsed[0].data["on"], true);
        assert_eq!(parsed[1].data["text"], "Hallo!");
        assert_eq!(Some(events[1].id.to_string()), sent.id);
        assert_eq!(
            parsed[2].data,
            json!({"kind": "human_reply", "reply_id": sent.id.unwrap()})
        );
        assert_eq!(
            parsed[3].data,
            json!({"kind": "tool_call", "name": "search_catalogue", "ok": false})
        );
    }
}
