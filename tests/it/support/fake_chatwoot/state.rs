//! The fake's state: the rows it keeps (contacts, contact_inboxes, conversations, messages), the
//! webhook it posts to and the deliveries it queued, behind one mutex.

use super::*;

#[derive(Clone, Copy)]
pub(super) enum Sender {
    Nobody,
    Contact(u64),
    User(u64),
    AgentBot(u64),
}

pub(super) struct ContactRow {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) email: Option<String>,
    pub(super) phone_number: Option<String>,
    pub(super) identifier: Option<String>,
    pub(super) custom_attributes: Value,
    pub(super) additional_attributes: Value,
    pub(super) created_at: i64,
    pub(super) last_activity_at: Option<i64>,
}

pub(super) struct ContactInboxRow {
    pub(super) id: u64,
    pub(super) contact_id: u64,
    pub(super) inbox_id: u64,
    pub(super) source_id: String,
    pub(super) pubsub_token: String,
    pub(super) created_at: f64,
}

pub(super) struct ConversationRow {
    pub(super) id: u64,
    pub(super) uuid: String,
    pub(super) contact_id: u64,
    pub(super) inbox_id: u64,
    pub(super) source_id: String,
    pub(super) status: String,
    pub(super) assignee_id: Option<u64>,
    pub(super) custom_attributes: Value,
    pub(super) additional_attributes: Value,
    pub(super) created_at: i64,
    pub(super) updated_at: f64,
    pub(super) last_activity_at: i64,
    pub(super) first_reply_created_at: i64,
    pub(super) waiting_since: i64,
    pub(super) labels: Vec<String>,
}

pub(super) struct MessageRow {
    pub(super) id: u64,
    pub(super) conversation_id: u64,
    pub(super) content: Option<String>,
    pub(super) message_type: i64,
    pub(super) private: bool,
    pub(super) source_id: Option<String>,
    pub(super) sender: Sender,
    /// `sent`, `delivered`, `read` or `failed`.
    pub(super) status: String,
    pub(super) content_attributes: Value,
    /// Unix seconds (the REST `created_at`).
    pub(super) created_at: i64,
    /// Unix seconds with a fraction (the ISO `created_at` of webhooks).
    pub(super) created_exact: f64,
    pub(super) updated_at: f64,
    /// When it was written; `None` for seeded messages, which are always visible.
    pub(super) written: Option<Instant>,
}

/// A message before it gets an id and a time.
pub(super) struct Draft {
    pub(super) content: Option<String>,
    pub(super) message_type: i64,
    pub(super) private: bool,
    pub(super) source_id: Option<String>,
    pub(super) sender: Sender,
    pub(super) content_attributes: Value,
}

impl Draft {
    pub(super) fn activity(text: String) -> Draft {
        Draft {
            content: Some(text),
            message_type: 2,
            private: false,
            source_id: None,
            sender: Sender::Nobody,
            content_attributes: json!({}),
        }
    }

    /// An outgoing message a user typed in the dashboard (no `source_id`).
    pub(super) fn typed_by(user_id: u64, text: &str, private: bool) -> Draft {
        Draft {
            content: Some(text.to_owned()),
            message_type: 1,
            private,
            source_id: None,
            sender: Sender::User(user_id),
            content_attributes: json!({}),
        }
    }
}

/// The conversation columns whose changes Chatwoot announces as `conversation_updated`.
#[derive(Clone, PartialEq)]
pub(super) struct Announced {
    pub(super) status: String,
    pub(super) assignee_id: Option<u64>,
    pub(super) first_reply_created_at: i64,
    pub(super) waiting_since: i64,
}

/// The account webhook.
pub(super) struct Webhook {
    pub(super) url: String,
    pub(super) secret: Option<String>,
}

/// One webhook POST waiting for the delivery task.
pub(super) struct Delivery {
    pub(super) event: String,
    pub(super) url: String,
    pub(super) secret: Option<String>,
    pub(super) body: String,
}

pub(super) struct Db {
    pub(super) account_id: u64,
    pub(super) account_name: String,
    pub(super) inbox_id: u64,
    pub(super) inbox_name: String,
    pub(super) token: String,
    /// An Agent Bot's access token (`set_agent_bot_token`); it may call only the bot endpoints.
    pub(super) bot_token: Option<String>,
    /// The token user's role in the account: `administrator` or `agent`.
    pub(super) profile_role: String,
    pub(super) down: bool,
    pub(super) list_lag: Duration,
    pub(super) next_contact_id: u64,
    pub(super) next_contact_inbox_id: u64,
    pub(super) next_conversation_id: u64,
    pub(super) next_message_id: u64,
    pub(super) contacts: BTreeMap<u64, ContactRow>,
    pub(super) contact_inboxes: Vec<ContactInboxRow>,
    pub(super) conversations: BTreeMap<u64, ConversationRow>,
    pub(super) messages: Vec<MessageRow>,
    pub(super) requests: Vec<RecordedRequest>,
    pub(super) webhook: Option<Webhook>,
    /// Adds a top-level `status` to message webhooks (chatwoot/chatwoot#15908, not in v4.15.1).
    pub(super) status_in_message_webhooks: bool,
    pub(super) outbox: mpsc::UnboundedSender<Delivery>,
    /// Event name and HTTP status (0 when no answer came) of every delivery, in order.
    pub(super) deliveries: Vec<(String, u16)>,
    /// Webhooks queued so far (finished ones are in `deliveries`).
    pub(super) queued: std::sync::atomic::AtomicUsize,
    /// The inbox as `GET inboxes/{id}` shows it (working hours off until `set_inbox`).
    pub(super) inbox: Value,
    /// Files posted with a message (multipart `attachments[]`), by message id.
    pub(super) files: HashMap<u64, Vec<PostedFile>>,
}
