//! The history's memory beyond the window: the block arithmetic ([`block_limit`], [`block_drop`],
//! [`store_cap`]) and the chat's summary, kept in the store (`summary:{chat}`, with the history's
//! TTL) and as the Chatwoot conversation custom attribute [`SUMMARY_ATTRIBUTE`].
//!
//! Invariants: a list never holds more than 1.5 × the window after a successful drop, nor more than
//! [`store_cap`] whatever happens; the summary is read from Chatwoot only on a cold read (and then
//! cached), and written there by read, merge, write, keeping the conversation's other attributes.

use super::History;

/// The conversation custom attribute holding the chat's summary in Chatwoot.
pub const SUMMARY_ATTRIBUTE: &str = "wa_agent_summary";

/// Most entries the list holds before a whole block leaves it: 1.5 × `window` (at least one more).
pub fn block_limit(window: usize) -> usize {
    window + (window / 2).max(1)
}

/// How many of the oldest of `len` entries leave the window now: none up to [`block_limit`], else
/// all but the newest `window` (one whole block), so the list's beginning stays put between drops.
pub fn block_drop(len: usize, window: usize) -> usize {
    if len > block_limit(window) {
        len - window
    } else {
        0
    }
}

/// Most entries the store keeps whatever happens (a summary that keeps failing delays the drop).
pub fn store_cap(window: usize) -> usize {
    window.saturating_mul(3)
}

impl History {
    /// The chat's summary: the store's copy, else (when `cold`, the history was just read from
    /// Chatwoot) the conversation's [`SUMMARY_ATTRIBUTE`], which is then cached.
    pub async fn summary(&self, chat_id: &str, conversation: Option<u64>, cold: bool) -> Option<String> {
        match self.store.summary(chat_id).await {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(e) => tracing::warn!(chat_id, error = %e, "summary cache unavailable"),
        }
        if !cold {
            return None;
        }
        let cw = self.conversations.reachable()?;
        let conversation = match conversation {
            Some(c) => c,
            None => self.conversations.conversation_of(chat_id, None).await.ok()??,
        };
        let attributes = match cw.conversation_attributes(conversation).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(chat_id, error = %e, "could not read the summary from Chatwoot");
                return None;
            }
        };
        let summary = attributes.get(SUMMARY_ATTRIBUTE)?.as_str()?.trim().to_owned();
        if summary.is_empty() {
            return None;
        }
        if let Err(e) = self.store.save_summary(chat_id, &summary, self.ttl).await {
            tracing::warn!(chat_id, error = %e, "could not cache the summary");
        }
        Some(summary)
    }

    /// Keep the chat's new summary in the store and in the Chatwoot conversation.
    pub async fn save_summary(
        &self,
        chat_id: &str,
        conversation: Option<u64>,
        summary: &str,
    ) -> Result<(), crate::store::StoreError> {
        self.store.save_summary(chat_id, summary, self.ttl).await?;
        let Some(cw) = self.conversations.reachable() else {
            return Ok(());
        };
        let conversation = match conversation {
            Some(c) => Some(c),
            None => self
                .conversations
                .conversation_of(chat_id, None)
                .await
                .ok()
                .flatten(),
        };
        if let Some(conversation) = conversation {
            let value = serde_json::Value::String(summary.to_owned());
            if let Err(e) = cw
                .merge_conversation_attribute(conversation, SUMMARY_ATTRIBUTE, value)
                .await
            {
                self.conversations.record(Err(&e));
                tracing::warn!(chat_id, error = %e, "could not keep the summary in Chatwoot");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{block_drop, block_limit, store_cap};

    #[test]
    fn the_window_moves_in_whole_blocks() {
        assert_eq!(block_limit(20), 30);
        assert_eq!(block_limit(1), 2, "at least one entry of slack");
        assert_eq!(block_drop(30, 20), 0, "up to 1.5 × the window nothing leaves");
        assert_eq!(
            block_drop(31, 20),
            11,
            "over it, everything but the newest window leaves"
        );
        assert_eq!(block_drop(32, 20), 12);
        let mut len = 0;
        let mut drops = 0;
        for _ in 0..100 {
            len += 2;
            let d = block_drop(len, 20);
            drops += usize::from(d > 0);
            len -= d;
            assert!((0..=30).contains(&len));
        }
        assert_eq!(
            drops, 15,
            "one drop every 6 turns of two entries, not one per turn"
        );
        assert_eq!(store_cap(20), 60);
    }
}
