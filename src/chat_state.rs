//! What the service remembers about a chat besides its history: its [`ChatState`] (channel,
//! Chatwoot mapping, the conversation's status and assignee as last seen, the profile the agent
//! recorded), and [`ChatStates`], the small handle that reads and writes it in the store.
//!
//! Invariants: a state reads what older versions wrote (unknown fields are ignored, missing ones
//! take their defaults, `channel` is stored as `gateway` and read under either name); a state that
//! cannot be parsed reads as the default; each write keeps it [`CHAT_STATE_TTL`] longer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::ChannelKind;
use crate::store::{Store, StoreError};

/// How long a chat's state (gateway, Chatwoot mapping) is kept after its last turn.
pub const CHAT_STATE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profile: BTreeMap<String, String>,
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

/// Chat states in the store.
#[derive(Clone)]
pub struct ChatStates {
    store: Arc<dyn Store>,
}

impl ChatStates {
    /// The chat states kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The chat's state (default when unknown or unreadable).
    pub async fn get(&self, chat_id: &str) -> Result<ChatState, StoreError> {
        let raw = self.store.chat_state(chat_id).await?;
        Ok(raw
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or_default())
    }

    /// Save the chat's state.
    pub async fn save(&self, chat_id: &str, state: &ChatState) -> Result<(), StoreError> {
        let raw = serde_json::to_string(state).map_err(|e| StoreError(e.to_string()))?;
        self.store.save_chat_state(chat_id, &raw, CHAT_STATE_TTL).await
    }

    /// Record the channel and name a customer message came with (only when they changed).
    pub async fn note_customer(
        &self,
        chat_id: &str,
        channel: ChannelKind,
        name: Option<&str>,
    ) -> Result<ChatState, StoreError> {
        let mut state = self.get(chat_id).await?;
        let name = name.map(str::to_owned).or_else(|| state.name.clone());
        if state.channel != Some(channel) || state.name != name {
            state.channel = Some(channel);
            state.name = name;
            self.save(chat_id, &state).await?;
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_of_older_versions_read_and_the_channel_is_stored_as_gateway() {
        let old: ChatState =
            serde_json::from_str(r#"{"gateway":"meta","conversation_id":7,"extra":1}"#).unwrap();
        assert_eq!(old.channel, Some(ChannelKind::Meta));
        assert_eq!(old.conversation_id, Some(7));
        let aliased: ChatState = serde_json::from_str(r#"{"channel":"meta"}"#).unwrap();
        assert_eq!(aliased.channel, Some(ChannelKind::Meta));
        let written = serde_json::to_string(&old).unwrap();
        assert!(written.contains(r#""gateway":"meta""#), "{written}");
        assert_eq!(serde_json::to_string(&ChatState::default()).unwrap(), "{}");
    }

    #[test]
    fn the_agent_answers_while_the_conversation_is_the_bots() {
        let with = |status: Option<&str>, assignee_id| ChatState {
            status: status.map(str::to_owned),
            assignee_id,
            ..ChatState::default()
        };
        assert!(with(None, None).agent_may_answer(None));
        assert!(with(Some("pending"), Some(7)).agent_may_answer(Some(7)));
        assert!(with(Some("resolved"), None).agent_may_answer(None));
        assert!(!with(Some("open"), None).agent_may_answer(None));
        assert!(!with(Some("pending"), Some(3)).agent_may_answer(Some(7)));
    }
}
