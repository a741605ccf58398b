//! A turn's value and its first and last stages. The pipeline (`Worker::turn_inner` in the module
//! root) runs [`Worker::prepare`], which gathers (chat state, conversation link, history, files, the
//! customer's entries), then [`super::decide`], which picks one arm (answer, silent, out-of-office,
//! resume), then that arm, then [`Worker::settle`], which writes the turn (handoff state, commit,
//! incomplete mark, history fold).
//!
//! Invariants: a [`Turn`] owns what it gathers (its [`Record`]); arms add to it and return their
//! [`Outcome`], never settle themselves; a superseded draft or a lost lease settles nothing (the
//! messages stay in the inbox and the turn runs again); the customer's messages are recorded whatever
//! the arm. A new behaviour is a new [`super::decide::Arm`] and one method, not a branch inside another arm.

use std::collections::HashSet;
use std::time::Instant;

use super::{Outcome, Record, Worker};
use crate::agent::tool_loop::TurnMemo;
use crate::channel::ConversationLink;
use crate::chat_state::ChatState;
use crate::domain::{ChannelKind, Envelope, HistoryEntry, InboundMessage, Role};
use crate::history::Loaded;
use crate::hours::source::HoursNow;
use crate::media::PreparedMedia;
use crate::mirror::MirrorJob;
use crate::queue::Lease;
use crate::store::StoreError;

/// One turn: the chat, its channel, the turn's id (its newest message's), the lease it runs under,
/// the chat's state, the inbox entries it consumes, and what it will write.
pub(super) struct Turn<'a> {
    pub(super) chat_id: &'a str,
    pub(super) channel: ChannelKind,
    pub(super) id: String,
    pub(super) lease: &'a Lease,
    pub(super) state: ChatState,
    /// The customer messages' inbox entries, oldest first.
    pub(super) run: &'a [Envelope],
    pub(super) record: Record,
}

/// What [`Worker::prepare`] gathered besides the [`Turn`], for the arms to read.
pub(super) struct Gathered {
    pub(super) loaded: Loaded,
    /// Each message's text, image and file, in order.
    pub(super) media: Vec<PreparedMedia>,
    pub(super) hours: HoursNow,
    /// An operator's replay of a dead letter: answered whoever owns the conversation now.
    pub(super) replay: bool,
}

/// Whether this turn's draft may be dropped because the customer wrote again, and the tool calls
/// an earlier, dropped draft already made.
pub(super) struct Rerun<'m> {
    pub(super) may_supersede: bool,
    pub(super) memo: &'m mut TurnMemo,
}

impl Worker {
    /// Gather the turn: the chat's state, where its conversation is, its history, the messages'
    /// files, and the customer's entries and mirror jobs. `messages` is not empty.
    pub(super) async fn prepare<'a>(
        &self,
        chat_id: &'a str,
        run: &'a [Envelope],
        messages: &[&InboundMessage],
        lease: &'a Lease,
    ) -> (Turn<'a>, Gathered) {
        let last = messages[messages.len() - 1];
        let mut state = self.noted_state(chat_id, last).await;
        // Where the chat's Chatwoot conversation is: the mirror's, or (Agent Bot) the chat itself.
        let link = self.channels.get(last.channel).conversation(chat_id);
        if let ConversationLink::Itself { conversation_id, .. } = link {
            state.conversation_id = Some(conversation_id);
        }
        let loaded = self.load_history(chat_id, &state, messages).await;
        let media = self.prepare_media(messages).await;
        let hours = self.hours.at(self.now());
        let mut record = Record {
            unmirrored: link != ConversationLink::Mirror,
            team_back: hours.status.next_change_phrase().filter(|_| !hours.status.open),
            ..Record::default()
        };
        if !loaded.in_store {
            record.entries.extend(loaded.entries.iter().cloned());
        }
        record_customer(&mut record, messages, run, &media);
        let turn = Turn {
            chat_id,
            channel: last.channel,
            id: last.message_id.clone(),
            lease,
            state,
            run,
            record,
        };
        let replay = run.iter().all(|e| e.replayed);
        let gathered = Gathered {
            loaded,
            media,
            hours,
            replay,
        };
        (turn, gathered)
    }

    /// The chat's state with the channel and name of its newest message recorded; when the store
    /// cannot be read, a fresh state on that channel (the turn goes on).
    async fn noted_state(&self, chat_id: &str, last: &InboundMessage) -> ChatState {
        match self
            .states
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
        }
    }

    /// The chat's history without the messages this turn answers, logged and counted.
    async fn load_history(&self, chat_id: &str, state: &ChatState, messages: &[&InboundMessage]) -> Loaded {
        let exclude: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        let loaded = self.history.load(chat_id, Some(state.clone()), &exclude).await;
        let span = tracing::Span::current();
        span.record("history_source", loaded.source.as_str());
        span.record("history_count", loaded.entries.len());
        metrics::counter!("wa_agent_history_loads_total", "source" => loaded.source.as_str()).increment(1);
        metrics::histogram!("wa_agent_history_entries").record(loaded.entries.len() as f64);
        loaded
    }

    /// Now, by the worker's clock (the system's if the clock's is out of range).
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.clock.now_ms()).unwrap_or_else(|_| jiff::Timestamp::now())
    }

    /// Write what the turn gathered: the handoff state, the commit, the incomplete mark, the fold.
    /// A superseded draft or a lost lease writes nothing.
    pub(super) async fn settle(
        &self,
        mut turn: Turn<'_>,
        gathered: &Gathered,
        outcome: Outcome,
        started: Instant,
    ) -> Result<Outcome, StoreError> {
        if matches!(outcome, Outcome::Superseded | Outcome::LeaseLost) {
            // Another run (or another worker) answers these messages: nothing of this turn is recorded.
            return Ok(self.finish(outcome, started));
        }
        if matches!(outcome, Outcome::Handoff | Outcome::AgentFailed) {
            self.save_handoff(&mut turn).await;
        }
        self.commit(turn.chat_id, turn.run.len(), &turn.record).await?;
        if !gathered.loaded.complete {
            self.history.mark_incomplete(turn.chat_id).await;
        }
        let outcome = self.finish(outcome, started);
        self.fold_history(turn.chat_id, &turn.state, turn.lease).await?;
        Ok(outcome)
    }

    /// Keep the handed-over state and tell the channel.
    async fn save_handoff(&self, turn: &mut Turn<'_>) {
        if turn.record.unmirrored {
            // The channel itself sets the conversation `open` (its handoff note).
            turn.state.status = Some("open".into());
        }
        if let Err(e) = self.states.save(turn.chat_id, &turn.state).await {
            tracing::warn!(error = %e, "could not save the handoff state");
        }
        self.note_handoff(turn).await;
    }
}

/// The customer's messages as history entries and mirror jobs (a replayed one is recorded already),
/// with the files downloaded for them.
fn record_customer(
    record: &mut Record,
    messages: &[&InboundMessage],
    run: &[Envelope],
    media: &[PreparedMedia],
) {
    for ((m, env), prepared) in messages.iter().zip(run).zip(media) {
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
        record.mirror(&MirrorJob::customer(
            &m.message_id,
            &prepared.text,
            m.media.as_deref(),
        ));
        if let Some(file) = &prepared.file {
            record.files.insert(m.message_id.clone(), file.clone());
        }
    }
}
