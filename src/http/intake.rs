//! The one intake skeleton of every webhook route: read the raw body (size and content type checked)
//! → verify the sender → parse with the channel's parser → accept into the chats' inboxes. A route
//! plugs in by implementing [`WebhookChannel`]: WAHA and Evolution here (one message per webhook, one
//! shared accept step), Meta in [`super::meta`] (a batch per notification) and Chatwoot in
//! [`super::chatwoot`] (human replies, conversation changes and Agent Bot events).
//!
//! Invariants: 200 is answered only once everything to queue is durably queued (or is a duplicate of
//! something that is); a sender's mistake is a 4xx, never a 5xx. Every parser fails with the one
//! [`ParseError`], turned into a `400` JSON error by its one `From` impl: no route maps parse errors
//! by hand. Every route runs in one `webhook` span with the same fields (`route`, `request_id`,
//! `chat_id`, `message_id`, `event`, `messages`, `statuses`); a route records those it knows, the
//! others stay empty and are not logged. The outcome is a field of the webhook's own log line.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;

use super::error::ApiError;
use super::{AppState, Handled, WebhookAnswer, observe, read_body, signatures};
use crate::domain::{InboundMessage, ParseError};

/// A webhook route: how its sender is verified, its body parsed and the result accepted.
pub(super) trait WebhookChannel: Send + Sync + 'static {
    /// The route's name in logs and metrics (`waha`, `evolution`, `meta`, `chatwoot`).
    const ROUTE: &'static str;
    /// What the parser made of one body.
    type Parsed: Send;
    /// What the route answers once the body is accepted.
    type Answer: WebhookAnswer + IntoResponse + Send;
    /// Checks the sender (signature or key) on the raw bytes; `Ok` when nothing is configured.
    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError>;
    /// Parses the raw bytes (already verified).
    fn parse(app: &AppState, body: &[u8]) -> Result<Self::Parsed, ParseError>;
    /// Queues what was parsed, recording what it knows into the current `webhook` span.
    fn accept(
        app: &AppState,
        parsed: Self::Parsed,
    ) -> impl Future<Output = Result<Self::Answer, ApiError>> + Send;
}

/// The generic webhook handler: `POST /webhooks/{C::ROUTE}`.
pub(super) async fn webhook<C: WebhookChannel>(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<C::Answer, ApiError> {
    let span = tracing::info_span!(
        "webhook",
        route = C::ROUTE,
        request_id = super::request_id(&headers),
        chat_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
        event = tracing::field::Empty,
        messages = tracing::field::Empty,
        statuses = tracing::field::Empty,
    );
    observe(C::ROUTE, span, async {
        let bytes = read_body(&headers, body).await?;
        C::verify(&app, &headers, &bytes)?;
        let parsed = C::parse(&app, &bytes)?;
        C::accept(&app, parsed).await
    })
    .await
}

/// What a one-message channel's parser made of one webhook.
pub(super) enum Single {
    /// A message to queue; `dedupe_id` is unique per message (the channel's prefix is added).
    Message {
        /// The channel's stable id of this delivery's message (e.g. `{session}:{id}`).
        dedupe_id: String,
        /// The normalised message.
        message: InboundMessage,
    },
    /// A well-formed event the agent does not answer, and why.
    Ignored(String),
}

/// Record the chat and message ids into the current `webhook` span in one go (each separate record
/// re-formats the span's fields); nothing when the span is disabled.
pub(super) fn record_ids(chat_id: &str, message_id: &str) {
    let span = tracing::Span::current();
    let Some(meta) = span.metadata() else {
        return;
    };
    let fields = meta.fields();
    if let (Some(chat), Some(message)) = (fields.field("chat_id"), fields.field("message_id")) {
        span.record_all(&fields.value_set(&[
            (&chat, Some(&chat_id as &dyn tracing::Value)),
            (&message, Some(&message_id as &dyn tracing::Value)),
        ]));
    }
}

/// The accept step of the one-message channels: queue the message on its dedupe id.
async fn accept_single(app: &AppState, parsed: Single) -> Result<Handled, ApiError> {
    match parsed {
        Single::Ignored(reason) => Ok(Handled::Ignored(reason)),
        Single::Message { dedupe_id, message } => {
            record_ids(&message.chat_id, &message.message_id);
            app.accept(&dedupe_id, message).await
        }
    }
}

/// `POST /webhooks/waha`.
pub(super) struct Waha;

impl WebhookChannel for Waha {
    const ROUTE: &'static str = "waha";
    type Parsed = Single;
    type Answer = Handled;

    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        match &app.settings.waha_webhook_hmac_key {
            Some(key) => signatures::verify_waha(key, headers, body),
            None => Ok(()),
        }
    }

    fn parse(app: &AppState, body: &[u8]) -> Result<Single, ParseError> {
        use crate::channel::waha::{WahaEvent, parse_webhook};
        Ok(match parse_webhook(body, app.settings.allow_groups)? {
            WahaEvent::Ignored { reason } => Single::Ignored(reason),
            WahaEvent::Message { session, message } => Single::Message {
                dedupe_id: format!("{session}:{}", message.message_id),
                message,
            },
        })
    }

    fn accept(app: &AppState, parsed: Single) -> impl Future<Output = Result<Handled, ApiError>> + Send {
        accept_single(app, parsed)
    }
}

/// `POST /webhooks/evolution`.
pub(super) struct Evolution;

impl WebhookChannel for Evolution {
    const ROUTE: &'static str = "evolution";
    type Parsed = Single;
    type Answer = Handled;

    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        match app.settings.evolution.as_ref().and_then(|e| e.api_key.as_ref()) {
            Some(key) => signatures::verify_evolution(key, headers, body),
            None => Ok(()),
        }
    }

    fn parse(app: &AppState, body: &[u8]) -> Result<Single, ParseError> {
        use crate::channel::evolution::{EvolutionEvent, parse_webhook};
        Ok(match parse_webhook(body, app.settings.allow_groups)? {
            EvolutionEvent::Ignored { reason } => Single::Ignored(reason),
            EvolutionEvent::Message { instance, message } => Single::Message {
                dedupe_id: format!("{instance}:{}", message.message_id),
                message,
            },
        })
    }

    fn accept(app: &AppState, parsed: Single) -> impl Future<Output = Result<Handled, ApiError>> + Send {
        accept_single(app, parsed)
    }
}
