//! What Chatwoot asks of a chat, handled in the chat's order: a human agent's reply (text and files)
//! to send to WhatsApp, and a conversation's status or assignee (the handoff gate).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::Instrument;

use super::media::HumanSent;
use super::{ATTEMPTS, BACKOFF, Record, Worker, channel_of};
use crate::channel::{Channel, ConversationLink, Note};
use crate::domain::{ChatEvent, ConversationUpdate, Envelope, HistoryEntry, HumanReply, Role};
use crate::mirror::MirrorJob;
use crate::outbound::OutboundError;
use crate::queue::Lease;
use crate::retry::with_retries;
use crate::store::{Marker, StoreError};

/// How long "this human reply was delivered" is remembered (Chatwoot's Retry may come later).
const MARKER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Learn the service's own Chatwoot user id (`GET /api/v1/profile`) in the background, retrying
/// while Chatwoot is unreachable, so no turn ever waits for it.
pub fn learn_bot_user(chatwoot: crate::chatwoot::ChatwootClient, cell: Arc<OnceLock<u64>>) {
    tokio::spawn(async move {
        loop {
            match chatwoot.profile_id().await {
                Ok(id) => {
                    let _ = cell.set(id);
                    tracing::info!(user_id = id, "Chatwoot user of the service known");
                    return;
                }
                Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_secs(30)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the Chatwoot profile; assignments to the token's user count as human");
                    return;
                }
            }
        }
    });
}

/// A human reply that reached the customer: the channel told, the reply remembered as sent, a note
/// naming the files left out; `at` is when it went (the worker's clock).
async fn human_reply_sent(
    chat_id: &str,
    channel: &Arc<dyn Channel>,
    reply: &HumanReply,
    sent: HumanSent,
    at: i64,
) -> Record {
    let note = Note::HumanReply { reply_id: sent.id };
    if let Err(e) = channel.note(chat_id, &note).await {
        tracing::debug!(error = %e, "human reply note not shown");
    }
    let mut record = Record {
        entries: vec![human_entry(reply, sent.text, at)],
        ..Record::default()
    };
    if !sent.missing.is_empty() {
        tracing::warn!(
            missing = sent.missing.len(),
            "human reply sent without some of its files"
        );
        let note = format!("wa-agent: sent to WhatsApp without {}", sent.missing.join("; "));
        record.mirror(&MirrorJob::note(&format!("files-cw-{}", reply.message_id), &note));
    }
    metrics::counter!("wa_agent_human_replies_total", "outcome" => "sent").increment(1);
    tracing::info!("human reply sent to WhatsApp");
    record
}

/// The history entry of a human agent's reply, remembered as `text` (what the customer got).
fn human_entry(reply: &HumanReply, text: String, at: i64) -> HistoryEntry {
    HistoryEntry {
        id: format!("cw-{}", reply.message_id),
        role: Role::Human,
        text,
        at,
    }
}

impl Worker {
    /// A human agent's reply: send it to the customer, remember it, or report the failure to Chatwoot.
    pub(super) async fn human_reply(
        &self,
        chat_id: &str,
        reply: &HumanReply,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        let span = tracing::info_span!("human_reply", chat_id, message_id = reply.message_id);
        self.deliver_human_reply(chat_id, reply, lease)
            .instrument(span)
            .await
    }

    async fn deliver_human_reply(
        &self,
        chat_id: &str,
        reply: &HumanReply,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        let delivered = Marker::HumanReplyDelivered(reply.message_id);
        if self.store.has_marker(delivered).await? {
            tracing::info!("human reply already delivered; not sent again");
            return self.commit(chat_id, 1, &Record::default()).await;
        }
        let state = self.states.get(chat_id).await.unwrap_or_default();
        let channel = self.channels.get(channel_of(&state, chat_id));
        if channel.conversation(chat_id) != ConversationLink::Mirror {
            // The chat is the Chatwoot conversation: Chatwoot already delivered the reply.
            let record = Record {
                entries: vec![human_entry(reply, reply.text.clone(), self.clock.now_ms())],
                unmirrored: true,
                ..Record::default()
            };
            tracing::info!("human reply in an Agent Bot conversation remembered");
            return self.commit(chat_id, 1, &record).await;
        }
        // Only the lease holder sends: a worker whose chat was taken over stops here.
        if !lease.confirm().await? {
            return Ok(());
        }
        let record = match self.send_human_reply(chat_id, channel, reply).await {
            Ok(sent) => {
                self.store.set_marker(delivered, MARKER_TTL).await?;
                human_reply_sent(chat_id, channel, reply, sent, self.clock.now_ms()).await
            }
            Err(e) => self.human_reply_failed(chat_id, reply, &e).await,
        };
        self.commit(chat_id, 1, &record).await
    }

    /// A human reply that reached nobody: reported on the Chatwoot message, and dead-lettered.
    async fn human_reply_failed(&self, chat_id: &str, reply: &HumanReply, e: &OutboundError) -> Record {
        metrics::counter!("wa_agent_human_replies_total", "outcome" => "failed").increment(1);
        tracing::error!(error = %e, "a human reply could not be sent");
        if let Some(cw) = self.mirror.chatwoot() {
            let msg = format!("WhatsApp delivery failed: {e}");
            let report = with_retries("chatwoot", ATTEMPTS, BACKOFF, || {
                cw.update_message_status(reply.conversation_id, reply.message_id, "failed", Some(&msg))
            })
            .await;
            if let Err(e) = report {
                tracing::warn!(error = %e, "could not report the failure to Chatwoot");
            }
        }
        let env = Envelope::new(ChatEvent::HumanReply(reply.clone()));
        Record {
            dead_letter: Some(self.dead_letter(chat_id, format!("sending a human reply: {e}"), &[env])),
            ..Record::default()
        }
    }

    /// A status or assignee change: update the gate unless an newer change is already known.
    pub(super) async fn conversation_update(
        &self,
        chat_id: &str,
        update: &ConversationUpdate,
    ) -> Result<(), StoreError> {
        let mut state = self.states.get(chat_id).await?;
        let same_conversation = state.conversation_id.is_none_or(|c| c == update.conversation_id);
        if same_conversation && update.updated_at >= state.status_at {
            state.conversation_id = Some(update.conversation_id);
            state.status = Some(update.status.clone());
            state.assignee_id = update.assignee_id;
            state.status_at = update.updated_at;
            self.states.save(chat_id, &state).await?;
            tracing::info!(
                chat_id,
                conversation_id = update.conversation_id,
                status = %update.status,
                assigned = update.assignee_id.is_some(),
                "handoff gate updated"
            );
        }
        self.commit(chat_id, 1, &Record::default()).await
    }
}
