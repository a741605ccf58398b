//! The gate's arms of a turn: silent (humans answer) and the out-of-office message, sent once per
//! chat and closed period to a customer whom neither the bot nor a human will answer now
//! (behaviour 10; the decision is [`super::decide`]'s).
//!
//! Invariant: the mark `ooo:{chat}:{period}` is written only after the message went out, under the
//! chat's lease, so two messages of one closed period get one out-of-office message, and a send that
//! failed is tried again by the next message.

use std::time::Duration;

use super::turn::Turn;
use super::{Outcome, Worker};
use crate::agent::AgentReply;
use crate::hours::source::HoursNow;
use crate::store::{Marker, StoreError};

/// How long the once-per-period mark is kept: longer than any closed period of a weekly schedule.
const MARK_TTL: Duration = Duration::from_secs(9 * 86_400);

impl Worker {
    /// The silent arm: humans answer this chat (its messages are still recorded and mirrored).
    pub(super) fn silent(&self, turn: &Turn<'_>, hours: &HoursNow) -> Outcome {
        let state = &turn.state;
        tracing::info!(status = ?state.status, assigned = state.assignee_id.is_some(), bot_hours = %hours.bot_hours, team_working = hours.status.open, "humans answer this chat; the agent stays silent");
        Outcome::Silenced
    }

    /// The out-of-office arm: send the message unless this chat had it in this closed period (or
    /// it is empty).
    pub(super) async fn out_of_office(
        &self,
        turn: &mut Turn<'_>,
        period_id: &str,
        hours: &HoursNow,
    ) -> Result<Outcome, StoreError> {
        let text = hours.out_of_office_message.trim();
        if text.is_empty() {
            tracing::info!("nobody answers now and there is no out-of-office message; silent");
            return Ok(Outcome::Silenced);
        }
        let key = Marker::OutOfOfficeSent {
            chat: turn.chat_id,
            period: period_id,
        };
        if self.store.has_marker(key).await? {
            tracing::info!(
                period_id,
                "out-of-office message already sent in this closed period"
            );
            return Ok(Outcome::Silenced);
        }
        let reply = AgentReply {
            text: text.to_owned(),
            handoff: None,
        };
        let outcome = self.deliver(turn, reply).await?;
        if outcome != Outcome::Replied {
            return Ok(outcome);
        }
        self.store.set_marker(key, MARK_TTL).await?;
        tracing::info!(period_id, "out-of-office message sent");
        Ok(Outcome::OutOfOffice)
    }
}
