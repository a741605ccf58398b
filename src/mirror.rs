//! The Chatwoot mirror: which Chatwoot contact and conversation a chat maps to, and the per-chat
//! outbox of messages waiting to be created there.
//!
//! Every message the service creates carries `source_id = "wa-agent:<history entry id>"`: Chatwoot
//! echoes it back on webhooks (that is how echoes are recognised) and a read-through maps it back to
//! the same history entry. Jobs leave the outbox only once Chatwoot took them, in order; a chat whose
//! Chatwoot is down keeps its jobs and is retried later, while its customer is still answered.
//! A customer message with a file is created with the file attached (see [`files`]).
//! Chatwoot's failures are [`OutboundError`]s: a retryable one pauses calls to Chatwoot and defers
//! the job; a 404 means the conversation was deleted, so the chat is mapped afresh once; any other
//! fatal one drops the job. The stored shape of a job is in `records`; the chat's state, which
//! caches the mapping, is [`crate::chat_state`]'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::chat_state::{ChatState, ChatStates};
use crate::chatwoot::{ChatwootClient, MessageType, NewMessage};
use crate::domain::ChannelKind;
use crate::history::{ConversationLookup, LookupError};
use crate::media::{Downloaded, Media};
use crate::outbound::OutboundError;
use crate::store::{Store, StoreError};

mod files;
mod records;

pub use records::MirrorJob;

/// Prefix of every `source_id` the service writes to Chatwoot (defined in `domain`, so `chatwoot`
/// reads it without depending on the mirror).
pub use crate::domain::SOURCE_ID_PREFIX;

/// Why mirroring stopped.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Chatwoot refused or was unreachable.
    #[error(transparent)]
    Chatwoot(#[from] OutboundError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Chatwoot failed recently; calls to it are paused for a while.
    #[error("Chatwoot paused after recent failures")]
    Paused,
}

/// Chatwoot mirroring: the outbox, the conversation mapping and the breaker.
#[derive(Clone)]
pub struct Mirror {
    store: Arc<dyn Store>,
    /// Where the mapping is cached (and a `Status` job's status noted).
    states: ChatStates,
    chatwoot: Option<ChatwootClient>,
    breaker: Arc<Mutex<Breaker>>,
    /// Downloads customers' files for jobs whose turn did not hand them over.
    media: Option<Arc<Media>>,
}

/// Chatwoot's health as this process last saw it. After a failure worth retrying, Chatwoot is left
/// alone for a pause that doubles from [`PAUSE_MIN`] to [`PAUSE_MAX`]: during an outage no turn waits
/// for a timeout, and the outbox is retried at a bounded rate.
#[derive(Debug, Default)]
struct Breaker {
    paused_until: Option<Instant>,
    failures: u32,
}

/// First pause after Chatwoot failed.
const PAUSE_MIN: Duration = Duration::from_secs(2);
/// Longest pause.
const PAUSE_MAX: Duration = Duration::from_secs(30);

impl Mirror {
    /// A mirror over `store`; `chatwoot` `None` mirrors nothing.
    pub fn new(store: Arc<dyn Store>, chatwoot: Option<ChatwootClient>) -> Self {
        Self {
            states: ChatStates::new(store.clone()),
            store,
            chatwoot,
            breaker: Arc::default(),
            media: None,
        }
    }

    /// The mirror, fetching customers' files with `media` for the messages that carry one.
    pub fn with_media(mut self, media: Arc<Media>) -> Self {
        self.media = Some(media);
        self
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Chatwoot client, unless Chatwoot is off or paused after recent failures.
    pub fn reachable(&self) -> Option<&ChatwootClient> {
        let paused = self
            .breaker()
            .paused_until
            .is_some_and(|until| Instant::now() < until);
        if paused { None } else { self.chatwoot.as_ref() }
    }

    /// Record how a Chatwoot call went: a retryable failure pauses Chatwoot, a success ends the pause.
    pub fn record(&self, outcome: Result<(), &OutboundError>) {
        let mut b = self.breaker();
        match outcome {
            Ok(()) => *b = Breaker::default(),
            Err(e) if e.is_retryable() => {
                b.failures = b.failures.saturating_add(1);
                let pause = PAUSE_MIN
                    .saturating_mul(1 << (b.failures - 1).min(8))
                    .min(PAUSE_MAX);
                b.paused_until = Some(Instant::now() + pause);
                tracing::warn!(error = %e, pause_s = pause.as_secs(), "Chatwoot unavailable; pausing calls to it");
            }
            Err(_) => {}
        }
    }

    /// Whether Chatwoot is configured.
    pub fn enabled(&self) -> bool {
        self.chatwoot.is_some()
    }

    /// The Chatwoot client, when configured.
    pub fn chatwoot(&self) -> Option<&ChatwootClient> {
        self.chatwoot.as_ref()
    }

    /// The chat's Chatwoot conversation: the cached mapping, else found (and, with `create`, created).
    /// `known` is the state already read, to spare a store read. `Ok(None)`: Chatwoot is off, or
    /// nothing exists yet and `create` is false.
    pub async fn conversation(
        &self,
        chat_id: &str,
        known: Option<ChatState>,
        create: bool,
    ) -> Result<Option<u64>, MirrorError> {
        let Some(cw) = &self.chatwoot else { return Ok(None) };
        let mut state = match known {
            Some(s) => s,
            None => self.states.get(chat_id).await.unwrap_or_default(),
        };
        let ended = state.status.as_deref() == Some("resolved");
        match state.conversation_id {
            Some(id) if !(create && ended) => return Ok(Some(id)),
            _ => {}
        }
        let contact = match cw.find_contact(chat_id).await? {
            Some(c) => c,
            None if create => cw.create_contact(chat_id, state.name.as_deref()).await?,
            None => return Ok(None),
        };
        let conversation = match cw.find_conversation(contact.id).await? {
            Some(c) => c,
            None if create => {
                let gateway = state.channel.unwrap_or(ChannelKind::Waha).as_str();
                cw.create_conversation(contact.id, chat_id, gateway).await?
            }
            None => return Ok(None),
        };
        state.contact_id = Some(contact.id);
        state.conversation_id = Some(conversation.id);
        state.status = Some(conversation.status.clone());
        state.assignee_id = conversation.assignee_id;
        if let Err(e) = self.states.save(chat_id, &state).await {
            tracing::warn!(chat_id, error = %e, "could not cache the Chatwoot mapping");
        }
        tracing::info!(
            chat_id,
            conversation_id = conversation.id,
            "chat mapped to a Chatwoot conversation"
        );
        Ok(Some(conversation.id))
    }

    /// Forget the cached conversation (it was deleted or can no longer take messages).
    async fn forget_conversation(&self, chat_id: &str) -> Result<(), StoreError> {
        let mut state = self.states.get(chat_id).await?;
        state.conversation_id = None;
        self.states.save(chat_id, &state).await
    }

    /// Make the chat's waiting outbox changes in Chatwoot, in order. Returns how many were made;
    /// stops at the first retryable failure and leaves that job and the rest for a later attempt.
    pub async fn drain(&self, chat_id: &str) -> Result<usize, MirrorError> {
        self.drain_with(chat_id, &HashMap::new()).await
    }

    /// [`Self::drain`], with files the turn already downloaded, by history entry id: a job for one
    /// of them attaches it instead of fetching it again.
    pub async fn drain_with(
        &self,
        chat_id: &str,
        files: &HashMap<String, Downloaded>,
    ) -> Result<usize, MirrorError> {
        if self.chatwoot.is_none() {
            return Ok(0);
        }
        if self.reachable().is_none() {
            return Err(MirrorError::Paused);
        }
        let result = self.drain_reachable(chat_id, files).await;
        match &result {
            Err(MirrorError::Chatwoot(e)) => self.record(Err(e)),
            Ok(n) if *n > 0 => self.record(Ok(())),
            _ => {}
        }
        result
    }

    async fn drain_reachable(
        &self,
        chat_id: &str,
        files: &HashMap<String, Downloaded>,
    ) -> Result<usize, MirrorError> {
        let Some(cw) = &self.chatwoot else { return Ok(0) };
        let mut done = 0;
        let mut forgot = false;
        'outer: loop {
            let batch = self.store.outbox_peek(chat_id, 16).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            // One mapping lookup per batch (a deleted conversation restarts the loop with a new one).
            let Some(conversation) = self.conversation(chat_id, None, true).await? else {
                return Ok(done);
            };
            for raw in batch {
                let Ok(job) = serde_json::from_str::<MirrorJob>(&raw) else {
                    tracing::error!(chat_id, "dropping an unreadable mirror job");
                    self.store.outbox_pop(chat_id, &raw).await?;
                    continue;
                };
                let mut raw = raw;
                match self.apply(cw, chat_id, conversation, &job, &mut raw, files).await {
                    Ok(()) => {
                        self.store.outbox_pop(chat_id, &raw).await?;
                        done += 1;
                        metrics::counter!("wa_agent_mirror_jobs_total", "outcome" => "done").increment(1);
                    }
                    Err(MirrorError::Chatwoot(e)) if e.status() == Some(404) && !forgot => {
                        // The conversation was deleted: map the chat afresh and try again once.
                        forgot = true;
                        self.forget_conversation(chat_id).await?;
                        continue 'outer;
                    }
                    Err(MirrorError::Chatwoot(e)) if !e.is_retryable() => {
                        tracing::error!(chat_id, error = %e, "Chatwoot refused a mirror job; dropped");
                        metrics::counter!("wa_agent_mirror_jobs_total", "outcome" => "refused").increment(1);
                        self.store.outbox_pop(chat_id, &raw).await?;
                    }
                    Err(e) => {
                        metrics::counter!("wa_agent_mirror_jobs_total", "outcome" => "deferred").increment(1);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Make one change. A message whose earlier attempt may have landed is looked up by its
    /// `source_id` first, so a lost response never makes a second copy.
    async fn apply(
        &self,
        cw: &ChatwootClient,
        chat_id: &str,
        conversation: u64,
        job: &MirrorJob,
        raw: &mut String,
        files: &HashMap<String, Downloaded>,
    ) -> Result<(), MirrorError> {
        match job {
            MirrorJob::Contact {
                name,
                email,
                attributes,
            } => {
                let contact = match self.states.get(chat_id).await?.contact_id {
                    Some(id) => id,
                    None => match cw.find_contact(chat_id).await? {
                        Some(c) => c.id,
                        None => return Ok(()),
                    },
                };
                cw.update_contact(contact, name.as_deref(), email.as_deref(), attributes)
                    .await?;
                Ok(())
            }
            MirrorJob::Labels { labels } => {
                cw.add_labels(conversation, labels).await?;
                Ok(())
            }
            MirrorJob::Status { status } => {
                cw.toggle_status(conversation, status).await?;
                let mut state = self.states.get(chat_id).await?;
                state.status = Some(status.clone());
                self.states.save(chat_id, &state).await?;
                Ok(())
            }
            MirrorJob::Message {
                id,
                incoming,
                private,
                text,
                tried,
                media,
            } => {
                let source_id = format!("{SOURCE_ID_PREFIX}{id}");
                if *tried && self.exists(cw, conversation, &source_id).await? {
                    tracing::info!(
                        chat_id,
                        source_id,
                        "mirror job found already created; not created again"
                    );
                    return Ok(());
                }
                if !*tried {
                    let mut marked = job.clone();
                    if let MirrorJob::Message { tried, .. } = &mut marked {
                        *tried = true;
                    }
                    let marked = marked.encode();
                    self.store.outbox_replace_head(chat_id, raw, &marked).await?;
                    *raw = marked;
                }
                let msg = NewMessage {
                    content: text.clone(),
                    message_type: if *incoming {
                        MessageType::Incoming
                    } else {
                        MessageType::Outgoing
                    },
                    private: *private,
                    source_id: Some(source_id),
                };
                match self.file_for(chat_id, id, media.as_deref(), files).await {
                    Some(file) => {
                        cw.create_message_with_attachments(conversation, &msg, &[file])
                            .await?
                    }
                    None => cw.create_message(conversation, &msg).await?,
                };
                Ok(())
            }
        }
    }

    /// Whether a message with `source_id` is among the conversation's latest messages.
    async fn exists(
        &self,
        cw: &ChatwootClient,
        conversation: u64,
        source_id: &str,
    ) -> Result<bool, OutboundError> {
        let mut before = None;
        for _ in 0..3 {
            let page = cw.list_messages(conversation, before).await?;
            if page.iter().any(|m| m.source_id.as_deref() == Some(source_id)) {
                return Ok(true);
            }
            match page.iter().map(|m| m.id).min() {
                Some(oldest) if page.len() >= 20 => before = Some(oldest),
                _ => return Ok(false),
            }
        }
        Ok(false)
    }
}

/// History's view of the mirror: Chatwoot's presence and the conversation mapping, never created.
#[async_trait::async_trait]
impl ConversationLookup for Mirror {
    fn configured(&self) -> bool {
        self.enabled()
    }

    fn reachable(&self) -> Option<&ChatwootClient> {
        Mirror::reachable(self)
    }

    fn record(&self, outcome: Result<(), &OutboundError>) {
        Mirror::record(self, outcome)
    }

    async fn conversation_of(
        &self,
        chat_id: &str,
        known: Option<ChatState>,
    ) -> Result<Option<u64>, LookupError> {
        self.conversation(chat_id, known, false)
            .await
            .map_err(|e| match e {
                MirrorError::Chatwoot(e) => LookupError::Chatwoot(e),
                other => LookupError::Other(other.to_string()),
            })
    }
}
