//! `POST /webhooks/waha`.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::{AppState, Handled, observe, read_body, signatures};
use crate::gateway::waha::{WahaEvent, WahaParseError, parse_webhook};

/// Verify, parse and queue one WAHA webhook.
pub async fn webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Handled, ApiError> {
    let span = tracing::info_span!(
        "webhook",
        route = "waha",
        chat_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
        outcome = tracing::field::Empty
    );
    observe("waha", span, handle(&app, &headers, body)).await
}

async fn handle(app: &AppState, headers: &HeaderMap, body: Body) -> Result<Handled, ApiError> {
    let bytes = read_body(headers, body).await?;
    if let Some(key) = &app.settings.waha_webhook_hmac_key {
        signatures::verify_waha(key, headers, &bytes)?;
    }
    match parse_webhook(&bytes, app.settings.allow_groups) {
        Err(WahaParseError::InvalidJson(m)) => {
            Err(ApiError::InvalidJson(format!("the body is not JSON: {m}")))
        }
        Err(WahaParseError::InvalidPayload(m)) => Err(ApiError::InvalidPayload(m)),
        Ok(WahaEvent::Ignored { reason }) => Ok(Handled::Ignored(reason)),
        Ok(WahaEvent::Message { session, message }) => {
            let span = tracing::Span::current();
            span.record("chat_id", message.chat_id.as_str());
            span.record("message_id", message.message_id.as_str());
            let dedupe_id = format!("{session}:{}", message.message_id);
            app.accept(&dedupe_id, message).await
        }
    }
}
