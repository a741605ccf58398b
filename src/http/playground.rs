//! The browser playground: `GET /playground` (one self-contained page, embedded in the binary) and its
//! API on the `web` channel, `POST /playground/api/messages` and `GET /playground/api/events`.
//!
//! A message from the page is queued exactly like a gateway's webhook ([`AppState::accept`]), as a chat
//! `web:{id}`, so the same turn engine answers it (debounce, memory, gate, exactly once, Chatwoot
//! mirror). Replies come back through [`crate::channel::web::WebChannel`] into the chat's event log,
//! which [`events`] streams. Invariants: the routes exist only while `PLAYGROUND` is on (else 404);
//! with `PLAYGROUND_TOKEN` set every API call needs it (`Authorization: Bearer`, or `?token=` on the
//! event stream, which an `EventSource` cannot give headers), compared in constant time; bad input is a
//! 400 with a JSON body, like the webhooks.

mod events;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::{AppState, Handled, WebhookAnswer, observe, read_body};
use crate::channel::web::{new_chat_id, valid_chat_id};
use crate::domain::{ChannelKind, InboundMessage, ParseError};

/// Longest message the page may send, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

const PAGE: &str = include_str!("playground/index.html");

/// The playground's routes, added to the router while `PLAYGROUND` is on.
pub fn routes(router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    router
        .route("/playground", get(page))
        .route("/playground/api/messages", post(message))
        .route("/playground/api/events", get(events::stream))
}

/// The page. It is told whether to ask for the token; the token itself never appears in it.
async fn page(State(app): State<Arc<AppState>>) -> Response {
    let required = if app.settings.playground_token.is_some() {
        "true"
    } else {
        "false"
    };
    let html = PAGE.replace("{{TOKEN_REQUIRED}}", required);
    let mut resp = Html(html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

/// Check the playground token: `Authorization: Bearer …`, or `query_token` where a route allows it.
fn authorize(app: &AppState, headers: &HeaderMap, query_token: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = &app.settings.playground_token else {
        return Ok(());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(given) = bearer.or(query_token).filter(|t| !t.is_empty()) else {
        return Err(ApiError::Unauthorized(
            "the playground needs its token: Authorization: Bearer <PLAYGROUND_TOKEN>".into(),
        ));
    };
    // Digests first, so the comparison takes as long whatever the lengths.
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.expose_secret().as_bytes());
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("wrong playground token".into()))
    }
}

/// `POST /playground/api/messages` body.
#[derive(Debug, Deserialize)]
struct NewMessage {
    #[serde(default)]
    chat_id: Option<String>,
    text: String,
}

/// What the message route answers.
#[derive(Debug)]
struct Accepted {
    chat_id: String,
    message_id: String,
    handled: Handled,
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        let duplicate = matches!(self.handled, Handled::Accepted { duplicate: true });
        Json(json!({
            "status": "accepted",
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "duplicate": duplicate,
        }))
        .into_response()
    }
}

impl WebhookAnswer for Accepted {
    fn outcome(&self) -> &'static str {
        self.handled.outcome()
    }
    fn ignored_reason(&self) -> Option<&str> {
        self.handled.ignored_reason()
    }
}

/// Check and queue one message from the page.
async fn message(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Accepted, ApiError> {
    let span = tracing::info_span!(
        "webhook",
        route = "playground",
        chat_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
        outcome = tracing::field::Empty
    );
    observe("playground", span, async {
        authorize(&app, &headers, None)?;
        let bytes = read_body(&headers, body).await?;
        let message = parse_message(&bytes)?;
        let span = tracing::Span::current();
        span.record("chat_id", message.chat_id.as_str());
        span.record("message_id", message.message_id.as_str());
        let (chat_id, message_id) = (message.chat_id.clone(), message.message_id.clone());
        let handled = app.accept(&message_id, message).await?;
        Ok(Accepted {
            chat_id,
            message_id,
            handled,
        })
    })
    .await
}

/// The page's JSON as a customer message of a `web:` chat (a new chat when it names none). Fails
/// with the one [`ParseError`] of every intake, answered as a 400 by its `From` impl.
fn parse_message(bytes: &[u8]) -> Result<InboundMessage, ParseError> {
    let body: NewMessage = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ParseError::InvalidPayload(format!("body: {e}")),
        _ => ParseError::InvalidJson(e.to_string()),
    })?;
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ParseError::InvalidPayload("text: must not be empty".into()));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ParseError::InvalidPayload(format!(
            "text: {chars} characters; at most {MAX_TEXT_CHARS}"
        )));
    }
    let chat_id = match body.chat_id.map(|c| c.trim().to_owned()) {
        None => new_chat_id(),
        Some(c) if valid_chat_id(&c) => c,
        Some(_) => {
            return Err(ParseError::InvalidPayload(
                "chat_id: expected web: followed by 8 to 64 letters, digits, - or _".into(),
            ));
        }
    };
    Ok(InboundMessage {
        channel: ChannelKind::Web,
        chat_id,
        message_id: format!("w{}", uuid::Uuid::new_v4().simple()),
        text: text.to_owned(),
        sender_name: None,
        timestamp: crate::domain::now_ms() / 1000,
        media: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_checked_before_they_are_queued() {
        let m = parse_message(br#"{"text":"  Hoi  "}"#).unwrap();
        assert!(valid_chat_id(&m.chat_id) && m.text == "Hoi" && m.channel == ChannelKind::Web);
        let m = parse_message(br#"{"chat_id":"web:abcdefgh","text":"x"}"#).unwrap();
        assert_eq!(m.chat_id, "web:abcdefgh");
        let long = format!(r#"{{"text":"{}"}}"#, "é".repeat(MAX_TEXT_CHARS + 1));
        let exact = format!(r#"{{"text":"{}"}}"#, "é".repeat(MAX_TEXT_CHARS));
        assert!(parse_message(exact.as_bytes()).is_ok());
        let cases: [(&[u8], &str); 6] = [
            (b"{", "invalid_json"),
            (br#"{"text":"   "}"#, "invalid_payload"),
            (br#"{"chat_id":"31641238876@c.us","text":"x"}"#, "invalid_payload"),
            (br#"{"chat":"x"}"#, "invalid_payload"),
            (br#"{"text":5}"#, "invalid_payload"),
            (long.as_bytes(), "invalid_payload"),
        ];
        for (body, code) in cases {
            let e = ApiError::from(parse_message(body).unwrap_err());
            assert_eq!(e.code(), code, "{}", String::from_utf8_lossy(body));
        }
    }
}
