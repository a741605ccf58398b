//! `POST /webhooks/chatwoot`: human replies and conversation changes, acknowledged in milliseconds
//! and handled through the chat's queue (Chatwoot gives up after 5 s).

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::{AppState, Handled, observe, read_body, signatures};
use crate::chatwoot::events::{ChatwootEvent, parse_webhook};
use crate::domain::now_ms;

/// Verify, parse and queue one Chatwoot webhook.
pub async fn webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Handled, ApiError> {
    let span = tracing::info_span!(
        "webhook",
        route = "chatwoot",
        chat_id = tracing::field::Empty,
        event = tracing::field::Empty,
        outcome = tracing::field::Empty
    );
    observe("chatwoot", span, handle(&app, &headers, body)).await
}

async fn handle(app: &AppState, headers: &HeaderMap, body: Body) -> Result<Handled, ApiError> {
    let bytes = read_body(headers, body).await?;
    verify(app, headers, &bytes)?;
    let mirror = app
        .settings
        .chatwoot
        .as_ref()
        .map(|cw| (cw.account_id, cw.inbox_id));
    if app.settings.agent_bot.is_some() {
        let default_account = mirror.map(|(account, _)| account);
        if let Some(event) = crate::channel::chatwoot_bot::parse_webhook(&bytes, mirror, default_account)? {
            return queue(app, event).await;
        }
    }
    let Some(cw) = &app.settings.chatwoot else {
        return Ok(Handled::Ignored("Chatwoot is not configured".into()));
    };
    queue(app, parse_webhook(&bytes, cw.account_id, cw.inbox_id)?).await
}

/// One Chatwoot may send account webhooks, API-inbox callbacks (signed with
/// `CHATWOOT_WEBHOOK_SECRET`) and Agent Bot events (signed with the bot's secret) to this route: a
/// body signed with any configured secret is accepted; with no secret configured, none is checked.
fn verify(app: &AppState, headers: &HeaderMap, bytes: &[u8]) -> Result<(), ApiError> {
    let bot = app.settings.agent_bot.as_ref().and_then(|b| b.secret.as_ref());
    let secrets = [app.settings.chatwoot_webhook_secret.as_ref(), bot];
    let mut first_error = None;
    for secret in secrets.into_iter().flatten() {
        match signatures::verify_chatwoot(secret, headers, bytes, now_ms() / 1000) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn queue(app: &AppState, event: ChatwootEvent) -> Result<Handled, ApiError> {
    match event {
        ChatwootEvent::Ignored(reason) => Ok(Handled::Ignored(reason)),
        ChatwootEvent::Queue { dedupe_key, event } => {
            let span = tracing::Span::current();
            let env = crate::domain::Envelope::new(event);
            span.record("chat_id", env.chat_id());
            span.record("event", dedupe_key.split(':').nth(1).unwrap_or(""));
            app.accept_event(&dedupe_key, env.event).await
        }
    }
}
