//! Per-chat history: the store's list is the cache, Chatwoot the system of record behind it.
//!
//! - Writes happen the moment an exchange happens, in the turn's atomic commit (`Store::commit_turn`).
//! - A miss pages back through Chatwoot's list-messages API (`before=`) until the window is full and
//!   fills the cache (read-through) without clobbering an append that raced with the fill.
//! - A store error falls back to Chatwoot, so the turn goes on while Redis is down.
//! - Chatwoot messages map back to history ids through their `wa-agent:` `source_id`, so a message the
//!   service mirrored is never counted twice. Private notes, activity messages and empty ones are skipped.
//! - The window moves in blocks: the list grows from `HISTORY_WINDOW` to 1.5 × that many entries
//!   ([`block_limit`]), then a whole block leaves at once ([`block_drop`]), folded into the chat's
//!   summary (kept in the store and as a Chatwoot conversation custom attribute), so consecutive
//!   prompts share their beginning. The store never holds more than [`store_cap`] entries.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::chat_state::ChatState;
use crate::chatwoot::{ChatwootClient, Message};
use crate::domain::{HistoryEntry, Role, SOURCE_ID_PREFIX};
use crate::outbound::OutboundError;
use crate::store::{Marker, Store};

mod memory;

/// What history asks of whoever knows the chats' Chatwoot conversations (the mirror): whether
/// Chatwoot is there, and where a chat's conversation is. History never creates one.
#[async_trait]
pub trait ConversationLookup: Send + Sync {
    /// Whether Chatwoot is configured: the system of record behind the store's cache.
    fn configured(&self) -> bool;
    /// The Chatwoot client, unless Chatwoot is off or paused after recent failures.
    fn reachable(&self) -> Option<&ChatwootClient>;
    /// Report how a Chatwoot call went (a retryable failure pauses calls to Chatwoot).
    fn record(&self, outcome: Result<(), &OutboundError>);
    /// The chat's conversation, when one exists; `known` is the chat's state already read.
    async fn conversation_of(
        &self,
        chat_id: &str,
        known: Option<ChatState>,
    ) -> Result<Option<u64>, LookupError>;
}

/// Why a conversation could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Chatwoot refused or was unreachable.
    #[error(transparent)]
    Chatwoot(#[from] OutboundError),
    /// Anything else (the store, a pause).
    #[error("{0}")]
    Other(String),
}

pub use memory::{SUMMARY_ATTRIBUTE, block_drop, block_limit, store_cap};

/// Pages read back at most on a miss (20 messages a page).
const MAX_PAGES: usize = 50;
/// Where a turn's history came from; logged and counted per turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistorySource {
    /// The Redis list (Chatwoot configured behind it).
    Cache,
    /// Read through from Chatwoot (a miss, or the store failed).
    Chatwoot,
    /// The store alone: no Chatwoot configured (or Chatwoot failed on a miss).
    Store,
}

impl HistorySource {
    /// Label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            HistorySource::Cache => "cache",
            HistorySource::Chatwoot => "chatwoot",
            HistorySource::Store => "store",
        }
    }
}

/// A loaded history.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Entries, oldest first, at most the window.
    pub entries: Vec<HistoryEntry>,
    /// Where they came from.
    pub source: HistorySource,
    /// Whether the store holds them (else the turn's commit must start the list with them).
    pub in_store: bool,
    /// Whether they are the whole history up to the window: `false` when Chatwoot could not be read
    /// for a miss. The turn then marks the chat's history incomplete, and the next load reads Chatwoot
    /// again and fills in what is missing.
    pub complete: bool,
}

/// History over the store, read through from Chatwoot.
#[derive(Clone)]
pub struct History {
    store: Arc<dyn Store>,
    conversations: Arc<dyn ConversationLookup>,
    window: usize,
    ttl: Duration,
}

impl History {
    /// History keeping `window` entries for `ttl` after the last write, reading through from the
    /// conversations `conversations` finds.
    pub fn new(
        store: Arc<dyn Store>,
        conversations: Arc<dyn ConversationLookup>,
        window: usize,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            conversations,
            window,
            ttl,
        }
    }

    /// `HISTORY_WINDOW`: the fewest entries kept after a block leaves.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Most entries the store keeps ([`store_cap`]).
    pub fn cap(&self) -> usize {
        store_cap(self.window)
    }

    /// Idle time after which a chat's cached history expires.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The chat's history for a turn, without the entries whose ids are in `exclude` (the messages
    /// the turn is about to answer, should a replay find them recorded already).
    pub async fn load(&self, chat_id: &str, state: Option<ChatState>, exclude: &HashSet<&str>) -> Loaded {
        let loaded = match self.store.history(chat_id).await {
            Ok(Some(entries)) if self.incomplete(chat_id).await => {
                self.complete_cached(chat_id, state, entries).await
            }
            Ok(Some(entries)) => {
                let source = if self.conversations.configured() {
                    HistorySource::Cache
                } else {
                    HistorySource::Store
                };
                Loaded {
                    entries,
                    source,
                    in_store: true,
                    complete: true,
                }
            }
            Ok(None) => {
                let mut loaded = self.read_through(chat_id, state).await;
                if loaded.complete && loaded.source == HistorySource::Chatwoot && !loaded.entries.is_empty() {
                    match self
                        .store
                        .fill_history(chat_id, &loaded.entries, self.cap(), self.ttl)
                        .await
                    {
                        Ok(()) => loaded.in_store = true,
                        Err(e) => tracing::warn!(chat_id, error = %e, "could not fill the history cache"),
                    }
                }
                loaded
            }
            Err(e) => {
                tracing::warn!(chat_id, error = %e, "history cache unavailable; reading Chatwoot");
                self.read_through(chat_id, state).await
            }
        };
        self.finish(loaded, exclude)
    }

    /// Whether the chat's cached history was started while Chatwoot could not be read.
    async fn incomplete(&self, chat_id: &str) -> bool {
        self.conversations.configured()
            && self
                .store
                .has_marker(Marker::HistoryIncomplete(chat_id))
                .await
                .unwrap_or(false)
    }

    /// Mark (or unmark) the chat's cached history as missing what Chatwoot holds.
    pub async fn mark_incomplete(&self, chat_id: &str) {
        if let Err(e) = self
            .store
            .set_marker(Marker::HistoryIncomplete(chat_id), self.ttl)
            .await
        {
            tracing::warn!(chat_id, error = %e, "could not mark the history incomplete");
        }
    }

    /// A cached history that misses older messages: read Chatwoot again and put them in front.
    async fn complete_cached(
        &self,
        chat_id: &str,
        state: Option<ChatState>,
        cached: Vec<HistoryEntry>,
    ) -> Loaded {
        let source = HistorySource::Cache;
        let read = self.read_through(chat_id, state).await;
        if !read.complete || read.entries.is_empty() {
            return Loaded {
                entries: cached,
                source,
                in_store: true,
                complete: read.complete,
            };
        }
        if let Err(e) = self
            .store
            .fill_history(chat_id, &read.entries, self.cap(), self.ttl)
            .await
        {
            tracing::warn!(chat_id, error = %e, "could not complete the history cache");
        } else if let Err(e) = self.store.clear_marker(Marker::HistoryIncomplete(chat_id)).await {
            tracing::warn!(chat_id, error = %e, "could not clear the incomplete mark");
        }
        match self.store.history(chat_id).await {
            Ok(Some(entries)) => Loaded {
                entries,
                source: HistorySource::Chatwoot,
                in_store: true,
                complete: true,
            },
            _ => Loaded {
                entries: cached,
                source,
                in_store: true,
                complete: true,
            },
        }
    }

    fn finish(&self, mut loaded: Loaded, exclude: &HashSet<&str>) -> Loaded {
        loaded.entries.retain(|e| !exclude.contains(e.id.as_str()));
        if loaded.entries.len() > self.cap() {
            loaded.entries.drain(..loaded.entries.len() - self.cap());
        }
        loaded
    }

    async fn read_through(&self, chat_id: &str, state: Option<ChatState>) -> Loaded {
        let empty = Loaded {
            entries: Vec::new(),
            source: HistorySource::Store,
            in_store: false,
            complete: false,
        };
        let Some(cw) = self.conversations.reachable() else {
            return Loaded {
                complete: !self.conversations.configured(),
                ..empty
            };
        };
        let conversation = match self.conversations.conversation_of(chat_id, state).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Loaded {
                    source: HistorySource::Chatwoot,
                    complete: true,
                    ..empty
                };
            }
            Err(e) => {
                if let LookupError::Chatwoot(e) = &e {
                    self.conversations.record(Err(e));
                }
                tracing::warn!(chat_id, error = %e, "Chatwoot unavailable for the history read-through");
                return empty;
            }
        };
        let mut entries: Vec<HistoryEntry> = Vec::new();
        let mut before = None;
        for _ in 0..MAX_PAGES {
            let page = match cw.list_messages(conversation, before).await {
                Ok(p) => p,
                Err(e) => {
                    self.conversations.record(Err(&e));
                    tracing::warn!(chat_id, error = %e, "Chatwoot list-messages failed mid read-through");
                    return Loaded { entries, ..empty };
                }
            };
            let Some(oldest) = page.iter().map(|m| m.id).min() else {
                break;
            };
            let mut older = from_chatwoot(&page);
            older.append(&mut entries);
            entries = older;
            if entries.len() >= self.window || before == Some(oldest) {
                break;
            }
            before = Some(oldest);
        }
        dedupe_ids(&mut entries);
        // A cold read starts a fresh block: what lies before the window is in the summary.
        if entries.len() > self.window {
            entries.drain(..entries.len() - self.window);
        }
        Loaded {
            entries,
            source: HistorySource::Chatwoot,
            in_store: false,
            complete: true,
        }
    }
}

/// Keep the first entry of each id.
fn dedupe_ids(entries: &mut Vec<HistoryEntry>) {
    let mut seen = HashSet::new();
    entries.retain(|e| seen.insert(e.id.clone()));
}

/// Chatwoot REST messages (ascending) as history entries: private notes, activity and empty messages
/// skipped; `wa-agent:` source ids mapped back to the service's own ids.
pub fn from_chatwoot(messages: &[Message]) -> Vec<HistoryEntry> {
    messages
        .iter()
        .filter(|m| !m.private)
        .filter_map(|m| {
            let text = m.content.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
            let ours = m
                .source_id
                .as_deref()
                .and_then(|s| s.strip_prefix(SOURCE_ID_PREFIX));
            let role = match m.message_type {
                0 => Role::Customer,
                1 | 3 if ours.is_some() && m.message_type == 1 => Role::Agent,
                1 | 3 => Role::Human,
                _ => return None,
            };
            let id = ours.map(str::to_owned).unwrap_or_else(|| format!("cw-{}", m.id));
            Some(HistoryEntry {
                id,
                role,
                text: text.to_owned(),
                at: m.created_at.saturating_mul(1000),
            })
        })
        .collect()
}
