//! Memory beyond the window (behaviour 11): after a turn's commit, a history grown past 1.5 ×
//! `HISTORY_WINDOW` loses its oldest block, folded first into the chat's summary by the agent.
//!
//! Invariants: this runs after the reply was sent and committed, under the chat's lease (a worker
//! that lost the lease drops nothing); a summary call that fails leaves the old summary and the
//! block in place, so the next turn tries again; with `HISTORY_SUMMARY=false` (or an agent that makes
//! no summaries, like the echo agent) the block is dropped without a summary.

use super::{ATTEMPTS, BACKOFF, Worker};
use crate::chat_state::ChatState;
use crate::history::block_drop;
use crate::queue::Lease;
use crate::retry::with_retries;
use crate::store::StoreError;

impl Worker {
    /// Drop a whole block from the front of the chat's history when it is over the limit, folding it
    /// into the summary first.
    pub(super) async fn fold_history(
        &self,
        chat_id: &str,
        state: &ChatState,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        let Some(entries) = self.store.history(chat_id).await? else {
            return Ok(());
        };
        let drop = block_drop(entries.len(), self.history.window());
        if drop == 0 {
            return Ok(());
        }
        let block = &entries[..drop];
        if self.history_summary {
            let previous = self.history.summary(chat_id, state.conversation_id, false).await;
            let summary = with_retries("llm", ATTEMPTS, BACKOFF, || {
                self.agent.summarize(previous.as_deref(), block)
            })
            .await;
            match summary {
                Ok(Some(summary)) => {
                    if !lease.confirm().await? {
                        return Ok(());
                    }
                    self.history
                        .save_summary(chat_id, state.conversation_id, &summary)
                        .await?;
                    metrics::counter!("wa_agent_summaries_total", "outcome" => "ok").increment(1);
                }
                Ok(None) => {}
                Err(e) => {
                    metrics::counter!("wa_agent_summaries_total", "outcome" => "failed").increment(1);
                    tracing::warn!(error = %e, "the summary failed; the block stays and is tried again next turn");
                    return Ok(());
                }
            }
        }
        if !lease.confirm().await? {
            return Ok(());
        }
        self.store.drop_history_front(chat_id, drop).await?;
        tracing::debug!(
            dropped = drop,
            kept = entries.len() - drop,
            "a block left the history window"
        );
        Ok(())
    }
}
