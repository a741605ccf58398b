//! The HTTP surface: webhook intake, the browser playground, health, readiness and metrics.
//!
//! Every webhook route is the one skeleton of `intake::webhook`: read the raw body (size and content type
//! checked), verify the signature on those bytes, parse, and hand over to [`crate::queue::accept_event`].
//! 200 is answered only once the message is durably queued.

mod chatwoot;
pub mod error;
mod intake;
mod meta;
mod playground;
pub mod signatures;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::domain::{ChatEvent, InboundMessage};
use crate::store::{Accept, Store};
use error::ApiError;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Time a sender has to deliver its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared state of the HTTP handlers. The router holds it behind one `Arc` (handlers take
/// `State<Arc<AppState>>`), so a request clones a pointer, not each field.
pub struct AppState {
    /// Settings.
    pub settings: Arc<Settings>,
    /// The store (queue, dedupe).
    pub store: Arc<dyn Store>,
    /// Prometheus renderer.
    pub metrics: PrometheusHandle,
    /// False when intake must answer 503 (shutdown of an instance on the embedded store, whose queue
    /// dies with it). With Redis it stays true through the drain: any instance can work what is queued.
    pub accepting: Arc<AtomicBool>,
    /// True once shutdown began: `/ready` answers 503 `draining` so load balancers move away, while
    /// `/health`, `/metrics` and (with Redis) the webhooks are still served until the process exits.
    pub draining: Arc<AtomicBool>,
}

/// The router. Webhook routes are mounted when `with_webhooks` (roles `all` and `api`).
///
/// tower-http keeps the limits: [`TimeoutLayer`] answers 408 when a request takes longer than
/// [`REQUEST_TIMEOUT`] (a slow sender's unfinished body included), and [`RequestBodyLimitLayer`] on the
/// webhook and playground routes refuses a declared `Content-Length` over [`BODY_LIMIT`] before the
/// handler runs and cuts a longer streamed body off ([`read_body`] answers 413 for it). Their own
/// answers are given the JSON of every error by [`json_errors`].
pub fn router(state: AppState, with_webhooks: bool) -> Router {
    let mut app = Router::new();
    if with_webhooks {
        app = app
            .route("/webhooks/waha", post(intake::webhook::<intake::Waha>))
            .route("/webhooks/evolution", post(intake::webhook::<intake::Evolution>))
            .route(
                "/webhooks/meta",
                get(meta::verify).post(intake::webhook::<meta::Meta>),
            )
            .route("/webhooks/chatwoot", post(intake::webhook::<chatwoot::Chatwoot>));
        if state.settings.playground {
            app = playground::routes(app);
        }
        app = app.route_layer(RequestBodyLimitLayer::new(BODY_LIMIT));
    }
    app.route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Arc::new(state))
        .layer(DefaultBodyLimit::disable())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<Body>| {
            // A webhook's span is its `webhook` span (with the request id): one span per request.
            if req.uri().path().starts_with("/webhooks/") {
                return tracing::Span::none();
            }
            let id = request_id(req.headers());
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(json_errors))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal.into_response()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The answers the limit layers give themselves (an empty 408, a plain-text 413) as the JSON error
/// every other answer uses: `408 request_timeout`, `413 payload_too_large`. Answers that are JSON
/// already, and every other status, pass unchanged.
async fn json_errors(response: Response) -> Response {
    let error = match response.status() {
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(BODY_LIMIT),
        _ => return response,
    };
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    if is_json { response } else { error.into_response() }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(app): State<Arc<AppState>>) -> Response {
    if app.draining.load(Ordering::SeqCst) {
        let accepting = app.accepting.load(Ordering::SeqCst);
        let body = json!({
            "status": "draining",
            "down": ["draining"],
            "accepting_webhooks": accepting,
            "detail": if accepting {
                "shutting down: running turns are finishing; webhooks are still queued for the other instances"
            } else {
                "shutting down: running turns are finishing; webhooks are refused (the embedded queue stops with this process)"
            },
        });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    match app.store.ping().await {
        Ok(()) => Json(json!({"status": "ready", "store": app.store.kind()})).into_response(),
        Err(e) => {
            let body = json!({"status": "unavailable", "down": [app.store.kind()], "error": e.to_string()});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn metrics_text(State(app): State<Arc<AppState>>) -> Response {
    if let Ok(Ok(stats)) = tokio::time::timeout(Duration::from_millis(500), app.store.queue_stats()).await {
        metrics::gauge!("wa_agent_queue_pending_signals").set(stats.pending_signals as f64);
        metrics::gauge!("wa_agent_queue_oldest_age_seconds")
            .set(stats.oldest_age_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
        metrics::gauge!("wa_agent_dead_letters").set(stats.dead_letters as f64);
    }
    let mut resp = app.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Read a webhook body: JSON content type (415), at most [`BODY_LIMIT`] bytes (413; a declared
/// `Content-Length` over it is refused earlier by the routes' [`RequestBodyLimitLayer`]).
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/json"
            && !(essence.starts_with("application/") && essence.ends_with("+json"))
        {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type must be application/json, got {essence:?}"
            )));
        }
    }
    // The router's RequestBodyLimitLayer already limits the body to BODY_LIMIT; the same limit here
    // keeps a caller without the layer bounded too. Either way a longer (streamed) body fails with a
    // LengthLimitError somewhere in the error's sources.
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::PayloadTooLarge(BODY_LIMIT);
            }
            source = err.source();
        }
        ApiError::InvalidPayload(format!("body: {e}"))
    })
}

/// What the intake answers for a handled webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Durably queued (or a duplicate of something queued).
    Accepted { duplicate: bool },
    /// Well-formed but not for the agent.
    Ignored(String),
}

impl IntoResponse for Handled {
    fn into_response(self) -> Response {
        // The two accepted answers are constant: no JSON tree is built for them.
        let constant = |body: &'static str| {
            let json = HeaderValue::from_static("application/json");
            ([(header::CONTENT_TYPE, json)], body).into_response()
        };
        match self {
            Handled::Accepted { duplicate: false } => constant(r#"{"status":"accepted"}"#),
            Handled::Accepted { duplicate: true } => constant(r#"{"status":"accepted","duplicate":true}"#),
            Handled::Ignored(reason) => Json(json!({"status": "ignored", "reason": reason})).into_response(),
        }
    }
}

impl AppState {
    /// Queue a customer message; 503 when the store cannot take it or shutdown began.
    pub async fn accept(&self, dedupe_id: &str, message: InboundMessage) -> Result<Handled, ApiError> {
        let key = format!("{}:{}", message.channel.as_str(), dedupe_id);
        self.accept_event(&key, ChatEvent::Customer(message)).await
    }

    /// Queue any chat event under a full dedupe key; 503 when the store cannot take it.
    pub async fn accept_event(&self, dedupe_key: &str, event: ChatEvent) -> Result<Handled, ApiError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(ApiError::Unavailable("shutting down; retry later".into()));
        }
        match crate::queue::accept_event(self.store.as_ref(), dedupe_key, event).await {
            Ok(Accept::Accepted) => Ok(Handled::Accepted { duplicate: false }),
            Ok(Accept::Duplicate) => Ok(Handled::Accepted { duplicate: true }),
            Err(e) => {
                tracing::warn!(error = %e, "could not queue an event; answering 503");
                Err(ApiError::Unavailable(
                    "the message could not be queued; retry later".into(),
                ))
            }
        }
    }
}

/// What a webhook route answered, as the metrics and logs describe it.
pub trait WebhookAnswer {
    /// The outcome label: `accepted`, `duplicate` or `ignored`.
    fn outcome(&self) -> &'static str;
    /// Why it was ignored, when it was.
    fn ignored_reason(&self) -> Option<&str>;
}

impl WebhookAnswer for Handled {
    fn outcome(&self) -> &'static str {
        match self {
            Handled::Accepted { duplicate: false } => "accepted",
            Handled::Accepted { duplicate: true } => "duplicate",
            Handled::Ignored(_) => "ignored",
        }
    }
    fn ignored_reason(&self) -> Option<&str> {
        match self {
            Handled::Ignored(reason) => Some(reason),
            Handled::Accepted { .. } => None,
        }
    }
}

/// The request id [`SetRequestIdLayer`] gave the request (or the sender's own), `""` when none.
pub fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Run one webhook's handling inside its span (the handler records `chat_id` and the like into it),
/// then count its outcome: the webhook span of every route.
///
/// What is logged, per webhook: a refusal at `info` (with the outcome and the error); an accepted or
/// ignored webhook only at `debug`, because an accepted message is logged by its turn's span and every
/// outcome is counted in `wa_agent_webhooks_total`. At `info`, this keeps the intake's cost per
/// webhook to the span alone.
pub async fn observe<T: WebhookAnswer>(
    route: &'static str,
    span: tracing::Span,
    handling: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    use tracing::Instrument;
    async move {
        let result = handling.await;
        let outcome = match &result {
            Ok(answer) => answer.outcome(),
            Err(e) => e.outcome(),
        };
        count_webhook(route, outcome);
        match &result {
            Err(e) => tracing::info!(outcome, error = %e, "webhook refused"),
            Ok(answer) => match answer.ignored_reason() {
                Some(reason) => tracing::debug!(outcome, %reason, "webhook ignored"),
                None => tracing::debug!(outcome, "webhook accepted"),
            },
        }
        result
    }
    .instrument(span)
    .await
}

/// Count a webhook's outcome.
pub fn count_webhook(route: &'static str, outcome: &'static str) {
    metrics::counter!("wa_agent_webhooks_total", "route" => route, "outcome" => outcome).increment(1);
}
