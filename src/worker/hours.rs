//! The turn's gate over working hours ([`Worker::gate`]) and the out-of-office message: sent once per chat and closed period to a customer whom neither the
//! bot nor a human will answer now (behaviour 10; the decision is [`crate::gate::decide`]'s).
//!
//! Invariant: the mark `ooo:{chat}:{period}` is written only after the message went out, under the
//! chat's lease, so two messages of one closed period get one out-of-office message, and a send that
//! failed is tried again by the next message.

use std::time::Duration;

use super::{Outcome, Record, Worker};
use crate::agent::AgentReply;
use crate::domain::{ChannelKind, Envelope};
use crate::gate::{self, Decision, GateInput, Team};
use crate::hours::source::HoursNow;
use crate::mirror::ChatState;
use crate::queue::Lease;
use crate::store::{Marker, StoreError};

/// How long the once-per-period mark is kept: longer than any closed period of a weekly schedule.
const MARK_TTL: Duration = Duration::from_secs(9 * 86_400);

impl Worker {
    /// The hours now and the gate's decision for this turn (an operator's replay is always answered).
    pub(super) fn gate(
        &self,
        state: &ChatState,
        replay: bool,
        bot_user: Option<u64>,
    ) -> (HoursNow, Decision) {
        let hours = self.hours.at(jiff::Timestamp::now());
        let decision = if replay {
            Decision::Answer
        } else {
            gate::decide(&GateInput {
                bot_hours: hours.bot_hours,
                team: Team::from(&hours.status),
                human_holds: !state.agent_may_answer(bot_user),
            })
        };
        (hours, decision)
    }

    /// Send the out-of-office message unless this chat had it in this closed period (or it is empty).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn out_of_office(
        &self,
        chat_id: &str,
        channel: ChannelKind,
        turn_id: &str,
        period_id: &str,
        hours: &HoursNow,
        state: &mut ChatState,
        record: &mut Record,
        run: &[Envelope],
        lease: &Lease,
    ) -> Result<Outcome, StoreError> {
        let text = hours.out_of_office_message.trim();
        if text.is_empty() {
            tracing::info!("nobody answers now and there is no out-of-office message; silent");
            return Ok(Outcome::Silenced);
        }
        let key = Marker::OutOfOfficeSent {
            chat: chat_id,
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
        let outcome = self
            .deliver(chat_id, channel, turn_id, reply, state, record, run, lease)
            .await?;
        if outcome != Outcome::Replied {
            return Ok(outcome);
        }
        self.store.set_marker(key, MARK_TTL).await?;
        tracing::info!(period_id, "out-of-office message sent");
        Ok(Outcome::OutOfOffice)
    }
}
