//! The per-chat turn: the only place that sequences history, agent, gateway and mirroring.
//!
//! A chat's inbox is handled in order. Human replies from Chatwoot go to WhatsApp at once; status
//! and assignee changes update the handoff gate at once; a run of customer messages waits out the
//! debounce window and is answered in one turn: load the history (without those messages), ask the
//! agent, make sure nothing new arrived meanwhile and that the conversation is still the bot's, send
//! the reply through the chat's gateway, then commit (history append + inbox trim + mirror jobs +
//! dead letter + send intent removal, atomically) and mirror to Chatwoot. A turn that finds the send
//! intent of an earlier run that died mid-send finishes that reply instead of asking the agent.
//! Customer messages are recorded even when the agent stays silent or fails, so the chat's memory
//! never loses what the customer said. Their files are prepared first (see [`media`]): the
//! transcript or placeholder is the message's text everywhere, an image reaches the model in this
//! turn only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::agent::prompt::{PromptContext, changing_tail};
use crate::agent::tool_loop::{self, LoopSettings, TurnMemo};
use crate::agent::tools::ToolRegistry;
use crate::agent::{Agent, AgentInput};
use crate::channel::ConversationLink;
use crate::domain::{ChannelKind, ChatEvent, Envelope, HistoryEntry, InboundMessage, Role, now_ms};
use crate::gate::Decision;
use crate::history::History;
use crate::hours::source::HoursSource;
use crate::media::{Downloaded, Media};
use crate::mirror::{ChatState, Mirror, MirrorJob};
use crate::queue::{ChatContext, ChatHandler, Lease};
use crate::retry::with_retries;
use crate::store::{Release, SendIntent, Store, StoreError, TurnCommit};

mod chatwoot_events;
mod delivery;
mod hours;
mod media;
mod memory;
mod tool_calls;

use delivery::TypingGuard;

pub use chatwoot_events::learn_bot_user;

/// Drafts thrown away in a row (because the customer kept writing) before one is sent anyway.
const MAX_SUPERSEDED: u32 = 5;
pub use crate::retry::{ATTEMPTS, BACKOFF};

pub use crate::channel::Channels;

/// The channel a chat talks through: the one its state recorded at accept, else (a chat whose state
/// predates the channel layer) [`crate::channel::legacy_channel`].
pub fn channel_of(state: &ChatState, chat_id: &str) -> ChannelKind {
    state
        .channel
        .unwrap_or_else(|| crate::channel::legacy_channel(chat_id))
}

/// A dead letter: work that failed after its retries, kept for an operator to replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Unique id (`wa-agent dlq replay <id>`).
    pub id: String,
    /// The chat.
    pub chat_id: String,
    /// Why it failed.
    pub reason: String,
    /// Unix ms.
    pub failed_at: i64,
    /// The inbox entries to put back on replay (customer messages marked as already recorded).
    pub envelopes: Vec<Envelope>,
}

impl DeadLetter {
    fn new(chat_id: &str, reason: String, envelopes: &[Envelope]) -> Self {
        let envelopes = envelopes
            .iter()
            .map(|e| Envelope {
                replayed: e.customer().is_some() || e.replayed,
                ..e.clone()
            })
            .collect();
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            chat_id: chat_id.to_owned(),
            reason,
            failed_at: now_ms(),
            envelopes,
        }
    }
}

/// Everything a turn needs.
pub struct Worker {
    /// The state layer.
    pub store: Arc<dyn Store>,
    /// Chat history.
    pub history: History,
    /// Chatwoot mirror and chat state.
    pub mirror: Mirror,
    /// The agent.
    pub agent: Arc<dyn Agent>,
    /// The channels replies go out through.
    pub channels: Channels,
    /// The system prompt.
    pub system_prompt: String,
    /// What the customer is told on a handoff (empty: nothing).
    pub handoff_message: String,
    /// Longer replies are split into parts of at most this many characters.
    pub reply_max_chars: usize,
    /// Mark the customer's messages read and show typing while a turn runs.
    pub send_presence: bool,
    /// The service's own Chatwoot user, learnt in the background at start-up (its assignments are
    /// not a human's); see [`learn_bot_user`].
    pub bot_user: Arc<OnceLock<u64>>,
    /// The tools the agent may call (built-in, catalogue, MCP).
    pub tools: ToolRegistry,
    /// `AGENT_MAX_STEPS`: model calls per turn.
    pub max_steps: u32,
    /// `TOOL_TIMEOUT_SECS`: the limit of one tool call.
    pub tool_timeout: Duration,
    /// Working hours, `BOT_HOURS` and the out-of-office message (settings, else the Chatwoot inbox).
    pub hours: Arc<HoursSource>,
    /// `HISTORY_SUMMARY`: fold blocks leaving the window into the chat's summary.
    pub history_summary: bool,
    /// Downloads, transcription and vision for customers' files; fetch limit for human replies'.
    pub media: Arc<Media>,
}

/// How one turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Replied,
    Superseded,
    Silenced,
    OutOfOffice,
    Handoff,
    AgentFailed,
    SendFailed,
    LeaseLost,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Replied => "replied",
            Outcome::Superseded => "superseded",
            Outcome::Silenced => "silenced",
            Outcome::OutOfOffice => "out_of_office",
            Outcome::Handoff => "handoff",
            Outcome::AgentFailed => "agent_failed",
            Outcome::SendFailed => "send_failed",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

/// What a turn writes when it ends.
#[derive(Default)]
struct Record {
    entries: Vec<HistoryEntry>,
    jobs: Vec<String>,
    dead_letter: Option<DeadLetter>,
    /// Why the turn handed the chat to a human, when it did.
    handoff_reason: Option<String>,
    /// The chat is its own Chatwoot conversation (Agent Bot): nothing goes to the mirror's outbox.
    unmirrored: bool,
    /// When the team is back (`Monday 09:00`), while it is not working: a handoff says so.
    team_back: Option<String>,
    /// Customers' files the turn downloaded, by history entry id, for the mirror to attach.
    files: HashMap<String, Downloaded>,
}

#[async_trait]
impl ChatHandler for Worker {
    /// Run the chat's inbox while we hold its lease, until it is empty and the lease is released.
    /// `Err`: the store failed (or the runtime stopped with work waiting); the runtime decides what next.
    async fn run_chat(&self, chat_id: &str, ctx: &ChatContext<'_>) -> Result<(), StoreError> {
        let (lease, tuning, stop) = (ctx.lease, ctx.tuning, ctx.stop);
        let mut superseded = 0;
        // Tool calls of a draft the customer superseded, so its rerun does not make them again.
        let mut memo = TurnMemo::default();
        loop {
            if lease.is_lost() {
                return Ok(());
            }
            let inbox = self.store.inbox(chat_id).await?;
            if inbox.is_empty() {
                if let Err(e) = self.mirror.drain(chat_id).await {
                    tracing::debug!(chat_id, error = %e, "outbox still waiting for Chatwoot");
                }
                match self.store.release_lease_if_idle(chat_id, lease.holder()).await? {
                    Release::Released => return Ok(()),
                    Release::Lost => {
                        lease.lose();
                        return Ok(());
                    }
                    Release::WorkWaiting => continue,
                }
            }
            if stop.is_cancelled() {
                return Err(StoreError("stopping with work waiting".into()));
            }
            match &inbox[0].event {
                ChatEvent::HumanReply(reply) => self.human_reply(chat_id, reply, lease).await?,
                ChatEvent::Conversation(update) => self.conversation_update(chat_id, update).await?,
                ChatEvent::Customer(_) => {
                    let run = inbox.iter().take_while(|e| e.customer().is_some()).count();
                    let followed = run < inbox.len();
                    if !followed {
                        let newest = inbox.iter().map(|e| e.accepted_ms).max().unwrap_or(0);
                        let debounce_ms = i64::try_from(tuning.debounce.as_millis()).unwrap_or(i64::MAX);
                        let wait = newest.saturating_add(debounce_ms) - now_ms();
                        if wait > 0 {
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                                _ = stop.cancelled() => {}
                            }
                            continue;
                        }
                    }
                    let may_supersede = superseded < MAX_SUPERSEDED && !followed;
                    match self
                        .turn(chat_id, &inbox[..run], lease, may_supersede, &mut memo)
                        .await?
                    {
                        Outcome::Superseded => superseded += 1,
                        Outcome::LeaseLost => return Ok(()),
                        _ => {
                            superseded = 0;
                            memo = TurnMemo::default();
                        }
                    }
                }
            }
        }
    }
}

impl Worker {
    async fn commit(&self, chat_id: &str, consumed: usize, record: &Record) -> Result<(), StoreError> {
        let dlq_json = record
            .dead_letter
            .as_ref()
            .map(|d| serde_json::to_string(d).unwrap_or_default());
        let commit = TurnCommit {
            consumed,
            entries: &record.entries,
            window: self.history.cap(),
            ttl: self.history.ttl(),
            mirror_jobs: if self.mirror.enabled() && !record.unmirrored {
                &record.jobs
            } else {
                &[]
            },
            dead_letter: record
                .dead_letter
                .as_ref()
                .zip(dlq_json.as_deref())
                .map(|(d, j)| (d.id.as_str(), j)),
        };
        with_retries("store", 8, Duration::from_millis(250), || {
            self.store.commit_turn(chat_id, &commit)
        })
        .await?;
        if let Some(d) = &record.dead_letter {
            metrics::counter!("wa_agent_dead_letters_total").increment(1);
            tracing::error!(chat_id, dead_letter = %d.id, reason = %d.reason, "work moved to the dead letters");
        }
        if !record.jobs.is_empty()
            && !record.unmirrored
            && self.mirror.enabled()
            && let Err(e) = self.mirror.drain_with(chat_id, &record.files).await
        {
            tracing::warn!(chat_id, error = %e, "Chatwoot mirror waits in the outbox");
        }
        Ok(())
    }

    fn bot_user(&self) -> Option<u64> {
        self.bot_user.get().copied()
    }

    /// One turn over a run of customer messages (oldest first).
    async fn turn(
        &self,
        chat_id: &str,
        run: &[Envelope],
        lease: &Lease,
        may_supersede: bool,
        memo: &mut TurnMemo,
    ) -> Result<Outcome, StoreError> {
        let mut messages: Vec<&InboundMessage> = run.iter().filter_map(Envelope::customer).collect();
        // A reply an earlier run began sending is finished first, over the messages it answered.
        let ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        let intent = self
            .store
            .send_intent(chat_id)
            .await?
            .filter(|i| run.len() == messages.len() && i.answers_head_of(&ids));
        let run = match &intent {
            Some(i) => {
                messages.truncate(i.turn.len());
                &run[..i.turn.len()]
            }
            None => run,
        };
        let Some(last) = messages.last() else {
            return Ok(Outcome::Replied);
        };
        let span = tracing::info_span!(
            "turn",
            chat_id = %chat_id,
            message_id = %last.message_id,
            messages = messages.len(),
            history_source = tracing::field::Empty,
            history_count = tracing::field::Empty,
            outcome = tracing::field::Empty,
            turn_ms = tracing::field::Empty,
            steps = tracing::field::Empty,
            tools = tracing::field::Empty,
        );
        self.turn_inner(chat_id, run, &messages, lease, may_supersede, intent, memo)
            .instrument(span)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn turn_inner(
        &self,
        chat_id: &str,
        run: &[Envelope],
        messages: &[&InboundMessage],
        lease: &Lease,
        may_supersede: bool,
        intent: Option<SendIntent>,
        memo: &mut TurnMemo,
    ) -> Result<Outcome, StoreError> {
        let started = Instant::now();
        let span = tracing::Span::current();
        let last = messages[messages.len() - 1];
        let turn_id = last.message_id.clone();
        let mut state = match self
            .mirror
            .note_customer(chat_id, last.channel, last.sender_name.as_deref())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "chat state unavailable");
                ChatState {
                    channel: Some(last.channel),
                    ..ChatState::default()
                }
            }
        };
        // Where the chat's Chatwoot conversation is: the mirror's, or (Agent Bot) the chat itself.
        let link = self.channels.get(last.channel).conversation(chat_id);
        if let ConversationLink::Itself { conversation_id, .. } = link {
            state.conversation_id = Some(conversation_id);
        }
        let exclude: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        let loaded = self.history.load(chat_id, Some(state.clone()), &exclude).await;
        span.record("history_source", loaded.source.as_str());
        span.record("history_count", loaded.entries.len());
        metrics::counter!("wa_agent_history_loads_total", "source" => loaded.source.as_str()).increment(1);
        metrics::histogram!("wa_agent_history_entries").record(loaded.entries.len() as f64);

        let prepared = self.prepare_media(messages).await;
        let mut record = Record {
            unmirrored: link != ConversationLink::Mirror,
            ..Record::default()
        };
        if !loaded.in_store {
            record.entries.extend(loaded.entries.iter().cloned());
        }
        for ((m, env), prepared) in messages.iter().zip(run).zip(&prepared) {
            if env.replayed {
                continue;
            }
            let at = if m.timestamp > 0 {
                m.timestamp.saturating_mul(1000)
            } else {
                env.accepted_ms
            };
            record.entries.push(HistoryEntry {
                id: m.message_id.clone(),
                role: Role::Customer,
                text: prepared.text.clone(),
                at,
            });
            record
                .jobs
                .push(MirrorJob::customer(&m.message_id, &prepared.text, m.media.as_deref()).encode());
            if let Some(file) = &prepared.file {
                record.files.insert(m.message_id.clone(), file.clone());
            }
        }

        let bot_user = self.bot_user();
        // An operator's replay of a dead letter is answered whoever owns the conversation now.
        let replay = run.iter().all(|e| e.replayed);
        let (hours, decision) = self.gate(&state, replay, bot_user);
        if !hours.status.open {
            record.team_back = hours.status.next_change_phrase();
        }
        let outcome = if let Some(intent) = intent {
            self.resume(
                chat_id,
                last.channel,
                &turn_id,
                intent,
                &mut state,
                &mut record,
                run,
                lease,
            )
            .await?
        } else if decision == Decision::Silent {
            tracing::info!(status = ?state.status, assigned = state.assignee_id.is_some(), bot_hours = %hours.bot_hours, team_working = hours.status.open, "humans answer this chat; the agent stays silent");
            Outcome::Silenced
        } else if let Decision::OutOfOffice { period_id } = &decision {
            self.out_of_office(
                chat_id,
                last.channel,
                &turn_id,
                period_id,
                &hours,
                &mut state,
                &mut record,
                run,
                lease,
            )
            .await?
        } else {
            let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
            self.presence(chat_id, last.channel, Some(ids));
            let texts: Vec<String> = prepared.iter().map(|p| p.text.clone()).collect();
            let images: Vec<Option<String>> = prepared.iter().map(|p| p.image_url.clone()).collect();
            let cold = loaded.source == crate::history::HistorySource::Chatwoot;
            let summary = match self.history_summary {
                true => self.history.summary(chat_id, state.conversation_id, cold).await,
                false => None,
            };
            // The profile changes as `update_contact` records it: it belongs to the changing tail, so
            // the system prompt and the history stay a stable, cacheable prefix.
            let profile = state
                .profile
                .iter()
                .map(|(k, v)| format!("- {k}: {v}"))
                .collect::<Vec<_>>();
            let tail = changing_tail(&PromptContext {
                time: Some(hours.status.describe()),
                summary,
                profile: Some(profile.join("\n")),
            });
            let asked = Instant::now();
            let input = AgentInput {
                system_prompt: &self.system_prompt,
                history: &loaded.entries,
                new_messages: &texts,
                new_images: &images,
                offer_handoff: self.mirror.enabled() || link != ConversationLink::Mirror,
                tail: tail.as_deref(),
            };
            let settings = LoopSettings {
                registry: &self.tools,
                max_steps: self.max_steps,
                timeout: self.tool_timeout,
            };
            let looped = tool_loop::run(self.agent.as_ref(), input, settings, memo).await;
            metrics::histogram!("wa_agent_agent_duration_seconds").record(asked.elapsed().as_secs_f64());
            span.record("steps", looped.steps);
            if !looped.calls.is_empty() {
                span.record("tools", tool_calls::summary(&looped.calls).as_str());
            }
            let reply = looped.reply;
            let _typing = TypingGuard {
                worker: self,
                chat_id,
                channel: last.channel,
            };

            if may_supersede && self.customer_wrote_again(chat_id, run.len()).await {
                tracing::info!("customer wrote again while the agent was thinking; draft dropped");
                return Ok(self.finish(Outcome::Superseded, started));
            }
            if lease.is_lost() {
                return Ok(self.finish(Outcome::LeaseLost, started));
            }
            self.record_tool_calls(chat_id, &turn_id, &looped.calls, &mut state, &mut record)
                .await;
            self.note_tool_calls(chat_id, last.channel, &looped.calls).await;
            match reply {
                Err(e) => {
                    let reason = format!("the agent failed: {e}");
                    self.hand_over(chat_id, &mut state, &mut record, &turn_id, &reason);
                    record.dead_letter = Some(DeadLetter::new(chat_id, reason, run));
                    Outcome::AgentFailed
                }
                Ok(reply) if !replay && !self.still_ours(chat_id, &mut state, bot_user).await => {
                    drop(reply);
                    tracing::info!("the conversation was handed to a human meanwhile; reply dropped");
                    Outcome::Silenced
                }
                Ok(reply) => {
                    self.deliver(
                        chat_id,
                        last.channel,
                        &turn_id,
                        reply,
                        &mut state,
                        &mut record,
                        run,
                        lease,
                    )
                    .await?
                }
            }
        };
        if outcome == Outcome::LeaseLost {
            // Another worker has the chat: nothing of this turn is recorded; it runs the turn again.
            return Ok(self.finish(outcome, started));
        }
        if outcome == Outcome::Handoff || outcome == Outcome::AgentFailed {
            if record.unmirrored {
                // The channel itself sets the conversation `open` (its handoff note).
                state.status = Some("open".into());
            }
            if let Err(e) = self.mirror.save_state(chat_id, &state).await {
                tracing::warn!(error = %e, "could not save the handoff state");
            }
            self.note_handoff(chat_id, last.channel, &record).await;
        }
        self.commit(chat_id, run.len(), &record).await?;
        if !loaded.complete {
            self.history.mark_incomplete(chat_id).await;
        }
        let outcome = self.finish(outcome, started);
        self.fold_history(chat_id, &state, lease).await?;
        Ok(outcome)
    }

    /// Whether new customer messages arrived behind the `consumed` ones.
    async fn customer_wrote_again(&self, chat_id: &str, consumed: usize) -> bool {
        self.store
            .inbox(chat_id)
            .await
            .is_ok_and(|now| now.get(consumed).is_some_and(|e| e.customer().is_some()))
    }

    fn finish(&self, outcome: Outcome, started: Instant) -> Outcome {
        let span = tracing::Span::current();
        let ms = started.elapsed().as_millis() as u64;
        span.record("outcome", outcome.as_str());
        span.record("turn_ms", ms);
        metrics::counter!("wa_agent_turns_total", "outcome" => outcome.as_str()).increment(1);
        metrics::histogram!("wa_agent_turn_duration_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(outcome = outcome.as_str(), turn_ms = ms, "turn finished");
        outcome
    }
}
