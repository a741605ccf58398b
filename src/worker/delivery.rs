//! Getting an answer to the customer: the gate checked once more, read marks and typing, the reply
//! split into parts, the handoff, and what is recorded of it.

use std::time::Instant;

use super::{ATTEMPTS, BACKOFF, DeadLetter, Outcome, Record, Worker};
use crate::agent::AgentReply;
use crate::domain::{Envelope, GatewayKind, HistoryEntry, Role, now_ms};
use crate::gateway::Note;
use crate::mirror::{ChatState, MirrorJob};
use crate::queue::Lease;
use crate::reply::split_reply;
use crate::retry::with_retries;
use crate::store::StoreError;

/// Stops the typing indicator when the turn's answer is settled, however the turn ends.
pub(super) struct TypingGuard<'a> {
    pub(super) worker: &'a Worker,
    pub(super) chat_id: &'a str,
    pub(super) gateway: GatewayKind,
}

impl Drop for TypingGuard<'_> {
    fn drop(&mut self) {
        self.worker.presence(self.chat_id, self.gateway, None);
    }
}

impl Worker {
    /// Send the agent's answer (or the handoff message) and record what the customer saw.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn deliver(
        &self,
        chat_id: &str,
        gateway: GatewayKind,
        turn_id: &str,
        reply: AgentReply,
        state: &mut ChatState,
        record: &mut Record,
        run: &[Envelope],
        lease: &Lease,
    ) -> Result<Outcome, StoreError> {
        let (text, outcome) = match &reply.handoff {
            Some(h) => {
                let reason = format!("the AI agent handed the chat over: {}", h.reason);
                self.hand_over(chat_id, state, record, turn_id, &reason);
                (self.handoff_message.trim().to_owned(), Outcome::Handoff)
            }
            None => (reply.text, Outcome::Replied),
        };
        if text.is_empty() {
            return Ok(outcome);
        }
        let parts = split_reply(&text, self.reply_max_chars);
        let gw = self.gateways.get(gateway);
        let sent_at = Instant::now();
        let mut sent = 0;
        let mut failure = None;
        for part in &parts {
            // Only the lease holder sends: a worker whose chat was taken over stops here.
            if !lease.confirm().await? {
                return Ok(Outcome::LeaseLost);
            }
            match with_retries("gateway", ATTEMPTS, BACKOFF, || gw.send_text(chat_id, part)).await {
                Ok(_) => sent += 1,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        metrics::histogram!("wa_agent_gateway_send_duration_seconds", "gateway" => gateway.as_str())
            .record(sent_at.elapsed().as_secs_f64());
        // What reached the customer is remembered and mirrored as they saw it.
        self.record_reply(record, turn_id, &parts[..sent]);
        let Some(e) = failure else { return Ok(outcome) };
        let reason = if parts.len() > 1 {
            format!(
                "sending the reply failed after {sent} of {} parts: {e}",
                parts.len()
            )
        } else {
            format!("sending the reply failed: {e}")
        };
        record
            .jobs
            .push(MirrorJob::note(&format!("note-{turn_id}"), &format!("wa-agent: {reason}")).encode());
        record.dead_letter = Some(DeadLetter::new(chat_id, reason, run));
        Ok(Outcome::SendFailed)
    }

    /// Record the reply's parts: `r-<turn>` for the first, `r-<turn>-<n>` for the next ones.
    pub(super) fn record_reply(&self, record: &mut Record, turn_id: &str, parts: &[String]) {
        for (n, text) in parts.iter().enumerate() {
            let id = if n == 0 {
                format!("r-{turn_id}")
            } else {
                format!("r-{turn_id}-{n}")
            };
            let entry = HistoryEntry {
                id: id.clone(),
                role: Role::Agent,
                text: text.clone(),
                at: now_ms(),
            };
            record.entries.push(entry);
            record.jobs.push(MirrorJob::message(&id, false, text).encode());
        }
    }

    /// Read marks and typing, best effort and off the turn's path: `Some(ids)` marks those
    /// messages read and starts typing; `None` stops typing.
    pub(super) fn presence(&self, chat_id: &str, gateway: GatewayKind, read: Option<Vec<String>>) {
        if !self.send_presence {
            return;
        }
        let gw = self.gateways.get(gateway).clone();
        let chat = chat_id.to_owned();
        tokio::spawn(async move {
            let result = match read {
                Some(ids) => match gw.mark_read(&chat, &ids).await {
                    Ok(()) => gw.set_typing(&chat, true).await,
                    Err(e) => Err(e),
                },
                None => gw.set_typing(&chat, false).await,
            };
            if let Err(e) = result {
                tracing::debug!(chat_id = %chat, error = %e, "presence update failed");
            }
        });
    }

    /// Hand the chat to a human: a private note with the reason and the conversation `open`
    /// (only with Chatwoot: without it nobody could take over, so the gate stays as it is).
    pub(super) fn hand_over(
        &self,
        chat_id: &str,
        state: &mut ChatState,
        record: &mut Record,
        turn_id: &str,
        reason: &str,
    ) {
        tracing::warn!(chat_id, reason, "handing the chat to a human");
        record.handoff_reason = Some(reason.to_owned());
        if !self.mirror.enabled() {
            return;
        }
        record
            .jobs
            .push(MirrorJob::note(&format!("handoff-{turn_id}"), &format!("wa-agent: {reason}")).encode());
        record.jobs.push(MirrorJob::status("open").encode());
        state.status = Some("open".into());
    }

    /// Tell the chat's channel that the turn handed it to a human (the playground shows it as a
    /// note; WhatsApp gateways ignore it), with the reason the turn recorded. Best effort.
    pub(super) async fn note_handoff(&self, chat_id: &str, gateway: GatewayKind, record: &Record) {
        let reason = record.handoff_reason.clone().unwrap_or_default();
        if let Err(e) = self
            .gateways
            .get(gateway)
            .note(chat_id, &Note::Handoff { reason })
            .await
        {
            tracing::debug!(chat_id, error = %e, "handoff note not shown");
        }
    }

    /// The gate, checked again with Chatwoot just before sending. Chatwoot unreachable: the last
    /// known state decides (customers are answered while Chatwoot is down).
    pub(super) async fn still_ours(
        &self,
        chat_id: &str,
        state: &mut ChatState,
        bot_user: Option<u64>,
    ) -> bool {
        let (Some(cw), Some(conversation)) = (self.mirror.reachable(), state.conversation_id) else {
            return state.agent_may_answer(bot_user);
        };
        match cw.get_conversation(conversation).await {
            Ok(c) => {
                self.mirror.record(Ok(()));
                if state.status.as_deref() != Some(c.status.as_str()) || state.assignee_id != c.assignee_id {
                    state.status = Some(c.status);
                    state.assignee_id = c.assignee_id;
                    if let Err(e) = self.mirror.save_state(chat_id, state).await {
                        tracing::warn!(error = %e, "could not save the conversation state");
                    }
                }
            }
            Err(e) => {
                self.mirror.record(Err(&e));
                tracing::warn!(error = %e, "Chatwoot unreachable for the gate check; using the last known state");
            }
        }
        state.agent_may_answer(bot_user)
    }
}
