//! The answer arm: the agent is asked (with its tools), and its reply is delivered unless the
//! customer wrote again meanwhile, the lease was lost, or a human took the conversation.
//!
//! Invariants: read marks and typing start before the agent is asked and typing stops whatever the
//! arm's end; a dropped draft records nothing (its tool calls are remembered in the [`TurnMemo`] so
//! the rerun does not make them again); an agent that failed hands the chat to a human and leaves a
//! dead letter; the gate is checked once more before anything is sent (not for an operator's replay).

use std::time::Instant;

use super::delivery::TypingGuard;
use super::tool_calls;
use super::turn::{Gathered, Rerun, Turn};
use super::{Outcome, Worker};
use crate::agent::AgentInput;
use crate::agent::prompt::{PromptContext, changing_tail};
use crate::agent::tool_loop::{self, LoopOutcome, LoopSettings, TurnMemo};
use crate::store::StoreError;

impl Worker {
    /// Ask the agent and deliver its reply.
    pub(super) async fn answer(
        &self,
        turn: &mut Turn<'_>,
        gathered: &Gathered,
        rerun: Rerun<'_>,
    ) -> Result<Outcome, StoreError> {
        let ids = turn
            .run
            .iter()
            .filter_map(|e| e.customer())
            .map(|m| m.message_id.clone())
            .collect();
        self.presence(turn.chat_id, turn.channel, Some(ids));
        let looped = self.ask_agent(turn, gathered, rerun.memo).await;
        let _typing = TypingGuard {
            worker: self,
            chat_id: turn.chat_id,
            channel: turn.channel,
        };
        if rerun.may_supersede && self.customer_wrote_again(turn.chat_id, turn.run.len()).await {
            tracing::info!("customer wrote again while the agent was thinking; draft dropped");
            return Ok(Outcome::Superseded);
        }
        if turn.lease.is_lost() {
            return Ok(Outcome::LeaseLost);
        }
        self.record_tool_calls(turn, &looped.calls).await;
        self.note_tool_calls(turn.chat_id, turn.channel, &looped.calls)
            .await;
        match looped.reply {
            Err(e) => {
                let reason = format!("the agent failed: {e}");
                self.hand_over(turn, &reason);
                turn.record.dead_letter = Some(self.dead_letter(turn.chat_id, reason, turn.run));
                Ok(Outcome::AgentFailed)
            }
            Ok(_) if !gathered.replay && !self.still_ours(turn).await => {
                tracing::info!("the conversation was handed to a human meanwhile; reply dropped");
                Ok(Outcome::Silenced)
            }
            Ok(reply) => self.deliver(turn, reply).await,
        }
    }

    /// The agent's tool loop over the history, the new messages (with their images) and the
    /// changing tail (time, summary, profile).
    async fn ask_agent(&self, turn: &Turn<'_>, gathered: &Gathered, memo: &mut TurnMemo) -> LoopOutcome {
        let texts: Vec<String> = gathered.media.iter().map(|p| p.text.clone()).collect();
        let images: Vec<Option<String>> = gathered.media.iter().map(|p| p.image_url.clone()).collect();
        let cold = gathered.loaded.source == crate::history::HistorySource::Chatwoot;
        let summary = match self.history_summary {
            true => {
                self.history
                    .summary(turn.chat_id, turn.state.conversation_id, cold)
                    .await
            }
            false => None,
        };
        // The profile changes as `update_contact` records it: it belongs to the changing tail, so
        // the system prompt and the history stay a stable, cacheable prefix.
        let profile = turn
            .state
            .profile
            .iter()
            .map(|(k, v)| format!("- {k}: {v}"))
            .collect::<Vec<_>>();
        let tail = changing_tail(&PromptContext {
            time: Some(gathered.hours.status.describe()),
            summary,
            profile: Some(profile.join("\n")),
        });
        let input = AgentInput {
            system_prompt: &self.system_prompt,
            history: &gathered.loaded.entries,
            new_messages: &texts,
            new_images: &images,
            offer_handoff: self.mirror.enabled() || turn.record.unmirrored,
            tail: tail.as_deref(),
        };
        let settings = LoopSettings {
            registry: &self.tools,
            max_steps: self.max_steps,
            timeout: self.tool_timeout,
        };
        let asked = Instant::now();
        let looped = tool_loop::run(self.agent.as_ref(), input, settings, memo).await;
        metrics::histogram!("wa_agent_agent_duration_seconds").record(asked.elapsed().as_secs_f64());
        let span = tracing::Span::current();
        span.record("steps", looped.steps);
        if !looped.calls.is_empty() {
            span.record("tools", tool_calls::summary(&looped.calls).as_str());
        }
        looped
    }

    /// Whether new customer messages arrived behind the `consumed` ones.
    async fn customer_wrote_again(&self, chat_id: &str, consumed: usize) -> bool {
        self.store
            .inbox(chat_id)
            .await
            .is_ok_and(|now| now.get(consumed).is_some_and(|e| e.customer().is_some()))
    }
}
