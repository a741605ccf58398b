//! The one intake skeleton of the channels whose webhook carries one message: read the raw body (size
//! and content type checked) → verify the sender → parse with the channel's parser → accept into the
//! chat's inbox. A channel plugs in by implementing [`WebhookChannel`]; parse errors are the one
//! [`ParseError`](crate::domain::ParseError), turned into `400` JSON errors by its `From` impl.
//!
//! Invariant: 200 is answered only once the message is durably queued (or is a duplicate of one that
//! is); a sender's mistake is a 4xx, never a 5xx.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::{AppState, Handled, observe, read_body, signatures};
use crate::domain::{InboundMessage, ParseError};

/// What a channel's parser made of one webhook.
pub(super) enum Parsed {
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

/// A channel's webhook route: how its sender is verified and its body parsed.
pub(super) trait WebhookChannel: Send + Sync + 'static {
    /// The route's name in logs and metrics (`waha`, `evolution`).
    const ROUTE: &'static str;
    /// Checks the sender (signature or key) on the raw bytes; `Ok` when nothing is configured.
    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError>;
    /// Parses the raw bytes.
    fn parse(app: &AppState, body: &[u8]) -> Result<Parsed, ParseError>;
}

/// The generic webhook handler: `POST /webhooks/{C::ROUTE}`.
pub(super) async fn webhook<C: WebhookChannel>(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Handled, ApiError> {
    let span = tracing::info_span!(
        "webhook",
        route = C::ROUTE,
        chat_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
        outcome = tracing::field::Empty
    );
    observe(C::ROUTE, span, async {
        let bytes = read_body(&headers, body).await?;
        C::verify(&app, &headers, &bytes)?;
        match C::parse(&app, &bytes)? {
            Parsed::Ignored(reason) => Ok(Handled::Ignored(reason)),
            Parsed::Message { dedupe_id, message } => {
                let span = tracing::Span::current();
                span.record("chat_id", message.chat_id.as_str());
                span.record("message_id", message.message_id.as_str());
                app.accept(&dedupe_id, message).await
            }
        }
    })
    .await
}

/// `POST /webhooks/waha`.
pub(super) struct Waha;

impl WebhookChannel for Waha {
    const ROUTE: &'static str = "waha";

    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        match &app.settings.waha_webhook_hmac_key {
            Some(key) => signatures::verify_waha(key, headers, body),
            None => Ok(()),
        }
    }

    fn parse(app: &AppState, body: &[u8]) -> Result<Parsed, ParseError> {
        use crate::channel::waha::{WahaEvent, parse_webhook};
        Ok(match parse_webhook(body, app.settings.allow_groups)? {
            WahaEvent::Ignored { reason } => Parsed::Ignored(reason),
            WahaEvent::Message { session, message } => Parsed::Message {
                dedupe_id: format!("{session}:{}", message.message_id),
                message,
            },
        })
    }
}

/// `POST /webhooks/evolution`.
pub(super) struct Evolution;

impl WebhookChannel for Evolution {
    const ROUTE: &'static str = "evolution";

    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        match app.settings.evolution.as_ref().and_then(|e| e.api_key.as_ref()) {
            Some(key) => signatures::verify_evolution(key, headers, body),
            None => Ok(()),
        }
    }

    fn parse(app: &AppState, body: &[u8]) -> Result<Parsed, ParseError> {
        use crate::channel::evolution::{EvolutionEvent, parse_webhook};
        Ok(match parse_webhook(body, app.settings.allow_groups)? {
            EvolutionEvent::Ignored { reason } => Parsed::Ignored(reason),
            EvolutionEvent::Message { instance, message } => Parsed::Message {
                dedupe_id: format!("{instance}:{}", message.message_id),
                message,
            },
        })
    }
}
