//! The Chatwoot client's own types: what a call takes and answers (a contact, a conversation, a
//! message to create, a message as read). Plain data, no I/O; `wire` converts the API's shapes into
//! them, and the client (`chatwoot.rs`) re-exports them.

use serde::Serialize;

/// A Chatwoot contact (the fields the service uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Contact id (the `contacts/{id}` path segment).
    pub id: u64,
    /// Display name.
    pub name: Option<String>,
    /// The contact's unique identifier; for contacts the service creates, the chat id.
    pub identifier: Option<String>,
    /// E.164 phone number with `+`.
    pub phone_number: Option<String>,
}

/// A Chatwoot conversation (the fields the service uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The per-account display id, which API paths take.
    pub id: u64,
    /// The inbox it belongs to.
    pub inbox_id: u64,
    /// `open`, `pending`, `resolved` or `snoozed`.
    pub status: String,
    /// `meta.assignee.id`; `None` when unassigned.
    pub assignee_id: Option<u64>,
}

/// Direction of a message the service creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// A customer's message, mirrored into the API inbox (the contact becomes the sender).
    Incoming,
    /// A reply to the customer, or a private note when `private` is set.
    Outgoing,
}

/// A message to create in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The text.
    pub content: String,
    /// Incoming (customer) or outgoing (agent).
    pub message_type: MessageType,
    /// A private note, visible to agents only.
    pub private: bool,
    /// Stored verbatim and echoed in webhooks; the service uses `wa-agent:<id>` to recognise echoes.
    pub source_id: Option<String>,
}

/// A message as the REST API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Global message id (increasing, with gaps).
    pub id: u64,
    /// The text; `None` for attachment-only messages.
    pub content: Option<String>,
    /// 0 incoming, 1 outgoing, 2 activity, 3 template (-1 if unrecognised).
    pub message_type: i64,
    /// A private note.
    pub private: bool,
    /// The `source_id` given at creation, verbatim.
    pub source_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// `sender.type`: `contact`, `user` or `agent_bot`; `None` for activity messages.
    pub sender_type: Option<String>,
}
