//! Getting an answer to the customer: the gate checked once more, read marks and typing, the reply
//! split into parts, the handoff, and what is recorded of it.
//!
//! Before the first part goes out, the reply is recorded as the chat's send intent (see
//! [`crate::store::intent`]) and each part is marked there as the gateway accepts it; the turn's
//! commit deletes it. A rerun of a turn whose worker died in between finds the intent and
//! [`Worker::resume`]s that reply instead of asking the agent again.

use std::time::{Duration, Instant};

use super::turn::Turn;
use super::{ATTEMPTS, BACKOFF, Outcome, Worker};
use crate::agent::AgentReply;
use crate::channel::Note;
use crate::domain::{ChannelKind, HistoryEntry, Role};
use crate::mirror::MirrorJob;
use crate::outbound::OutboundError;
use crate::reply::split_reply;
use crate::retry::with_retries;
use crate::store::intent::INTENT_TTL;
use crate::store::{SendIntent, StoreError};

/// Slack on an intent's time when looking for its parts among the chat's recent messages: the
/// gateway's timestamps are whole seconds, by its own clock.
const CLOCK_SLACK_MS: i64 = 5_000;

/// Stops the typing indicator when the turn's answer is settled, however the turn ends.
pub(super) struct TypingGuard<'a> {
    pub(super) worker: &'a Worker,
    pub(super) chat_id: &'a str,
    pub(super) channel: ChannelKind,
}

impl Drop for TypingGuard<'_> {
    fn drop(&mut self) {
        self.worker.presence(self.chat_id, self.channel, None);
    }
}

impl Worker {
    /// Send the agent's answer (or the handoff message) and record what the customer saw. The reply's
    /// parts are recorded as the chat's send intent before the first one goes out.
    pub(super) async fn deliver(
        &self,
        turn: &mut Turn<'_>,
        reply: AgentReply,
    ) -> Result<Outcome, StoreError> {
        let (text, outcome, handoff) = match &reply.handoff {
            Some(h) => {
                let reason = format!("the AI agent handed the chat over: {}", h.reason);
                self.hand_over(turn, &reason);
                (
                    handoff_text(&self.handoff_message, turn.record.team_back.as_deref()),
                    Outcome::Handoff,
                    Some(reason),
                )
            }
            None => (reply.text, Outcome::Replied, None),
        };
        if text.is_empty() {
            return Ok(outcome);
        }
        let parts = split_reply(&text, self.reply_max_chars);
        let answered = turn
            .run
            .iter()
            .filter_map(|e| e.customer())
            .map(|m| m.message_id.clone())
            .collect();
        let intent = SendIntent::new(answered, handoff, &parts);
        with_retries("store", 8, Duration::from_millis(250), || {
            self.store.record_send_intent(turn.chat_id, &intent, INTENT_TTL)
        })
        .await?;
        let unsure = vec![false; parts.len()];
        Ok(self.send_parts(turn, intent, &unsure).await?.unwrap_or(outcome))
    }

    /// Finish the reply of an earlier run of this turn that died before its commit, from its send
    /// intent, without asking the agent again: parts marked sent are not resent; a part not marked
    /// sent is looked for among our recent messages in the chat (see [`Self::find_sent`]) and sent
    /// only if it is not there.
    pub(super) async fn resume(
        &self,
        turn: &mut Turn<'_>,
        mut intent: SendIntent,
    ) -> Result<Outcome, StoreError> {
        let outcome = match intent.handoff.clone() {
            Some(reason) => {
                self.hand_over(turn, &reason);
                Outcome::Handoff
            }
            None => Outcome::Replied,
        };
        let unsure = self.find_sent(turn, &mut intent).await;
        Ok(self.send_parts(turn, intent, &unsure).await?.unwrap_or(outcome))
    }

    /// Mark the intent's parts not marked sent that are already in the chat, when the gateway can
    /// read it back. Returns, per part, whether it may be in the chat unseen: a part resent without
    /// that check may reach the customer twice and is counted in
    /// `wa_agent_possible_duplicate_replies_total`.
    async fn find_sent(&self, turn: &Turn<'_>, intent: &mut SendIntent) -> Vec<bool> {
        let chat_id = turn.chat_id;
        let unsent: Vec<usize> = (0..intent.parts.len())
            .filter(|&n| !intent.parts[n].sent)
            .collect();
        tracing::warn!(
            parts = intent.parts.len(),
            unsent = unsent.len(),
            "an earlier run of this turn died while sending; finishing its reply without asking the agent again"
        );
        let mut unsure = vec![false; intent.parts.len()];
        if unsent.is_empty() {
            return unsure;
        }
        let gw = self.channels.get(turn.channel);
        let since = intent.at.saturating_sub(CLOCK_SLACK_MS);
        let read = with_retries("gateway", ATTEMPTS, BACKOFF, || {
            gw.recent_own_texts(chat_id, since)
        })
        .await;
        match read {
            Ok(Some(mut seen)) => {
                for n in unsent {
                    let text = intent.parts[n].text.trim();
                    if let Some(i) = seen.iter().position(|t| t.trim() == text) {
                        seen.remove(i);
                        intent.mark_sent(n, None);
                        if let Err(e) = self.store.mark_intent_sent(chat_id, n, None).await {
                            tracing::warn!(error = %e, "could not mark a reply part sent");
                        }
                        tracing::info!(part = n, "reply part already in the chat; not sent again");
                    }
                }
            }
            Ok(None) => unsent.iter().for_each(|&n| unsure[n] = true),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the chat back; unsent parts are sent again");
                unsent.iter().for_each(|&n| unsure[n] = true);
            }
        }
        unsure
    }

    /// Send the intent's parts not yet sent, in order, marking each as the gateway accepts it, and
    /// record the parts the customer has. `Some(SendFailed)` when a part could not be sent (the turn
    /// is dead-lettered), `Some(LeaseLost)` when the chat was taken over before a part (nothing more
    /// is sent or recorded); `None` when every part went out.
    async fn send_parts(
        &self,
        turn: &mut Turn<'_>,
        mut intent: SendIntent,
        unsure: &[bool],
    ) -> Result<Option<Outcome>, StoreError> {
        let (chat_id, channel) = (turn.chat_id, turn.channel);
        let gw = self.channels.get(channel);
        let sent_at = Instant::now();
        let mut failure = None;
        for n in 0..intent.parts.len() {
            if intent.parts[n].sent {
                continue;
            }
            let text = intent.parts[n].text.clone();
            // Only the lease holder sends: a worker whose chat was taken over stops here.
            if !turn.lease.confirm().await? {
                return Ok(Some(Outcome::LeaseLost));
            }
            match with_retries("gateway", ATTEMPTS, BACKOFF, || gw.send_text(chat_id, &text)).await {
                Ok(m) => {
                    intent.mark_sent(n, m.id.as_deref());
                    if unsure.get(n) == Some(&true) {
                        metrics::counter!("wa_agent_possible_duplicate_replies_total", "gateway" => channel.as_str())
                            .increment(1);
                        tracing::warn!(part = n, "reply part sent again; the customer may see it twice");
                    }
                    if let Err(e) = self.store.mark_intent_sent(chat_id, n, m.id.as_deref()).await {
                        tracing::warn!(error = %e, "could not mark a reply part sent");
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        metrics::histogram!("wa_agent_gateway_send_duration_seconds", "gateway" => channel.as_str())
            .record(sent_at.elapsed().as_secs_f64());
        // What reached the customer is remembered and mirrored as they saw it.
        record_reply(turn, &intent, self.clock.now_ms());
        Ok(failure.map(|e| self.send_failed(turn, &intent, &e)))
    }

    /// A part could not be sent: a private note and a dead letter with how far the reply got.
    fn send_failed(&self, turn: &mut Turn<'_>, intent: &SendIntent, e: &OutboundError) -> Outcome {
        let sent = intent.parts.iter().filter(|p| p.sent).count();
        let reason = if intent.parts.len() > 1 {
            format!(
                "sending the reply failed after {sent} of {} parts: {e}",
                intent.parts.len()
            )
        } else {
            format!("sending the reply failed: {e}")
        };
        let note = MirrorJob::note(&format!("note-{}", turn.id), &format!("wa-agent: {reason}"));
        turn.record.mirror(&note);
        turn.record.dead_letter = Some(self.dead_letter(turn.chat_id, reason, turn.run));
        Outcome::SendFailed
    }

    /// Read marks and typing, best effort and off the turn's path: `Some(ids)` marks those
    /// messages read and starts typing; `None` stops typing.
    pub(super) fn presence(&self, chat_id: &str, channel: ChannelKind, read: Option<Vec<String>>) {
        if !self.send_presence {
            return;
        }
        let gw = self.channels.get(channel).clone();
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
    pub(super) fn hand_over(&self, turn: &mut Turn<'_>, reason: &str) {
        tracing::warn!(chat_id = turn.chat_id, reason, "handing the chat to a human");
        turn.record.handoff_reason = Some(reason.to_owned());
        if !self.mirror.enabled() {
            return;
        }
        let note = MirrorJob::note(&format!("handoff-{}", turn.id), &format!("wa-agent: {reason}"));
        turn.record.mirror(&note);
        turn.record.mirror(&MirrorJob::status("open"));
        turn.state.status = Some("open".into());
    }

    /// Tell the chat's channel that the turn handed it to a human (the playground shows it as a
    /// note; WhatsApp gateways ignore it), with the reason the turn recorded. Best effort.
    pub(super) async fn note_handoff(&self, turn: &Turn<'_>) {
        let reason = turn.record.handoff_reason.clone().unwrap_or_default();
        if let Err(e) = self
            .channels
            .get(turn.channel)
            .note(turn.chat_id, &Note::Handoff { reason })
            .await
        {
            tracing::debug!(chat_id = turn.chat_id, error = %e, "handoff note not shown");
        }
    }

    /// The gate, checked again with Chatwoot just before sending. Chatwoot unreachable: the last
    /// known state decides (customers are answered while Chatwoot is down).
    pub(super) async fn still_ours(&self, turn: &mut Turn<'_>) -> bool {
        let bot_user = self.bot_user();
        let state = &mut turn.state;
        let (Some(cw), Some(conversation)) = (self.mirror.reachable(), state.conversation_id) else {
            return state.agent_may_answer(bot_user);
        };
        match cw.get_conversation(conversation).await {
            Ok(c) => {
                self.mirror.record(Ok(()));
                if state.status.as_deref() != Some(c.status.as_str()) || state.assignee_id != c.assignee_id {
                    state.status = Some(c.status);
                    state.assignee_id = c.assignee_id;
                    if let Err(e) = self.states.save(turn.chat_id, state).await {
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

/// Record the reply's parts the customer has: `r-<turn>` for the first, `r-<turn>-<n>` for the
/// next ones.
fn record_reply(turn: &mut Turn<'_>, intent: &SendIntent, at: i64) {
    for (n, part) in intent.parts.iter().enumerate().filter(|(_, p)| p.sent) {
        let id = if n == 0 {
            format!("r-{}", turn.id)
        } else {
            format!("r-{}-{n}", turn.id)
        };
        turn.record.mirror(&MirrorJob::message(&id, false, &part.text));
        turn.record.entries.push(HistoryEntry {
            id,
            role: Role::Agent,
            text: part.text.clone(),
            at,
        });
    }
}

/// What the customer is told on a handoff: `HANDOFF_MESSAGE`, plus when the team is back while it is
/// not working. An empty `HANDOFF_MESSAGE` stays silent.
pub(super) fn handoff_text(message: &str, team_back: Option<&str>) -> String {
    let message = message.trim();
    match team_back {
        Some(back) if !message.is_empty() => format!("{message} Our team is back {back}."),
        _ => message.to_owned(),
    }
}
