//! A fake Meta Graph API (WhatsApp Cloud API) for integration tests.
//!
//! `POST /{version}/{phone_number_id}/messages` checks `Authorization: Bearer <token>` (a wrong token
//! gets Graph's 401 with code 190) and records every request's phone number id, Authorization header
//! and body. A send (`"type": "text"`) is answered like `send_text_response.json` with a fresh wamid,
//! or with the configured failure; a read mark or typing indicator (`"status": "read"`) is answered
//! `{"success": true}` and recorded separately, so presence never disturbs `sent()`.
//!
//! [`FakeMeta::hold_answer_of`] records the n-th accepted send and keeps its answer back until
//! [`FakeMeta::release`], to stand between "Graph accepted the reply" and the sender's next step.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const SEND_RESPONSE: &str = include_str!("../../fixtures/meta/send_text_response.json");
const ERROR_400: &str = include_str!("../../fixtures/meta/error.json");

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    /// The phone number id in the path.
    pub phone_number_id: String,
    /// The `Authorization` header, as sent.
    pub authorization: String,
    /// The JSON body.
    pub body: Value,
}

struct MetaState {
    token: String,
    sent: Vec<GraphRequest>,
    presence: Vec<GraphRequest>,
    attempts: usize,
    fail: Option<u16>,
    hold_answer_of: Option<usize>,
    held: usize,
    released: tokio::sync::watch::Sender<bool>,
}

/// The running fake; the server stops when this is dropped.
pub struct FakeMeta {
    addr: SocketAddr,
    state: Arc<Mutex<MetaState>>,
    task: JoinHandle<()>,
}

impl Drop for FakeMeta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeMeta {
    /// Starts the fake on `127.0.0.1:0`, requiring `Authorization: Bearer <token>`.
    pub async fn start(token: &str) -> FakeMeta {
        let state = Arc::new(Mutex::new(MetaState {
            token: token.to_owned(),
            sent: Vec::new(),
            presence: Vec::new(),
            attempts: 0,
            fail: None,
            hold_answer_of: None,
            held: 0,
            released: tokio::sync::watch::channel(false).0,
        }));
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Graph API");
        let addr = listener.local_addr().expect("fake Graph API address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Graph API server");
        });
        FakeMeta { addr, state, task }
    }

    /// The Graph base URL, version included (`http://127.0.0.1:<port>/v25.0`).
    pub fn url(&self) -> String {
        format!("http://{}/v25.0", self.addr)
    }

    /// Every accepted send, in arrival order.
    pub fn sent(&self) -> Vec<GraphRequest> {
        self.state.lock().unwrap().sent.clone()
    }

    /// The texts sent to `to`, in order.
    pub fn sent_to(&self, to: &str) -> Vec<String> {
        self.sent()
            .iter()
            .filter(|r| r.body["to"] == to)
            .map(|r| r.body["text"]["body"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Read marks and typing indicators, in arrival order.
    pub fn presence(&self) -> Vec<GraphRequest> {
        self.state.lock().unwrap().presence.clone()
    }

    /// Answers every authorised send with `status` (and a Graph error body) until set back to `None`.
    pub fn set_fail(&self, status: Option<u16>) {
        self.state.lock().unwrap().fail = status;
    }

    /// Records the `n`-th accepted send (1-based) and holds its answer until [`FakeMeta::release`].
    pub fn hold_answer_of(&self, n: usize) {
        self.state.lock().unwrap().hold_answer_of = Some(n);
    }

    /// Lets a held answer go and holds nothing more.
    pub fn release(&self) {
        let mut s = self.state.lock().unwrap();
        s.hold_answer_of = None;
        s.released.send_replace(true);
    }

    /// Waits until an answer is being held; `false` on timeout.
    pub async fn wait_for_held(&self, timeout: Duration) -> bool {
        super::app::eventually(timeout, || self.state.lock().unwrap().held > 0).await
    }

    /// Waits until at least `n` sends were accepted; `false` on timeout.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.state.lock().unwrap().sent.len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A Graph error body with this code.
fn graph_error(code: i64, message: &str) -> String {
    json!({"error": {"message": message, "type": "OAuthException", "code": code,
        "fbtrace_id": "AbCdEfGhIjKlMnOp"}})
    .to_string()
}

async fn messages(
    State(state): State<Arc<Mutex<MetaState>>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (response, held) = answer(&state, phone_number_id, &headers, &body);
    if let Some(mut released) = held {
        let _ = released.wait_for(|r| *r).await;
        state.lock().unwrap().held -= 1;
    }
    response
}

/// The answer to one request, and the receiver to wait on first when it is held.
fn answer(
    state: &Mutex<MetaState>,
    phone_number_id: String,
    headers: &HeaderMap,
    body: &[u8],
) -> (Response, Option<tokio::sync::watch::Receiver<bool>>) {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut s = state.lock().unwrap();
    if authorization != format!("Bearer {}", s.token) {
        let body = graph_error(190, "Invalid OAuth access token - Cannot parse access token");
        return (json_response(StatusCode::UNAUTHORIZED, body), None);
    }
    let request = GraphRequest {
        phone_number_id,
        authorization,
        body,
    };
    if request.body["status"] == "read" {
        s.presence.push(request);
        return (
            json_response(StatusCode::OK, json!({"success": true}).to_string()),
            None,
        );
    }
    s.attempts += 1;
    if let Some(status) = s.fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match status.as_u16() {
            429 => graph_error(130429, "Rate limit hit"),
            400 => ERROR_400.to_owned(),
            s if s >= 500 => graph_error(2, "Service temporarily unavailable"),
            _ => graph_error(100, "Invalid parameter"),
        };
        return (json_response(status, body), None);
    }
    let valid = request.body["messaging_product"] == "whatsapp"
        && request.body["type"] == "text"
        && request.body["to"].is_string()
        && request.body["text"]["body"].is_string();
    if !valid {
        return (
            json_response(StatusCode::BAD_REQUEST, graph_error(100, "Invalid parameter")),
            None,
        );
    }
    let to = request.body["to"].as_str().unwrap_or_default().to_owned();
    s.sent.push(request);
    let mut response: Value = serde_json::from_str(SEND_RESPONSE).expect("fixture is JSON");
    let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    response["contacts"][0]["input"] = json!(to);
    response["contacts"][0]["wa_id"] = json!(to);
    response["messages"][0]["id"] = json!(format!("wamid.{hex}"));
    let response = json_response(StatusCode::OK, response.to_string());
    if s.hold_answer_of == Some(s.sent.len()) {
        s.held += 1;
        return (response, Some(s.released.subscribe()));
    }
    (response, None)
}
