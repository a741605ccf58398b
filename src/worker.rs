//! The per-chat turn: the only place that sequences history, agent, gateway and mirroring.
//!
//! A turn answers every message in the chat's inbox at once: load the history (without those
//! messages), ask the agent, make sure nothing new arrived meanwhile, send the reply through the
//! gateway the chat came from, then commit (history append + inbox trim + mirror jobs, atomically)
//! and mirror to Chatwoot. Customer messages are recorded even when the agent or the gateway fails,
//! so the chat's memory never loses what the customer said.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::agent::{Agent, AgentInput};
use crate::domain::{ChatEvent, Envelope, GatewayKind, HistoryEntry, InboundMessage, Role, now_ms};
use crate::gateway::Gateway;
use crate::history::History;
use crate::mirror::{Mirror, MirrorJob};
use crate::queue::{Lease, Tuning, with_retries};
use crate::store::{Release, Store, StoreError, TurnCommit};

/// Drafts thrown away in a row (because the customer kept writing) before one is sent anyway.
const MAX_SUPERSEDED: u32 = 5;
/// Attempts for each external call within a turn.
const ATTEMPTS: u32 = 3;

/// The gateways replies can go out through.
#[derive(Clone)]
pub struct Gateways {
    /// WAHA (or its log-only stand-in).
    pub waha: Arc<dyn Gateway>,
    /// The Cloud API (or its log-only stand-in).
    pub meta: Arc<dyn Gateway>,
}

impl Gateways {
    /// The gateway of `kind`.
    pub fn get(&self, kind: GatewayKind) -> &Arc<dyn Gateway> {
        match kind {
            GatewayKind::Waha => &self.waha,
            GatewayKind::Meta => &self.meta,
        }
    }
}

/// Everything a turn needs.
pub struct Worker {
    /// The state layer.
    pub store: Arc<dyn Store>,
    /// Chat history.
    pub history: History,
    /// Chatwoot mirror and chat state.
    pub mirror: Mirror,
    /// The agent.
    pub agent: Arc<dyn Agent>,
    /// Outgoing gateways.
    pub gateways: Gateways,
    /// The system prompt.
    pub system_prompt: String,
}

/// How one turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Replied,
    Superseded,
    AgentFailed,
    SendFailed,
    LeaseLost,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Replied => "replied",
            Outcome::Superseded => "superseded",
            Outcome::AgentFailed => "agent_failed",
            Outcome::SendFailed => "send_failed",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

impl Worker {
    /// Run the chat's turns while we hold its lease, until its inbox is empty and the lease is
    /// released. `Err`: the store failed; the caller leaves the chat for reclaim.
    pub async fn run_chat(
        &self,
        chat_id: &str,
        holder: &str,
        lease: &Lease,
        tuning: &Tuning,
        shutdown: &CancellationToken,
    ) -> Result<(), StoreError> {
        let mut superseded = 0;
        loop {
            if lease.is_lost() {
                return Ok(());
            }
            let inbox = self.store.inbox(chat_id).await?;
            if inbox.is_empty() {
                match self.store.release_lease_if_idle(chat_id, holder).await? {
                    Release::Released | Release::Lost => return Ok(()),
                    Release::WorkWaiting => continue,
                }
            }
            if shutdown.is_cancelled() {
                return Err(StoreError("shutting down with work waiting".into()));
            }
            let newest = inbox.iter().map(|e| e.accepted_ms).max().unwrap_or(0);
            let debounce_ms = i64::try_from(tuning.debounce.as_millis()).unwrap_or(i64::MAX);
            let wait = newest.saturating_add(debounce_ms) - now_ms();
            if wait > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            let may_supersede = superseded < MAX_SUPERSEDED;
            match self.turn(chat_id, &inbox, lease, may_supersede).await? {
                Outcome::Superseded => superseded += 1,
                Outcome::LeaseLost => return Ok(()),
                _ => superseded = 0,
            }
        }
    }

    /// One turn over `inbox` (everything waiting for the chat, oldest first).
    async fn turn(
        &self,
        chat_id: &str,
        inbox: &[Envelope],
        lease: &Lease,
        may_supersede: bool,
    ) -> Result<Outcome, StoreError> {
        let messages: Vec<&InboundMessage> = inbox
            .iter()
            .map(|e| match &e.event {
                ChatEvent::Customer(m) => m,
            })
            .collect();
        let Some(last) = messages.last() else {
            return Ok(Outcome::Replied);
        };
        let span = tracing::info_span!(
            "turn",
            chat_id = %chat_id,
            message_id = %last.message_id,
            messages = messages.len(),
            history_source = tracing::field::Empty,
            history_count = tracing::field::Empty,
            outcome = tracing::field::Empty,
            turn_ms = tracing::field::Empty,
        );
        self.turn_inner(chat_id, inbox, &messages, lease, may_supersede)
            .instrument(span)
            .await
    }

    async fn turn_inner(
        &self,
        chat_id: &str,
        inbox: &[Envelope],
        messages: &[&InboundMessage],
        lease: &Lease,
        may_supersede: bool,
    ) -> Result<Outcome, StoreError> {
        let started = Instant::now();
        let span = tracing::Span::current();
        let last = messages[messages.len() - 1];
        let state = match self
            .mirror
            .note_customer(chat_id, last.gateway, last.sender_name.as_deref())
            .await
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "chat state unavailable");
                None
            }
        };
        let exclude: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        let loaded = self.history.load(chat_id, state, &exclude).await;
        span.record("history_source", loaded.source.as_str());
        span.record("history_count", loaded.entries.len());
        metrics::counter!("wa_agent_history_loads_total", "source" => loaded.source.as_str()).increment(1);
        metrics::histogram!("wa_agent_history_entries").record(loaded.entries.len() as f64);

        let texts: Vec<String> = messages.iter().map(|m| m.text.clone()).collect();
        let asked = Instant::now();
        let reply = with_retries("llm", ATTEMPTS, Duration::from_millis(500), || {
            self.agent.reply(AgentInput {
                system_prompt: &self.system_prompt,
                history: &loaded.entries,
                new_messages: &texts,
            })
        })
        .await;
        metrics::histogram!("wa_agent_agent_duration_seconds").record(asked.elapsed().as_secs_f64());

        if may_supersede
            && self
                .store
                .inbox(chat_id)
                .await
                .is_ok_and(|now| now.len() > inbox.len())
        {
            tracing::info!("customer wrote again while the agent was thinking; draft dropped");
            return Ok(self.finish(Outcome::Superseded, started));
        }
        if lease.is_lost() {
            return Ok(self.finish(Outcome::LeaseLost, started));
        }

        let mut entries: Vec<HistoryEntry> = if loaded.in_store {
            Vec::new()
        } else {
            loaded.entries.clone()
        };
        let mut jobs: Vec<String> = Vec::new();
        for (m, env) in messages.iter().zip(inbox) {
            let at = if m.timestamp > 0 {
                m.timestamp.saturating_mul(1000)
            } else {
                env.accepted_ms
            };
            entries.push(HistoryEntry {
                id: m.message_id.clone(),
                role: Role::Customer,
                text: m.text.clone(),
                at,
            });
            jobs.push(
                MirrorJob {
                    id: m.message_id.clone(),
                    incoming: true,
                    text: m.text.clone(),
                }
                .encode(),
            );
        }

        let outcome = match reply {
            Err(e) => {
                tracing::error!(error = %e, "the agent failed; the customer's messages are recorded without a reply");
                Outcome::AgentFailed
            }
            Ok(reply) => {
                let gateway = self.gateways.get(last.gateway);
                let sent_at = Instant::now();
                let sent = with_retries("gateway", ATTEMPTS, Duration::from_millis(500), || {
                    gateway.send_text(chat_id, &reply.text)
                })
                .await;
                metrics::histogram!("wa_agent_gateway_send_duration_seconds", "gateway" => last.gateway.as_str())
                    .record(sent_at.elapsed().as_secs_f64());
                match sent {
                    Ok(_) => {
                        let id = format!("r-{}", last.message_id);
                        entries.push(HistoryEntry {
                            id: id.clone(),
                            role: Role::Agent,
                            text: reply.text.clone(),
                            at: now_ms(),
                        });
                        jobs.push(
                            MirrorJob {
                                id,
                                incoming: false,
                                text: reply.text,
                            }
                            .encode(),
                        );
                        Outcome::Replied
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "sending the reply failed");
                        Outcome::SendFailed
                    }
                }
            }
        };

        let commit = TurnCommit {
            consumed: inbox.len(),
            entries: &entries,
            window: self.history.window(),
            ttl: self.history.ttl(),
            mirror_jobs: &jobs,
        };
        with_retries("store", 5, Duration::from_millis(200), || {
            self.store.commit_turn(chat_id, &commit)
        })
        .await?;
        match self.mirror.drain(chat_id).await {
            Ok(n) if n > 0 => tracing::debug!(mirrored = n, "mirrored to Chatwoot"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Chatwoot mirror waits in the outbox"),
        }
        Ok(self.finish(outcome, started))
    }

    fn finish(&self, outcome: Outcome, started: Instant) -> Outcome {
        let span = tracing::Span::current();
        let ms = started.elapsed().as_millis() as u64;
        span.record("outcome", outcome.as_str());
        span.record("turn_ms", ms);
        metrics::counter!("wa_agent_turns_total", "outcome" => outcome.as_str()).increment(1);
        metrics::histogram!("wa_agent_turn_duration_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(outcome = outcome.as_str(), turn_ms = ms, "turn finished");
        outcome
    }
}
