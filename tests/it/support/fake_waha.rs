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
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const RESPONSE_WEBJS: &str = include_str!("../../fixtures/waha/send_text_response_webjs.json");
const ERROR_UNAUTHORIZED: &str = include_str!("../../fixtures/waha/error_unauthorized.json");
const ERROR_NOT_READY: &str = include_str!("../../fixtures/waha/error_session_not_ready.json");

/// Which sends are held back.
#[derive(Debug, Clone, Copy)]
enum Hold {
    /// The answer of the n-th accepted send (1-based), which is recorded.
    AnswerOf(usize),
    /// Every send arriving once n were accepted, unrecorded.
    After(usize),
}

struct WahaState {
    api_key: String,
    sent: Vec<Value>,
    /// Per accepted send: its serialized id and Unix seconds.
    sent_meta: Vec<(String, u64)>,
    presence: Vec<(String, Value)>,
    attempts: usize,
    reads: usize,
    fail: Option<u16>,
    read_fail: Option<u16>,
    hold: Option<Hold>,
    held: usize,
    released: tokio::sync::watch::Sender<bool>,
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
            sent_meta: Vec::new(),
            presence: Vec::new(),
            attempts: 0,
            reads: 0,
            fail: None,
            read_fail: None,
            hold: None,
            held: 0,
            released: tokio::sync::watch::channel(false).0,
        }));
        let app = Router::new()
            .route("/api/sendText", post(send_text))
            .route("/api/{session}/chats/{chat_id}/messages", get(messages))
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

    /// Answers every authorised read of a chat's messages with `status` until set back to `None`.
    pub fn set_read_fail(&self, status: Option<u16>) {
        self.state.lock().unwrap().read_fail = status;
    }

    /// Reads of a chat's messages that arrived.
    pub fn reads(&self) -> usize {
        self.state.lock().unwrap().reads
    }

    /// Records the `n`-th accepted send (1-based) and holds its answer until [`FakeWaha::release`].
    pub fn hold_answer_of(&self, n: usize) {
        self.state.lock().unwrap().hold = Some(Hold::AnswerOf(n));
    }

    /// Holds every send arriving once `n` were accepted, unrecorded, until [`FakeWaha::release`].
    pub fn hold_after(&self, n: usize) {
        self.state.lock().unwrap().hold = Some(Hold::After(n));
    }

    /// Lets held requests go and holds nothing more.
    pub fn release(&self) {
        let mut s = self.state.lock().unwrap();
        s.hold = None;
        s.released.send_replace(true);
    }

    /// Waits until a request is being held; `false` on timeout.
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

fn authorised(state: &WahaState, headers: &HeaderMap) -> bool {
    state.api_key.is_empty()
        || headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(state.api_key.as_str())
}

async fn send_text(State(state): State<Arc<Mutex<WahaState>>>, headers: HeaderMap, body: Bytes) -> Response {
    let (response, held) = answer_send(&state, &headers, &body);
    if let Some(mut released) = held {
        let _ = released.wait_for(|r| *r).await;
        state.lock().unwrap().held -= 1;
    }
    response
}

/// A held request (the receiver to wait on) answers with its response once released.
type Held = Option<tokio::sync::watch::Receiver<bool>>;

fn answer_send(state: &Mutex<WahaState>, headers: &HeaderMap, body: &[u8]) -> (Response, Held) {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    s.attempts += 1;
    if !authorised(&s, headers) {
        return (
            json_response(StatusCode::UNAUTHORIZED, ERROR_UNAUTHORIZED.to_owned()),
            None,
        );
    }
    if let Some(status) = s.fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match status {
            StatusCode::UNPROCESSABLE_ENTITY => ERROR_NOT_READY.to_owned(),
            StatusCode::UNAUTHORIZED => ERROR_UNAUTHORIZED.to_owned(),
            _ => json!({ "statusCode": status.as_u16(), "message": "fake WAHA failure" }).to_string(),
        };
        return (json_response(status, body), None);
    }
    if let Some(Hold::After(n)) = s.hold
        && s.sent.len() >= n
    {
        s.held += 1;
        let body = json!({ "statusCode": 503, "message": "held, then refused" });
        let response = json_response(StatusCode::SERVICE_UNAVAILABLE, body.to_string());
        return (response, Some(s.released.subscribe()));
    }
    let (Some(chat_id), Some(text)) = (request["chatId"].as_str(), request["text"].as_str()) else {
        let body = json!({ "statusCode": 400, "message": "chatId and text are required" });
        return (json_response(StatusCode::BAD_REQUEST, body.to_string()), None);
    };
    let session = request["session"].as_str().unwrap_or("default");
    s.sent
        .push(json!({ "session": session, "chatId": chat_id, "text": text }));
    let response = webjs_response(chat_id, text);
    let id = response["id"]["_serialized"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let at = response["timestamp"].as_u64().unwrap_or_default();
    s.sent_meta.push((id, at));
    let response = json_response(StatusCode::CREATED, response.to_string());
    match s.hold {
        Some(Hold::AnswerOf(n)) if s.sent.len() == n => {
            s.held += 1;
            (response, Some(s.released.subscribe()))
        }
        _ => (response, None),
    }
}

#[derive(serde::Deserialize)]
struct MessagesQuery {
    limit: Option<usize>,
}

/// `GET /api/{session}/chats/{chatId}/messages`: our sends to the chat, newest first.
async fn messages(
    State(state): State<Arc<Mutex<WahaState>>>,
    Path((session, chat_id)): Path<(String, String)>,
    Query(query): Query<MessagesQuery>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    if !authorised(&s, &headers) {
        return json_response(StatusCode::UNAUTHORIZED, ERROR_UNAUTHORIZED.to_owned());
    }
    s.reads += 1;
    if let Some(status) = s.read_fail {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "statusCode": status.as_u16(), "message": "fake WAHA failure" });
        return json_response(status, body.to_string());
    }
    let list: Vec<Value> = s
        .sent
        .iter()
        .zip(&s.sent_meta)
        .filter(|(m, _)| m["chatId"] == chat_id.as_str() && m["session"] == session.as_str())
        .rev()
        .take(query.limit.unwrap_or(100))
        .map(|(m, (id, at))| {
            json!({
                "id": id,
                "timestamp": at,
                "from": "31600000000@c.us",
                "fromMe": true,
                "source": "api",
                "to": chat_id,
                "body": m["text"],
                "hasMedia": false,
                "ack": 1,
            })
        })
        .collect();
    json_response(StatusCode::OK, Value::Array(list).to_string())
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
