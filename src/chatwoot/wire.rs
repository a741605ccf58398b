//! What goes over the wire to and from Chatwoot's REST API: the request bodies the client sends, the
//! lenient shapes its answers are read into (unknown fields ignored, optional ones may be missing, ids and
//! times accepted as numbers or numeric strings) and their conversion into the client's types, and how a
//! search hit or a conversation list is matched to a chat.
//!
//! Invariants: nothing here does I/O; a request body names the chat id as both `identifier` and
//! `source_id`, and a phone number only for a chat whose id is an E.164 phone number.

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::types::{Contact, Conversation, Message, NewMessage};

/// The digits of a chat whose id is a phone number (`…@c.us`, `…@s.whatsapp.net`) and fits E.164.
pub(super) fn phone_digits(chat_id: &str) -> Option<&str> {
    let (user, server) = chat_id.split_once('@')?;
    let phone_chat = matches!(server, "c.us" | "s.whatsapp.net");
    let e164 =
        (2..=15).contains(&user.len()) && user.bytes().all(|b| b.is_ascii_digit()) && !user.starts_with('0');
    (phone_chat && e164).then_some(user)
}

/// `POST contacts` body: identifier and source_id are the chat id; the phone only for phone chats.
pub(super) fn contact_request(inbox_id: u64, chat_id: &str, name: Option<&str>) -> Value {
    let phone = phone_digits(chat_id).map(|d| format!("+{d}"));
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .or_else(|| phone.clone())
        .unwrap_or_else(|| chat_id.to_string());
    let mut body = json!({
        "inbox_id": inbox_id,
        "name": name,
        "identifier": chat_id,
        "source_id": chat_id,
        "custom_attributes": {},
    });
    if let Some(phone) = phone {
        body["phone_number"] = json!(phone);
    }
    body
}

/// `POST conversations` body.
pub(super) fn conversation_request(inbox_id: u64, contact_id: u64, chat_id: &str, gateway: &str) -> Value {
    json!({
        "inbox_id": inbox_id,
        "contact_id": contact_id,
        "source_id": chat_id,
        "status": "pending",
        "custom_attributes": { "wa_gateway": gateway, "wa_chat_id": chat_id },
        "additional_attributes": {},
    })
}

/// `POST conversations/{id}/messages` body.
pub(super) fn message_request(msg: &NewMessage) -> Value {
    json!({
        "content": msg.content,
        "message_type": msg.message_type,
        "private": msg.private,
        "content_type": "text",
        "source_id": msg.source_id,
        "content_attributes": {},
    })
}

/// How well a search hit matches the chat: 0 identifier, 1 contact_inbox in our inbox, 2 phone.
pub(super) fn contact_rank(
    contact: &RawContact,
    chat_id: &str,
    inbox_id: u64,
    phone: Option<&str>,
) -> Option<u8> {
    let in_our_inbox = |ci: &RawContactInbox| {
        ci.source_id.as_deref() == Some(chat_id) && ci.inbox.as_ref().and_then(|i| i.id) == Some(inbox_id)
    };
    if contact.identifier.as_deref() == Some(chat_id) {
        Some(0)
    } else if contact.contact_inboxes.iter().flatten().any(in_our_inbox) {
        Some(1)
    } else if phone.is_some() && contact.phone_number.as_deref() == phone {
        Some(2)
    } else {
        None
    }
}

/// The most recently active unresolved conversation in `inbox_id` (ties: the newest id).
pub(super) fn pick_conversation(list: Vec<RawConversation>, inbox_id: u64) -> Option<Conversation> {
    list.into_iter()
        .filter(|c| c.inbox_id == Some(inbox_id) && c.status.as_deref() != Some("resolved"))
        .max_by_key(|c| (c.last_activity_at, c.id))
        .map(Into::into)
}

#[derive(Deserialize)]
pub(super) struct SearchResponse {
    pub(super) meta: Option<SearchMeta>,
    pub(super) payload: Option<Vec<RawContact>>,
}

#[derive(Deserialize)]
pub(super) struct SearchMeta {
    pub(super) has_more: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct CreateContactResponse {
    pub(super) payload: CreateContactPayload,
}

#[derive(Deserialize)]
pub(super) struct CreateContactPayload {
    pub(super) contact: RawContact,
}

#[derive(Deserialize)]
pub(super) struct RawContact {
    pub(super) id: u64,
    pub(super) name: Option<String>,
    pub(super) identifier: Option<String>,
    pub(super) phone_number: Option<String>,
    pub(super) contact_inboxes: Option<Vec<RawContactInbox>>,
}

#[derive(Deserialize)]
pub(super) struct RawContactInbox {
    pub(super) source_id: Option<String>,
    pub(super) inbox: Option<RawId>,
}

#[derive(Deserialize)]
pub(super) struct RawId {
    pub(super) id: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct ConversationList {
    pub(super) payload: Option<Vec<RawConversation>>,
}

#[derive(Deserialize)]
pub(super) struct RawConversation {
    pub(super) id: u64,
    pub(super) inbox_id: Option<u64>,
    pub(super) status: Option<String>,
    pub(super) meta: Option<RawConversationMeta>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(super) last_activity_at: i64,
}

#[derive(Deserialize)]
pub(super) struct RawConversationMeta {
    pub(super) assignee: Option<RawId>,
}

#[derive(Deserialize)]
pub(super) struct MessageList {
    pub(super) payload: Option<Vec<RawMessage>>,
}

#[derive(Deserialize)]
pub(super) struct RawMessage {
    pub(super) id: u64,
    pub(super) content: Option<String>,
    #[serde(default = "unknown_message_type", deserialize_with = "lenient_message_type")]
    pub(super) message_type: i64,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) private: bool,
    pub(super) source_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub(super) created_at: i64,
    pub(super) sender: Option<RawSender>,
    /// The model name (`Contact`, `User`, `AgentBot`), present in some nested shapes.
    pub(super) sender_type: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawSender {
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
}

impl From<RawContact> for Contact {
    fn from(raw: RawContact) -> Self {
        Contact {
            id: raw.id,
            name: raw.name,
            identifier: raw.identifier,
            phone_number: raw.phone_number,
        }
    }
}

impl From<RawConversation> for Conversation {
    fn from(raw: RawConversation) -> Self {
        Conversation {
            id: raw.id,
            inbox_id: raw.inbox_id.unwrap_or_default(),
            status: raw.status.unwrap_or_default(),
            assignee_id: raw.meta.and_then(|m| m.assignee).and_then(|a| a.id),
        }
    }
}

impl From<RawMessage> for Message {
    fn from(raw: RawMessage) -> Self {
        let model_type = raw.sender_type.map(|t| match t.as_str() {
            "Contact" => "contact".to_string(),
            "User" => "user".to_string(),
            "AgentBot" => "agent_bot".to_string(),
            _ => t.to_lowercase(),
        });
        Message {
            id: raw.id,
            content: raw.content,
            message_type: raw.message_type,
            private: raw.private,
            source_id: raw.source_id,
            created_at: raw.created_at,
            sender_type: raw.sender.and_then(|s| s.kind).or(model_type),
        }
    }
}

/// An integer that may arrive as a float, a numeric string or null (null and other strings: 0).
pub(super) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or_default(),
        Value::String(s) => s.trim().parse::<f64>().map(|f| f as i64).unwrap_or_default(),
        _ => 0,
    })
}

/// An unknown `message_type`: never mistaken for a customer's message.
pub(super) fn unknown_message_type() -> i64 {
    -1
}

/// `message_type` as the REST integer, or the webhook's name; anything else is -1.
pub(super) fn lenient_message_type<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => match s.as_str() {
            "incoming" => 0,
            "outgoing" => 1,
            "activity" => 2,
            "template" => 3,
            _ => -1,
        },
        _ => -1,
    })
}

/// A boolean that may arrive as null.
pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(Value::deserialize(d)?, Value::Bool(true)))
}
