//! The turn's one decision: which arm answers this run of customer messages.
//!
//! [`decide`] is pure: it reads the send intent an earlier run left, the chat's state (who holds
//! the conversation), whether this is an operator's replay, and the working hours at the worker
//! clock's now; it does no I/O. Rules, in order:
//! 1. An earlier run of this turn died while sending: [`Arm::Resume`] finishes that reply.
//! 2. An operator's replay of a dead letter: [`Arm::Answer`], whoever holds the conversation.
//! 3. Otherwise the gate ([`crate::gate::decide`]): answer, stay silent for the humans, or send the
//!    out-of-office message.
//!
//! A later behaviour (a draft for a human, a pause, a follow-up, a budget) is a new variant here and
//! one method on the worker that runs it.

use crate::chat_state::ChatState;
use crate::gate::{self, Decision, GateInput, Team};
use crate::hours::source::HoursNow;
use crate::store::SendIntent;

/// The arm a turn takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Arm {
    /// Finish the reply an earlier run began sending, without asking the agent.
    Resume(SendIntent),
    /// The agent answers.
    Answer,
    /// Humans answer this chat: the agent stays silent.
    Silent,
    /// Nobody answers now: the out-of-office message, once per chat and closed period.
    OutOfOffice {
        /// The closed period.
        period_id: String,
    },
}

/// Everything [`decide`] reads.
pub(super) struct Facts<'a> {
    /// The send intent of an earlier run over the same messages.
    pub(super) intent: Option<SendIntent>,
    /// The chat's state as the turn found it.
    pub(super) state: &'a ChatState,
    /// The service's own Chatwoot user (its assignments are not a human's).
    pub(super) bot_user: Option<u64>,
    /// Every message of the run is an operator's replay.
    pub(super) replay: bool,
    /// The working hours now.
    pub(super) hours: &'a HoursNow,
}

/// The arm for these facts; see the module doc for the rules.
pub(super) fn decide(facts: Facts<'_>) -> Arm {
    if let Some(intent) = facts.intent {
        return Arm::Resume(intent);
    }
    if facts.replay {
        return Arm::Answer;
    }
    let input = GateInput {
        bot_hours: facts.hours.bot_hours,
        team: Team::from(&facts.hours.status),
        human_holds: !facts.state.agent_may_answer(facts.bot_user),
    };
    match gate::decide(&input) {
        Decision::Answer => Arm::Answer,
        Decision::Silent => Arm::Silent,
        Decision::OutOfOffice { period_id } => Arm::OutOfOffice { period_id },
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
