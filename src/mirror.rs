//! The Chatwoot mirror: which Chatwoot contact and conversation a chat maps to, and the per-chat
//! outbox of messages waiting to be created there.
//!
//! Every message the service creates carries `source_id = "wa-agent:<history entry id>"`: Chatwoot
//! echoes it back on webhooks (that is how echoes are recognised) and a read-through maps it back to
//! the same history entry. Jobs leave the outbox only once Chatwoot took them, in order; a chat whose
//! Chatwoot is down keeps its jobs and is retried later, while its customer is still answered.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chatwoot::{ChatwootClient, ChatwootError, MessageType, NewMessage};
use crate::domain::GatewayKind;
use crate::store::{Store, StoreError};

/// Prefix of every `source_id` the service writes to Chatwoot.
pub const SOURCE_ID_PREFIX: &str = "wa-agent:";

/// How long a chat's state (gateway, Chatwoot mapping) is kept after its last turn.
const CHAT_STATE_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// What the service remembers about a chat besides its history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatState {
    /// The gateway the chat talks through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayKind>,
    /// The customer's profile name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Chatwoot contact id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<u64>,
    /// The Chatwoot conversation (display) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<u64>,
}

/// One message waiting to be created in Chatwoot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorJob {
    /// The history entry id; the Chatwoot `source_id` is `wa-agent:<id>`.
    pub id: String,
    /// `true` for the customer's messages, `false` for the business's.
    pub incoming: bool,
    /// The text.
    pub text: String,
}

impl MirrorJob {
    /// The job as stored in the outbox.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why mirroring stopped.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Chatwoot refused or was unreachable.
    #[error(transparent)]
    Chatwoot(#[from] ChatwootError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Chat state and Chatwoot mirroring.
#[derive(Clone)]
pub struct Mirror {
    store: Arc<dyn Store>,
    chatwoot: Option<ChatwootClient>,
}

fn state_key(chat_id: &str) -> String {
    format!("chat:{chat_id}")
}

impl Mirror {
    /// A mirror over `store`; `chatwoot` `None` keeps chat state only.
    pub fn new(store: Arc<dyn Store>, chatwoot: Option<ChatwootClient>) -> Self {
        Self { store, chatwoot }
    }

    /// Whether Chatwoot is configured.
    pub fn enabled(&self) -> bool {
        self.chatwoot.is_some()
    }

    /// The Chatwoot client, when configured.
    pub fn chatwoot(&self) -> Option<&ChatwootClient> {
        self.chatwoot.as_ref()
    }

    /// The chat's state (default when unknown or unreadable).
    pub async fn state(&self, chat_id: &str) -> Result<ChatState, StoreError> {
        let raw = self.store.get_value(&state_key(chat_id)).await?;
        Ok(raw
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or_default())
    }

    /// Save the chat's state.
    pub async fn save_state(&self, chat_id: &str, state: &ChatState) -> Result<(), StoreError> {
        let raw = serde_json::to_string(state).map_err(|e| StoreError(e.to_string()))?;
        self.store
            .set_value(&state_key(chat_id), &raw, Some(CHAT_STATE_TTL))
            .await
    }

    /// Record the gateway and name a customer message came with (only when they changed).
    pub async fn note_customer(
        &self,
        chat_id: &str,
        gateway: GatewayKind,
        name: Option<&str>,
    ) -> Result<ChatState, StoreError> {
        let mut state = self.state(chat_id).await?;
        let name = name.map(str::to_owned).or_else(|| state.name.clone());
        if state.gateway != Some(gateway) || state.name != name {
            state.gateway = Some(gateway);
            state.name = name;
            self.save_state(chat_id, &state).await?;
        }
        Ok(state)
    }

    /// The chat's Chatwoot conversation: the cached mapping, else found (and, with `create`, created).
    /// `known` is the state already read, to spare a store read. `Ok(None)`: Chatwoot is off, or
    /// nothing exists yet and `create` is false.
    pub async fn conversation(
        &self,
        chat_id: &str,
        known: Option<ChatState>,
        create: bool,
    ) -> Result<Option<u64>, MirrorError> {
        let Some(cw) = &self.chatwoot else { return Ok(None) };
        let mut state = match known {
            Some(s) => s,
            None => self.state(chat_id).await.unwrap_or_default(),
        };
        if let Some(id) = state.conversation_id {
            return Ok(Some(id));
        }
        let contact = match cw.find_contact(chat_id).await? {
            Some(c) => c,
            None if create => cw.create_contact(chat_id, state.name.as_deref()).await?,
            None => return Ok(None),
        };
        let conversation = match cw.find_conversation(contact.id).await? {
            Some(c) => c,
            None if create => {
                let gateway = state.gateway.unwrap_or(GatewayKind::Waha).as_str();
                cw.create_conversation(contact.id, chat_id, gateway).await?
            }
            None => return Ok(None),
        };
        state.contact_id = Some(contact.id);
        state.conversation_id = Some(conversation.id);
        if let Err(e) = self.save_state(chat_id, &state).await {
            tracing::warn!(chat_id, error = %e, "could not cache the Chatwoot mapping");
        }
        tracing::info!(
            chat_id,
            conversation_id = conversation.id,
            "chat mapped to a Chatwoot conversation"
        );
        Ok(Some(conversation.id))
    }

    /// Forget the cached conversation (it was deleted or can no longer take messages).
    async fn forget_conversation(&self, chat_id: &str) -> Result<(), StoreError> {
        let mut state = self.state(chat_id).await?;
        state.conversation_id = None;
        self.save_state(chat_id, &state).await
    }

    /// Create the chat's waiting outbox jobs in Chatwoot, in order. Returns how many were mirrored;
    /// stops at the first failure and leaves that job and the rest for a later attempt.
    pub async fn drain(&self, chat_id: &str) -> Result<usize, MirrorError> {
        let Some(cw) = &self.chatwoot else { return Ok(0) };
        let mut done = 0;
        let mut forgot = false;
        loop {
            let batch = self.store.outbox_peek(chat_id, 16).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            for raw in batch {
                let Ok(job) = serde_json::from_str::<MirrorJob>(&raw) else {
                    tracing::error!(chat_id, "dropping an unreadable mirror job");
                    self.store.outbox_pop(chat_id, &raw).await?;
                    continue;
                };
                let Some(conversation) = self.conversation(chat_id, None, true).await? else {
                    return Ok(done);
                };
                let msg = NewMessage {
                    content: job.text.clone(),
                    message_type: if job.incoming {
                        MessageType::Incoming
                    } else {
                        MessageType::Outgoing
                    },
                    private: false,
                    source_id: Some(format!("{SOURCE_ID_PREFIX}{}", job.id)),
                };
                match cw.create_message(conversation, &msg).await {
                    Ok(_) => {
                        self.store.outbox_pop(chat_id, &raw).await?;
                        done += 1;
                        metrics::counter!("wa_agent_mirror_messages_total", "outcome" => "created")
                            .increment(1);
                    }
                    Err(ChatwootError::Fatal {
                        status: Some(404), ..
                    }) if !forgot => {
                        // The conversation was deleted: map the chat afresh and try again once.
                        forgot = true;
                        self.forget_conversation(chat_id).await?;
                        break;
                    }
                    Err(e) if e.is_retryable() => return Err(e.into()),
                    Err(e) => {
                        tracing::error!(chat_id, job_id = %job.id, error = %e, "Chatwoot refused a mirror job; dropped");
                        metrics::counter!("wa_agent_mirror_messages_total", "outcome" => "refused")
                            .increment(1);
                        self.store.outbox_pop(chat_id, &raw).await?;
                    }
                }
            }
        }
    }
}
