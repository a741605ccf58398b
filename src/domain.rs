//! Plain data shared by every module: what arrives from a gateway, what a chat's queue holds, and what
//! a chat's history is made of. No I/O here; everything is `serde` so the store can keep it as JSON.

use serde::{Deserialize, Serialize};

/// Prefix of every `source_id` the service writes to Chatwoot (`wa-agent:<history entry id>`): the
/// mirror writes it, and the Chatwoot webhook reader recognises the service's own echoes by it.
pub const SOURCE_ID_PREFIX: &str = "wa-agent:";

/// Which channel a chat talks through: a WhatsApp gateway, the browser playground, or Chatwoot itself
/// (Agent Bot mode). A chat answers through the channel it came from; the channel is recorded when the
/// chat's first message is accepted (the envelope carries it, the chat's state keeps it) and never
/// guessed from the chat id's shape. Stored JSON written before channels existed says `gateway` with
/// the values `waha`/`meta`/`web`, which read unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// WAHA (WhatsApp HTTP API), `POST /webhooks/waha`.
    Waha,
    /// Meta's WhatsApp Cloud API, `POST /webhooks/meta`.
    Meta,
    /// The browser playground, `POST /playground/api/messages`; its chat ids are `web:{id}`.
    Web,
    /// Evolution API, `POST /webhooks/evolution`.
    Evolution,
    /// A Chatwoot conversation served as an Agent Bot, `POST /webhooks/chatwoot`; chat ids are
    /// `cw:{account}:{conversation}`.
    ChatwootBot,
}

impl ChannelKind {
    /// Every channel, in a fixed order.
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Waha,
        ChannelKind::Meta,
        ChannelKind::Web,
        ChannelKind::Evolution,
        ChannelKind::ChatwootBot,
    ];

    /// The lowercase name used in keys, metrics and Chatwoot custom attributes.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Waha => "waha",
            ChannelKind::Meta => "meta",
            ChannelKind::Web => "web",
            ChannelKind::Evolution => "evolution",
            ChannelKind::ChatwootBot => "chatwoot_bot",
        }
    }
}

/// Why a webhook body could not be read: the one parse error every channel's webhook parser (and
/// Chatwoot's) returns; `http` turns it into a `400` with a JSON error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but a required field is missing or has the wrong type; the message names the field.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
}

/// A customer's message, normalised from any gateway's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The channel it came through (and the one the reply goes back through). Stored as `gateway`
    /// (its name before the channel layer), so instances of either version read each other's
    /// envelopes during a rolling upgrade; `channel` is read too.
    #[serde(rename = "gateway", alias = "channel")]
    pub channel: ChannelKind,
    /// The chat to answer: `…@c.us`, `…@lid`, `…@s.whatsapp.net`, or a Cloud API `wa_id`.
    pub chat_id: String,
    /// The gateway's stable message id (WAHA: the third segment of `payload.id`; Meta: the wamid).
    /// Dedupe, history entries and Chatwoot `source_id`s are keyed on it.
    pub message_id: String,
    /// What the agent reads: the text, or a bracketed placeholder plus caption for media.
    pub text: String,
    /// The customer's WhatsApp profile name, when the gateway tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// When the customer sent it, unix seconds (0 when unknown).
    #[serde(default)]
    pub timestamp: i64,
    /// The file the message carries (voice note, photo, document, …) and where to fetch it. `None`
    /// for text, locations, contacts, and media the gateway gave no address for. Envelopes stored
    /// before this field existed read as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Box<MediaRef>>,
}

/// What kind of file a customer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A voice note recorded in WhatsApp (push-to-talk).
    Voice,
    /// Any other audio file.
    Audio,
    /// A photo or picture.
    Image,
    /// A video.
    Video,
    /// A document (PDF, spreadsheet, …).
    Document,
    /// A sticker.
    Sticker,
}

impl MediaKind {
    /// The lowercase name used in metrics and stored JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Voice => "voice",
            MediaKind::Audio => "audio",
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// The bracketed placeholder the agent reads: `[voice note]`, `[image]`, `[document]`, …
    pub fn placeholder(self) -> &'static str {
        match self {
            MediaKind::Voice => "[voice note]",
            MediaKind::Audio => "[audio]",
            MediaKind::Image => "[image]",
            MediaKind::Video => "[video]",
            MediaKind::Document => "[document]",
            MediaKind::Sticker => "[sticker]",
        }
    }
}

/// Where a customer's file can be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "lowercase")]
pub enum MediaSource {
    /// WAHA's `payload.media.url`; its path is fetched from `WAHA_BASE_URL` with `X-Api-Key`.
    Waha {
        /// The URL as WAHA reported it (possibly with a host only WAHA itself knows).
        url: String,
    },
    /// A Cloud API media id (`image.id`, `audio.id`, …): `GET {graph}/{id}` tells the download URL.
    /// Meta keeps it for 7 days.
    Meta {
        /// The media id.
        id: String,
    },
    /// An Evolution API message carrying a file: `POST {EVOLUTION_BASE_URL}/chat/
    /// getBase64FromMediaMessage/{instance}` with its id answers the file as base64. Evolution finds
    /// the message in its own store, so it must keep messages (`DATABASE_SAVE_DATA_NEW_MESSAGE`).
    Evolution {
        /// The instance the message arrived on.
        instance: String,
        /// The message's `key.id`.
        message_id: String,
        /// The size the webhook announced (`fileLength`), when it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_length: Option<u64>,
    },
}

/// A customer's file: what it is and where to fetch it. The bytes are never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// What kind of file.
    pub kind: MediaKind,
    /// The MIME type the gateway announced (`audio/ogg; codecs=opus`, `image/jpeg`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file name, for documents (and whatever else the gateway names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// The caption the customer typed under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Where to fetch it.
    pub source: MediaSource,
}

/// The text the agent reads for a file: `placeholder`, then the file name (when it says something the
/// caption does not), then the caption; `[document] brochure.pdf`, `[image] Mijn auto`.
pub fn media_text(placeholder: &str, file_name: Option<&str>, caption: Option<&str>) -> String {
    let mut text = placeholder.to_owned();
    let name = file_name.map(str::trim).filter(|n| !n.is_empty());
    let caption = caption.map(str::trim).filter(|c| !c.is_empty());
    for part in [name, caption.filter(|c| Some(*c) != name)].into_iter().flatten() {
        text.push(' ');
        text.push_str(part);
    }
    text
}

/// A reply a human agent typed in Chatwoot, to be sent to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanReply {
    /// The chat to send it to.
    pub chat_id: String,
    /// The Chatwoot conversation (display id).
    pub conversation_id: u64,
    /// The Chatwoot message id.
    pub message_id: u64,
    /// The text (empty when the reply is only files).
    pub text: String,
    /// The files attached to it, fetched from Chatwoot when the reply is sent. Replies queued
    /// before this field existed read as none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file attached to a Chatwoot message, as its webhook tells it (see
/// [`crate::chatwoot::webhook_attachments`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The attachment id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// How to send it on WhatsApp (`file` becomes a document).
    pub kind: MediaKind,
    /// Where to fetch it.
    pub data_url: String,
    /// Its size in bytes, when told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// Its file name: the last segment of `data_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// A Chatwoot conversation's status or assignee changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationUpdate {
    /// The chat the conversation belongs to.
    pub chat_id: String,
    /// The Chatwoot conversation (display id).
    pub conversation_id: u64,
    /// `open`, `pending`, `resolved` or `snoozed`.
    pub status: String,
    /// The assigned agent, if any.
    pub assignee_id: Option<u64>,
    /// Chatwoot's `updated_at` (unix seconds, fractional): older updates never override newer ones.
    pub updated_at: f64,
}

/// What the chat queue holds: every event that must be handled in the chat's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatEvent {
    /// A customer message for the agent to answer.
    Customer(InboundMessage),
    /// A human agent's reply from Chatwoot.
    HumanReply(HumanReply),
    /// A conversation status or assignee change from Chatwoot (the handoff gate).
    Conversation(ConversationUpdate),
}

/// One entry of a chat's inbox: an event and when the service accepted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unix milliseconds at acceptance; the debounce window counts from the newest one.
    pub accepted_ms: i64,
    /// The event itself.
    pub event: ChatEvent,
    /// Set when an operator replayed it from the dead letters: the customer's message is already in
    /// the history and in Chatwoot, so only the answer is missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

impl Envelope {
    /// A fresh envelope accepted now.
    pub fn new(event: ChatEvent) -> Self {
        Self {
            accepted_ms: now_ms(),
            event,
            replayed: false,
        }
    }

    /// The chat this envelope belongs to.
    pub fn chat_id(&self) -> &str {
        match &self.event {
            ChatEvent::Customer(m) => &m.chat_id,
            ChatEvent::HumanReply(h) => &h.chat_id,
            ChatEvent::Conversation(c) => &c.chat_id,
        }
    }

    /// The customer message, when this is one.
    pub fn customer(&self) -> Option<&InboundMessage> {
        match &self.event {
            ChatEvent::Customer(m) => Some(m),
            _ => None,
        }
    }
}

/// Who said a history entry. Stored as one letter (`c`, `a`, `h`, `t`); the long names are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The customer on WhatsApp.
    #[serde(rename = "c", alias = "customer")]
    Customer,
    /// The AI agent (this service).
    #[serde(rename = "a", alias = "agent")]
    Agent,
    /// A human agent replying from Chatwoot.
    #[serde(rename = "h", alias = "human")]
    Human,
    /// A tool call the agent made and its compact result (never sent or mirrored as a message).
    #[serde(rename = "t", alias = "tool")]
    Tool,
}

/// One message of a chat's history, oldest first in the store. Stored as compact JSON
/// (`{"i","r","t","a"}`: a chat keeps up to `HISTORY_WINDOW` of them in Redis); the long field names
/// (`id`, `role`, `text`, `at`) are read too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Stable id: the gateway message id for customer messages, `r-…` for the agent's replies,
    /// `cw-<id>` for Chatwoot messages the service did not create. Fills and replays never
    /// duplicate an id.
    #[serde(rename = "i", alias = "id")]
    pub id: String,
    /// Who said it.
    #[serde(rename = "r", alias = "role")]
    pub role: Role,
    /// What was said.
    #[serde(rename = "t", alias = "text")]
    pub text: String,
    /// Unix milliseconds.
    #[serde(rename = "a", alias = "at")]
    pub at: i64,
}

/// `[location] 52.09,5.12 Showroom Utrecht`: the coordinates (when known) and the place's name or
/// address, for a shared location.
pub fn location_text(coordinates: Option<(String, String)>, label: &[&str]) -> String {
    let mut text = "[location]".to_owned();
    if let Some((lat, lon)) = coordinates {
        text.push_str(&format!(" {lat},{lon}"));
    }
    let label: Vec<&str> = label
        .iter()
        .flat_map(|l| l.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if !label.is_empty() {
        text.push(' ');
        text.push_str(&label.join(", "));
    }
    text
}

/// The current time in unix milliseconds.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
