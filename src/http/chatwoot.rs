//! The Chatwoot-specific steps of `POST /webhooks/chatwoot`, which runs through the one intake
//! skeleton ([`super::intake::webhook`]): human replies, conversation changes and Agent Bot events,
//! acknowledged in milliseconds and handled through the chat's queue (Chatwoot gives up after 5 s).
//!
//! Invariants: a body signed with any configured secret (`CHATWOOT_WEBHOOK_SECRET`, the Agent Bot's)
//! is accepted, and with none configured none is checked. A body is read as an Agent Bot event first
//! (when the bot is configured); only what the bot's parser leaves (the mirror's inbox, events naming
//! no inbox) is read by the mirror's parser, and without a mirror it is ignored.

use std::future::Future;

use axum::http::HeaderMap;

use super::error::ApiError;
use super::intake::WebhookChannel;
use super::{AppState, Handled, signatures};
use crate::chatwoot::events::{ChatwootEvent, parse_webhook};
use crate::domain::{ParseError, now_ms};

/// `POST /webhooks/chatwoot`.
pub(super) struct Chatwoot;

impl WebhookChannel for Chatwoot {
    const ROUTE: &'static str = "chatwoot";
    type Parsed = ChatwootEvent;
    type Answer = Handled;

    /// One Chatwoot may send account webhooks, API-inbox callbacks (signed with
    /// `CHATWOOT_WEBHOOK_SECRET`) and Agent Bot events (signed with the bot's secret) to this route:
    /// a body signed with any configured secret is accepted; with no secret configured, none is
    /// checked. When every secret fails, the first one's error is answered.
    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        let bot = app.settings.agent_bot.as_ref().and_then(|b| b.secret.as_ref());
        let secrets = [app.settings.chatwoot_webhook_secret.as_ref(), bot];
        let mut first_error = None;
        for secret in secrets.into_iter().flatten() {
            match signatures::verify_chatwoot(secret, headers, body, now_ms() / 1000) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The Agent Bot's parser first (when the bot is configured), then the mirror's.
    fn parse(app: &AppState, body: &[u8]) -> Result<ChatwootEvent, ParseError> {
        let mirror = app
            .settings
            .chatwoot
            .as_ref()
            .map(|cw| (cw.account_id, cw.inbox_id));
        if app.settings.agent_bot.is_some() {
            let default_account = mirror.map(|(account, _)| account);
            if let Some(event) = crate::channel::chatwoot_bot::parse_webhook(body, mirror, default_account)? {
                return Ok(event);
            }
        }
        match &app.settings.chatwoot {
            Some(cw) => parse_webhook(body, cw.account_id, cw.inbox_id),
            None => Ok(ChatwootEvent::Ignored("Chatwoot is not configured".into())),
        }
    }

    fn accept(
        app: &AppState,
        event: ChatwootEvent,
    ) -> impl Future<Output = Result<Handled, ApiError>> + Send {
        queue(app, event)
    }
}

/// Queue one event under its dedupe key (`chatwoot:{event}:{id}` and the like).
async fn queue(app: &AppState, event: ChatwootEvent) -> Result<Handled, ApiError> {
    match event {
        ChatwootEvent::Ignored(reason) => Ok(Handled::Ignored(reason)),
        ChatwootEvent::Queue { dedupe_key, event } => {
            let span = tracing::Span::current();
            let env = crate::domain::Envelope::new(event);
            span.record("chat_id", env.chat_id());
            // A customer's message is always `message_created`; the Agent Bot's dedupe key
            // (`chatwoot_bot:{account}:{id}`) does not name the event, the mirror's keys do.
            let label = match &env.event {
                crate::domain::ChatEvent::Customer(_) => "message_created",
                _ => dedupe_key.split(':').nth(1).unwrap_or(""),
            };
            span.record("event", label);
            app.accept_event(&dedupe_key, env.event).await
        }
    }
}
