//! `GET /webhooks/meta` (Meta's verification handshake) and the Meta-specific steps of
//! `POST /webhooks/meta` (Cloud API notifications), which runs through the one intake skeleton
//! ([`super::intake::webhook`]).
//!
//! The handshake answers `hub.challenge` as plain text only when `hub.mode` is `subscribe` and
//! `hub.verify_token` equals `META_VERIFY_TOKEN` (compared in constant time); anything else, or no
//! token configured, is 403. A notification is verified (`X-Hub-Signature-256`, when `META_APP_SECRET`
//! is set) on the raw bytes, parsed, and every message in it for this phone number
//! (`META_PHONE_NUMBER_ID`, when set) is accepted on its wamid; statuses are only counted. Meta
//! retries a whole batch on any non-200, so one message that cannot be queued makes the answer 503 and
//! dedupe absorbs the ones already queued when the batch comes again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::intake::WebhookChannel;
use super::{AppState, Handled, WebhookAnswer, count_webhook, signatures};
use crate::channel::meta::{MetaMessage, MetaNotification, parse_notification};
use crate::domain::ParseError;

/// What a notification came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaAnswer {
    /// At least one message was queued now or before: `{"status":"accepted","accepted":n,"duplicates":d}`.
    Accepted {
        /// Messages queued by this delivery.
        accepted: usize,
        /// Messages that were already queued.
        duplicates: usize,
    },
    /// Nothing for the agent: `{"status":"ignored","reason":…}`.
    Ignored(String),
}

impl WebhookAnswer for MetaAnswer {
    fn outcome(&self) -> &'static str {
        match self {
            MetaAnswer::Accepted { accepted: 0, .. } => "duplicate",
            MetaAnswer::Accepted { .. } => "accepted",
            MetaAnswer::Ignored(_) => "ignored",
        }
    }
    fn ignored_reason(&self) -> Option<&str> {
        match self {
            MetaAnswer::Ignored(reason) => Some(reason),
            MetaAnswer::Accepted { .. } => None,
        }
    }
}

impl IntoResponse for MetaAnswer {
    fn into_response(self) -> Response {
        let body = match self {
            MetaAnswer::Accepted { accepted, duplicates } => {
                json!({"status": "accepted", "accepted": accepted, "duplicates": duplicates})
            }
            MetaAnswer::Ignored(reason) => json!({"status": "ignored", "reason": reason}),
        };
        Json(body).into_response()
    }
}

/// The verification handshake.
pub async fn verify(
    State(app): State<Arc<AppState>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let params = query.map(|Query(q)| q).unwrap_or_default();
    let result = check_handshake(&app, &params);
    count_webhook(
        "meta_verify",
        if result.is_ok() {
            "verified"
        } else {
            "unauthorized"
        },
    );
    match result {
        Ok(challenge) => {
            tracing::info!("Meta webhook verification answered");
            let content_type = HeaderValue::from_static("text/plain; charset=utf-8");
            ([(header::CONTENT_TYPE, content_type)], challenge).into_response()
        }
        Err(e) => {
            tracing::info!(error = %e, "Meta webhook verification refused");
            e.into_response()
        }
    }
}

fn check_handshake(app: &AppState, params: &HashMap<String, String>) -> Result<String, ApiError> {
    let Some(expected) = &app.settings.meta.verify_token else {
        return Err(ApiError::Forbidden(
            "webhook verification is not enabled (META_VERIFY_TOKEN is not set)".into(),
        ));
    };
    if params.get("hub.mode").map(String::as_str) != Some("subscribe") {
        return Err(ApiError::Forbidden("hub.mode must be subscribe".into()));
    }
    let given = params.get("hub.verify_token").map_or("", String::as_str);
    if !bool::from(expected.expose_secret().as_bytes().ct_eq(given.as_bytes())) {
        return Err(ApiError::Forbidden("hub.verify_token does not match".into()));
    }
    match params.get("hub.challenge") {
        Some(challenge) if !challenge.is_empty() => Ok(challenge.clone()),
        _ => Err(ApiError::Forbidden("hub.challenge is missing".into())),
    }
}

/// `POST /webhooks/meta`: a notification, verified with `X-Hub-Signature-256` when `META_APP_SECRET`
/// is set, carries a batch of messages and statuses.
pub(super) struct Meta;

impl WebhookChannel for Meta {
    const ROUTE: &'static str = "meta";
    type Parsed = MetaNotification;
    type Answer = MetaAnswer;

    fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        match &app.settings.meta.app_secret {
            Some(secret) => signatures::verify_meta(secret, headers, body),
            None => Ok(()),
        }
    }

    fn parse(_app: &AppState, body: &[u8]) -> Result<MetaNotification, ParseError> {
        parse_notification(body)
    }

    fn accept(
        app: &AppState,
        notification: MetaNotification,
    ) -> impl Future<Output = Result<MetaAnswer, ApiError>> + Send {
        accept_batch(app, notification)
    }
}

/// Queue every message of a notification meant for this phone number, on its wamid; count the
/// statuses. The first message that cannot be queued makes the whole answer 503.
async fn accept_batch(app: &AppState, notification: MetaNotification) -> Result<MetaAnswer, ApiError> {
    let span = tracing::Span::current();
    span.record("messages", notification.messages.len());
    span.record("statuses", notification.statuses.len());
    let MetaNotification {
        messages,
        statuses,
        mut ignored,
    } = notification;
    let own_number = app.settings.meta.phone_number_id.as_deref();
    let (mut accepted, mut duplicates) = (0, 0);
    for MetaMessage {
        phone_number_id,
        message,
    } in messages
    {
        if own_number.is_some() && phone_number_id.is_some() && phone_number_id.as_deref() != own_number {
            ignored.push("message for another phone number".into());
            continue;
        }
        let (chat_id, wamid) = (message.chat_id.clone(), message.message_id.clone());
        match app.accept(&wamid, message).await? {
            Handled::Accepted { duplicate: false } => accepted += 1,
            Handled::Accepted { duplicate: true } => duplicates += 1,
            Handled::Ignored(reason) => ignored.push(reason),
        }
        tracing::debug!(%chat_id, message_id = %wamid, "message queued");
    }
    for status in &statuses {
        let label = status_label(&status.status);
        metrics::counter!("wa_agent_gateway_statuses_total", "gateway" => "meta", "status" => label)
            .increment(1);
    }
    if accepted + duplicates > 0 {
        return Ok(MetaAnswer::Accepted { accepted, duplicates });
    }
    Ok(MetaAnswer::Ignored(ignored_reason(&ignored, statuses.len())))
}

/// The metric label of a status: Meta's known statuses, else `other` (the label set stays bounded).
fn status_label(status: &str) -> &'static str {
    match status {
        "sent" => "sent",
        "delivered" => "delivered",
        "read" => "read",
        "played" => "played",
        "failed" => "failed",
        "deleted" => "deleted",
        "warning" => "warning",
        _ => "other",
    }
}

/// One sentence for an answer that queued nothing: the distinct reasons, or what the body held.
fn ignored_reason(ignored: &[String], statuses: usize) -> String {
    let mut distinct: Vec<&str> = Vec::new();
    for reason in ignored {
        if !distinct.contains(&reason.as_str()) {
            distinct.push(reason);
        }
    }
    match (distinct.is_empty(), statuses) {
        (false, _) => distinct.join("; "),
        (true, 0) => "no messages".into(),
        (true, _) => "status updates only".into(),
    }
}
