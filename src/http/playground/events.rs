//! `GET /playground/api/events?chat_id=…`: a web chat's event log as server-sent events.
//!
//! Each logged event goes out once, in order, as `event: reply|typing|note`, `id: {event id}` and its
//! JSON as `data:`. A connection starts after `Last-Event-ID` (the header a reconnecting `EventSource`
//! sends, or `last_event_id=` in the query for a page that opens a new one), else at the start of the
//! log, so a reply logged while the page was away is delivered on reconnect. The stream polls the store
//! (every instance sees every chat), ends when shutdown begins or after [`MAX_STREAM`] (the browser
//! reconnects by itself), and keeps idle proxies awake with comments.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use super::authorize;
use crate::channel::web::{WebEvent, valid_chat_id};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::store::{EventId, LoggedEvent, Store};

/// How often an open stream looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// Longest life of one connection; the browser reconnects with `Last-Event-ID`.
const MAX_STREAM: Duration = Duration::from_secs(15 * 60);
/// Events read from the store at once.
const BATCH: usize = 100;
/// What the page's `EventSource` waits before reconnecting.
const RECONNECT: Duration = Duration::from_secs(1);

/// The query of the events route.
#[derive(Debug, Deserialize)]
pub(super) struct EventsQuery {
    #[serde(default)]
    chat_id: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    last_event_id: Option<String>,
}

/// Open a chat's event stream.
pub(super) async fn stream(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidPayload(format!("query: {e}")))?;
    authorize(&app, &headers, query.token.as_deref())?;
    let chat_id = match query.chat_id.as_deref().map(str::trim) {
        Some(c) if valid_chat_id(c) => c.to_owned(),
        Some(_) => {
            return Err(ApiError::InvalidPayload(
                "chat_id: expected web: followed by 8 to 64 letters, digits, - or _".into(),
            ));
        }
        None => return Err(ApiError::InvalidPayload("chat_id: missing".into())),
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id)
        .filter(|v| !v.trim().is_empty());
    let after = match last {
        None => None,
        Some(raw) => Some(
            raw.parse::<EventId>()
                .map_err(|e| ApiError::InvalidPayload(format!("Last-Event-ID: {e}, got {raw:?}")))?,
        ),
    };
    tracing::debug!(chat_id, after = ?after, "playground event stream opened");
    let flags = (app.accepting.clone(), app.draining.clone());
    let events = chat_stream(app.store.clone(), flags, chat_id, after);
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}

struct Cursor {
    store: Arc<dyn Store>,
    accepting: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    chat_id: String,
    after: Option<EventId>,
    ready: VecDeque<LoggedEvent>,
    opened: Instant,
    greeted: bool,
}

/// The events of `chat_id` after `after`, as they are logged.
fn chat_stream(
    store: Arc<dyn Store>,
    (accepting, draining): (Arc<AtomicBool>, Arc<AtomicBool>),
    chat_id: String,
    after: Option<EventId>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let cursor = Cursor {
        store,
        accepting,
        draining,
        chat_id,
        after,
        ready: VecDeque::new(),
        opened: Instant::now(),
        greeted: false,
    };
    stream::unfold(cursor, |mut c| async move {
        if !c.greeted {
            c.greeted = true;
            return Some((Ok(Event::default().retry(RECONNECT).comment("open")), c));
        }
        loop {
            if let Some(logged) = c.ready.pop_front() {
                c.after = Some(logged.id);
                match serde_json::from_str::<WebEvent>(&logged.body) {
                    Ok(ev) => {
                        let event = Event::default()
                            .id(logged.id.to_string())
                            .event(ev.event)
                            .data(ev.data.to_string());
                        return Some((Ok(event), c));
                    }
                    Err(e) => {
                        tracing::warn!(chat_id = %c.chat_id, error = %e, "unreadable playground event skipped");
                        continue;
                    }
                }
            }
            // A draining instance ends its streams (the listener closes once they have), and the
            // page reconnects, to another instance, from its Last-Event-ID: nothing is lost.
            let stopping = c.draining.load(Ordering::SeqCst) || !c.accepting.load(Ordering::SeqCst);
            if stopping || c.opened.elapsed() > MAX_STREAM {
                return None;
            }
            match c.store.chat_events_after(&c.chat_id, c.after, BATCH).await {
                Ok(batch) if !batch.is_empty() => c.ready.extend(batch),
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    tracing::debug!(chat_id = %c.chat_id, error = %e, "playground events unavailable; retrying");
                    tokio::time::sleep(POLL * 4).await;
                }
            }
        }
    })
}
