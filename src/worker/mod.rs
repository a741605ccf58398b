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
//!
//! A turn is a pipeline that `Worker::turn_inner` reads top to bottom: prepare (the `Turn`
//! and what it gathered), `decide` (one pure function picking the arm), the arm (answer, silent,
//! out-of-office, resume), settle. A later behaviour is a new arm of the decision.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::Instrument;

use crate::agent::Agent;
use crate::agent::tool_loop::TurnMemo;
use crate::agent::tools::ToolRegistry;
use crate::chat_state::{ChatState, ChatStates};
use crate::clock::SharedClock;
use crate::dlq::DeadLetter;
use crate::domain::{ChannelKind, ChatEvent, Envelope, HistoryEntry, InboundMessage};
use crate::history::History;
use crate::hours::source::HoursSource;
use crate::media::{Downloaded, Media};
use crate::mirror::{Mirror, MirrorJob};
use crate::queue::{ChatContext, ChatHandler, Lease, Tuning};
use crate::retry::with_retries;
use crate::store::{Release, SendIntent, Store, StoreError, TurnCommit};

mod answer;
mod chatwoot_events;
mod decide;
mod delivery;
mod hours;
mod media;
mod memory;
mod tool_calls;
mod turn;

use decide::{Arm, Facts, decide};
use turn::Rerun;

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

/// Everything a turn needs.
pub struct Worker {
    /// The state layer.
    pub store: Arc<dyn Store>,
    /// Chat history.
    pub history: History,
    /// Chat state: channel, Chatwoot mapping, who holds the conversation, the profile.
    pub states: ChatStates,
    /// The Chatwoot mirror: outbox, conversation mapping, breaker.
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
    /// The clock the debounce waits on and the gate and working hours read "now" from.
    pub clock: SharedClock,
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

/// What a turn (or a Chatwoot event) writes when it ends, gathered as it goes.
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

impl Record {
    /// Queue `job` for the mirror's outbox.
    fn mirror(&mut self, job: &MirrorJob) {
        self.jobs.push(job.encode());
    }
}

/// The customer messages at the head of a chat's inbox, as the run loop hands them to a turn.
struct CustomerRun {
    /// How many inbox entries the run covers.
    len: usize,
    /// Whether other work (a human reply, a status change) waits behind it.
    followed: bool,
}

#[async_trait]
impl ChatHandler for Worker {
    /// Run the chat's inbox while we hold its lease, until it is empty and the lease is released.
    /// `Err`: the store failed (or the runtime stopped with work waiting); the runtime decides what next.
    async fn run_chat(&self, chat_id: &str, ctx: &ChatContext<'_>) -> Result<(), StoreError> {
        let (lease, stop) = (ctx.lease, ctx.stop);
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
            let run = match &inbox[0].event {
                ChatEvent::HumanReply(reply) => {
                    self.human_reply(chat_id, reply, lease).await?;
                    continue;
                }
                ChatEvent::Conversation(update) => {
                    self.conversation_update(chat_id, update).await?;
                    continue;
                }
                ChatEvent::Customer(_) => customer_run(&inbox),
            };
            if let Some(wait) = (!run.followed)
                .then(|| self.debounce_left(&inbox, ctx.tuning))
                .flatten()
            {
                tokio::select! {
                    _ = self.clock.sleep(wait) => {}
                    _ = stop.cancelled() => {}
                }
                continue;
            }
            let rerun = Rerun {
                may_supersede: superseded < MAX_SUPERSEDED && !run.followed,
                memo: &mut memo,
            };
            match self.turn(chat_id, &inbox[..run.len], lease, rerun).await? {
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

/// The run of customer messages at the head of `inbox`.
fn customer_run(inbox: &[Envelope]) -> CustomerRun {
    let len = inbox.iter().take_while(|e| e.customer().is_some()).count();
    CustomerRun {
        len,
        followed: len < inbox.len(),
    }
}

impl Worker {
    /// How much longer the debounce window of the inbox's newest message lasts, if at all.
    fn debounce_left(&self, inbox: &[Envelope], tuning: &Tuning) -> Option<Duration> {
        let newest = inbox.iter().map(|e| e.accepted_ms).max().unwrap_or(0);
        let debounce_ms = i64::try_from(tuning.debounce.as_millis()).unwrap_or(i64::MAX);
        let wait = newest.saturating_add(debounce_ms) - self.clock.now_ms();
        (wait > 0).then(|| Duration::from_millis(wait as u64))
    }

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

    /// One turn over a run of customer messages (oldest first).
    async fn turn(
        &self,
        chat_id: &str,
        run: &[Envelope],
        lease: &Lease,
        rerun: Rerun<'_>,
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
        self.turn_inner(chat_id, run, &messages, lease, intent, rerun)
            .instrument(span)
            .await
    }

    /// prepare → decide → the arm → settle.
    async fn turn_inner(
        &self,
        chat_id: &str,
        run: &[Envelope],
        messages: &[&InboundMessage],
        lease: &Lease,
        intent: Option<SendIntent>,
        rerun: Rerun<'_>,
    ) -> Result<Outcome, StoreError> {
        let started = Instant::now();
        let (mut turn, gathered) = self.prepare(chat_id, run, messages, lease).await;
        let arm = decide(Facts {
            intent,
            state: &turn.state,
            bot_user: self.bot_user(),
            replay: gathered.replay,
            hours: &gathered.hours,
        });
        let outcome = match arm {
            Arm::Resume(intent) => self.resume(&mut turn, intent).await?,
            Arm::Answer => self.answer(&mut turn, &gathered, rerun).await?,
            Arm::Silent => self.silent(&turn, &gathered.hours),
            Arm::OutOfOffice { period_id } => {
                self.out_of_office(&mut turn, &period_id, &gathered.hours).await?
            }
        };
        self.settle(turn, &gathered, outcome, started).await
    }

    fn bot_user(&self) -> Option<u64> {
        self.bot_user.get().copied()
    }

    /// A dead letter of `envelopes`, failed now.
    fn dead_letter(&self, chat_id: &str, reason: String, envelopes: &[Envelope]) -> DeadLetter {
        DeadLetter::new(chat_id, reason, envelopes, self.clock.now_ms())
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
