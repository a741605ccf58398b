//! What the mirror stores per chat: the [`MirrorJob`]s of its outbox, as JSON.
//!
//! Invariants: a job reads what older versions wrote (unknown fields are ignored, missing ones take
//! their defaults); it is stored with its `op` tag and never holds a file's bytes.

use serde::{Deserialize, Serialize};

use crate::domain::MediaRef;

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
