//! What the mirror stores per chat: its [`ChatState`] (channel, Chatwoot mapping, the conversation's
//! status and assignee as last seen, the profile the agent recorded) and the [`MirrorJob`]s of its
//! outbox, as JSON.
//!
//! Invariants: both read what older versions wrote (unknown fields are ignored, missing ones take their
//! defaults, `ChatState.channel` is stored as `gateway` and read under either name); a job is stored
//! with its `op` tag and never holds a file's bytes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{ChannelKind, MediaRef};

/// How long a chat's state (gateway, Chatwoot mapping) is kept after its last turn.
pub(super) const CHAT_STATE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// What the service remembers about a chat besides its history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatState {
    /// The channel the chat talks through, recorded from its first accepted message. Stored as
    /// `gateway` (its name before the channel layer), so either version reads the other's states.
    #[serde(
        default,
        rename = "gateway",
        alias = "channel",
        skip_serializing_if = "Option::is_none"
    )]
    pub channel: Option<ChannelKind>,
    /// The customer's profile name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Chatwoot contact id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<u64>,
    /// The Chatwoot conversation (display) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<u64>,
    /// The conversation's status as last seen (`pending`, `open`, `resolved`, `snoozed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The conversation's assignee as last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<u64>,
    /// Chatwoot's `updated_at` of the last status seen, so an older event never overrides a newer one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub status_at: f64,
    /// What the agent recorded with `update_contact` (name, email and `CONTACT_ATTRIBUTES` keys):
    /// every later prompt shows it as the customer's profile.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub profile: std::collections::BTreeMap<String, String>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl ChatState {
    /// Whether the agent may answer: the conversation is the bot's (`pending`, or `resolved` and now
    /// reopened by the customer, or not known yet) and no human is assigned (`bot_user`, the service's
    /// own Chatwoot user, does not count as a human).
    pub fn agent_may_answer(&self, bot_user: Option<u64>) -> bool {
        let bots = matches!(self.status.as_deref(), None | Some("pending") | Some("resolved"));
        let unassigned = self.assignee_id.is_none() || self.assignee_id == bot_user;
        bots && unassigned
    }
}

/// One change waiting to be made in Chatwoot, in the chat's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MirrorJob {
    /// Create a message.
    Message {
        /// The history entry id (or note id); the Chatwoot `source_id` is `wa-agent:<id>`.
        id: String,
        /// `true` for the customer's messages, `false` for the business's.
        incoming: bool,
        /// A private note for the agents.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        private: bool,
        /// The text.
        text: String,
        /// An earlier attempt may have reached Chatwoot (its answer was lost): look before creating.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        tried: bool,
        /// The customer's file, attached to the message; fetched from the gateway when the job runs
        /// unless the turn hands it over (see [`super::files`]). Never the bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<Box<MediaRef>>,
    },
    /// Set the conversation's status (the handoff: `open`).
    Status {
        /// The new status.
        status: String,
    },
    /// Update the contact: name and e-mail set, custom attributes merged into its own.
    Contact {
        /// The customer's name, when learnt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The customer's e-mail address, when learnt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        /// Custom attributes to merge (keys of `CONTACT_ATTRIBUTES`).
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        attributes: std::collections::BTreeMap<String, String>,
    },
    /// Add labels to the conversation, keeping the ones it has.
    Labels {
        /// The labels to add.
        labels: Vec<String>,
    },
}

impl MirrorJob {
    /// A public message.
    pub fn message(id: &str, incoming: bool, text: &str) -> Self {
        MirrorJob::Message {
            id: id.to_owned(),
            incoming,
            private: false,
            text: text.to_owned(),
            tried: false,
            media: None,
        }
    }

    /// A customer's message with its file (`None`: text only).
    pub fn customer(id: &str, text: &str, media: Option<&MediaRef>) -> Self {
        MirrorJob::Message {
            id: id.to_owned(),
            incoming: true,
            private: false,
            text: text.to_owned(),
            tried: false,
            media: media.cloned().map(Box::new),
        }
    }

    /// A private note for the agents.
    pub fn note(id: &str, text: &str) -> Self {
        MirrorJob::Message {
            id: id.to_owned(),
            incoming: false,
            private: true,
            text: text.to_owned(),
            tried: false,
            media: None,
        }
    }

    /// A status change.
    pub fn status(status: &str) -> Self {
        MirrorJob::Status {
            status: status.to_owned(),
        }
    }

    /// The job as stored in the outbox.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
