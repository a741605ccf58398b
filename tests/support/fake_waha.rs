//! A fake WAHA server for integration tests.
//!
//! `POST /api/sendText` checks `X-Api-Key`, records `{session, chatId, text}` of every accepted send in
//! arrival order and answers 201 in the WEBJS shape (`send_text_response_webjs.json`) with a fresh id.
//! A configured failure answers that status instead (422: `error_session_not_ready.json`) and records
//! nothing. `POST /api/sendSeen`, `/api/startTyping` and `/api/stopTyping` answer 200 and are recorded
//! separately, so presence calls never disturb `sent()`.

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

const RESPONSE_WEBJS: &str = include_str!("../fixtures/waha/send_text_response_webjs.json");
const ERROR_UNAUTHORIZED: &str = include_str!("../fixtures/waha/error_unauthorized.json");
const ERROR_NOT_READY: &str = include_str!("../fixtures/waha/error_session_not_ready.json");

struct WahaState {
    api_key: String,
    sent: Vec<Value>,
    presence: Vec<(String, Value)>,
    attempts: usize,
    fail: Option<u16>,
}

/// The running fake; the server stops when this is dropped.
pub struct FakeWaha {
    addr: SocketAddr,
    state: Arc<Mutex<WahaState>>,
    task: JoinHandle<()>,
}

impl Drop for FakeWaha {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeWaha {
    /// Starts the fake on `127.0.0.1:0`, requiring `X-Api-Key: <api_key>` (an empty key requires none).
    pub async fn start(api_key: &str) -> FakeWaha {
        let state = Arc::new(Mutex::new(WahaState {
            api_key: api_key.to_owned(),
            sent: Vec::new(),
            presence: Vec::new(),
            attempts: 0,
            fail: None,
        }));
        let app = Router::new()
            .route("/api/sendText", post(send_text))
            .route("/api/{action}", post(presence))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake WAHA");
        let addr = listener.local_addr().expect("fake WAHA address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake WAHA server");
        });
        FakeWaha { addr, state, task }
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{session, chatId, text}` of every accepted send, in arrival order.
    pub fn sent(&self) -> Vec<Value> {
        self.state.lock().unwrap().sent.clone()
    }

    /// The texts sent to `chat_id`, in order.
    pub fn sent_to(&self, chat_id: &str) -> Vec<String> {
        self.sent()
            .iter()
            .filter(|s| s["chatId"] == chat_id)
            .map(|s| s["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every `sendText` request that arrived, accepted or not.
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().attempts
    }

    /// Presence calls (`sendSeen`, `startTyping`, `stopTyping`) as `(action, body)`, in order.
    pub fn presence(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().presence.clone()
    }

    /// Answers every authorised `sendText` with `status` until set back to `None`.
    pub fn set_fail(&self, status: Option<u16>) {
        self.state.lock().unwrap().fail = status;
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

fn authorised(state: &WahaState, headers: &HeaderMap) -> bool {
    state.api_key.is_empty()
        || headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(state.api_key.as_str())
}

async fn send_text(State(state): State<Arc<Mutex<WahaState>>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    s.attempts += 1;
    if !authorised(&s, &headers) {
        return json_response(StatusCode::UNAUTHORIZED, ERROR_UNAUTHORIZED.to_owned());
    }
    if let Some(status) = s.fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match status {
            StatusCode::UNPROCESSABLE_ENTITY => ERROR_NOT_READY.to_owned(),
            StatusCode::UNAUTHORIZED => ERROR_UNAUTHORIZED.to_owned(),
            _ => json!({ "statusCode": status.as_u16(), "message": "fake WAHA failure" }).to_string(),
        };
        return json_response(status, body);
    }
    let (Some(chat_id), Some(text)) = (request["chatId"].as_str(), request["text"].as_str()) else {
        let body = json!({ "statusCode": 400, "message": "chatId and text are required" });
        return json_response(StatusCode::BAD_REQUEST, body.to_string());
    };
    let session = request["session"].as_str().unwrap_or("default");
    s.sent
        .push(json!({ "session": session, "chatId": chat_id, "text": text }));
    json_response(StatusCode::CREATED, webjs_response(chat_id, text).to_string())
}

/// The WEBJS `sendText` answer for this message, with a fresh id.
fn webjs_response(chat_id: &str, text: &str) -> Value {
    let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let wa_id = format!("3EB0{}", &hex[..18]);
    let id = json!({
        "fromMe": true,
        "remote": chat_id,
        "id": wa_id,
        "_serialized": format!("true_{chat_id}_{wa_id}"),
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut response: Value = serde_json::from_str(RESPONSE_WEBJS).expect("fixture is JSON");
    response["id"] = id.clone();
    response["_data"]["id"] = id;
    response["body"] = json!(text);
    response["_data"]["body"] = json!(text);
    response["to"] = json!(chat_id);
    response["timestamp"] = json!(now);
    response["_data"]["t"] = json!(now);
    response
}

async fn presence(
    State(state): State<Arc<Mutex<WahaState>>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if !authorised(&s, &headers) {
        return json_response(StatusCode::UNAUTHORIZED, ERROR_UNAUTHORIZED.to_owned());
    }
    if !matches!(action.as_str(), "sendSeen" | "startTyping" | "stopTyping") {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({ "statusCode": 404, "message": "Not Found" }).to_string(),
        );
    }
    s.presence
        .push((action, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    json_response(StatusCode::OK, "{}".to_owned())
}
