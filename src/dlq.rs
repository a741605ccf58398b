//! `wa-agent dlq list` and `wa-agent dlq replay <id>|--all`: the operator's side of dead letters.
//!
//! A dead letter holds the inbox entries of work that failed after its retries (the agent or the
//! gateway kept failing, a human reply could not be delivered), with the reason. Replaying puts them
//! back at the end of their chat's inbox in one atomic step, so the chat's worker handles them again;
//! customer messages are marked as already recorded, so the history and Chatwoot get no second copy.
//! The worker writes them ([`DeadLetter::new`]) in a turn's commit; this module only reads and replays.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{Envelope, now_ms};
use crate::store::{Store, StoreError};

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
    /// The dead letter of `envelopes`, failed at `failed_at` (Unix ms) for `reason`.
    pub fn new(chat_id: &str, reason: String, envelopes: &[Envelope], failed_at: i64) -> Self {
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
            failed_at,
            envelopes,
        }
    }
}

/// Every dead letter, oldest first (unreadable entries are skipped with a warning).
pub async fn list(store: &Arc<dyn Store>) -> Result<Vec<DeadLetter>, StoreError> {
    let mut letters: Vec<DeadLetter> = store
        .dead_letters()
        .await?
        .iter()
        .filter_map(|raw| match serde_json::from_str(raw) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable dead letter skipped");
                None
            }
        })
        .collect();
    letters.sort_by_key(|d| d.failed_at);
    Ok(letters)
}

/// One line per dead letter for the terminal.
pub fn describe(d: &DeadLetter) -> String {
    let age = (now_ms() - d.failed_at).max(0) / 1000;
    format!(
        "{}  chat={}  failed {}s ago  entries={}  reason: {}",
        d.id,
        d.chat_id,
        age,
        d.envelopes.len(),
        d.reason
    )
}

/// Replay dead letter `id` (or all when `None`). Returns the ids replayed.
pub async fn replay(store: &Arc<dyn Store>, id: Option<&str>) -> Result<Vec<String>, StoreError> {
    let mut done = Vec::new();
    for d in list(store).await? {
        if id.is_some_and(|want| want != d.id) {
            continue;
        }
        if store.replay_dead_letter(&d.id, &d.chat_id, &d.envelopes).await? {
            tracing::info!(dead_letter = %d.id, chat_id = %d.chat_id, "dead letter replayed");
            done.push(d.id);
        }
    }
    Ok(done)
}
