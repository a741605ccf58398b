//! A fake Evolution API (v2) server for integration tests.
//!
//! `POST /message/sendText/{instance}` checks the `apikey` header (401 `{"status":401,"error":
//! "Unauthorized","response":{"message":"Unauthorized"}}` otherwise), records `{instance, body}` of
//! every send in arrival order and answers 201 with a Baileys message record (`key.id` fresh).
//! `POST /chat/sendPresence/{instance}` and `/chat/markMessageAsRead/{instance}` answer 201 and are
//! recorded separately; `GET /instance/connectionState/{instance}` answers `{"instance":{…,"state"}}`
//! (`open` unless `set_state`). An unknown instance answers 404 like Evolution.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

struct EvoState {
    api_key: String,
    instance: String,
    state: String,
    sent: Vec<Value>,
    presence: Vec<(String, Value)>,
}

/// The running fake; the server stops when this is dropped.
pub struct FakeEvolution {
    addr: SocketAddr,
    state: Arc<Mutex<EvoState>>,
    task: JoinHandle<()>,
}

impl Drop for FakeEvolution {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<EvoState>>;

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = json!({ "status": status.as_u16(), "error": status.canonical_reason(), "response": { "message": [message] } });
    (status, axum::Json(body)).into_response()
}

fn check(s: &EvoState, headers: &HeaderMap, instance: &str) -> Result<(), Box<Response>> {
    if headers.get("apikey").and_then(|v| v.to_str().ok()) != Some(s.api_key.as_str()) {
        return Err(Box::new(refuse(StatusCode::UNAUTHORIZED, "Unauthorized")));
    }
    if instance != s.instance {
        return Err(Box::new(refuse(
            StatusCode::NOT_FOUND,
            &format!("The \"{instance}\" instance does not exist"),
        )));
    }
    Ok(())
}

async fn send_text(
    State(s): State<Shared>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = check(&s, &headers, &instance) {
        return *r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(number), Some(text)) = (body["number"].as_str(), body["text"].as_str()) else {
        return refuse(StatusCode::BAD_REQUEST, "number and text are required");
    };
    let id = format!(
        "3EB0{}",
        uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
    );
    let jid = if number.contains('@') {
        number.to_owned()
    } else {
        format!("{number}@s.whatsapp.net")
    };
    let answer = json!({
        "key": { "remoteJid": jid, "fromMe": true, "id": id },
        "pushName": "", "status": "PENDING", "message": { "conversation": text },
        "messageType": "conversation", "messageTimestamp": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "instanceId": "361a7e57-10ea-47a8-b948-b6d07e7cdcff", "source": "unknown",
    });
    s.sent.push(body);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn presence(
    State(s): State<Shared>,
    Path((action, instance)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = check(&s, &headers, &instance) {
        return *r;
    }
    if action != "sendPresence" && action != "markMessageAsRead" {
        return refuse(StatusCode::NOT_FOUND, "Cannot POST");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.presence.push((action, body));
    (StatusCode::CREATED, axum::Json(json!({ "message": "ok" }))).into_response()
}

async fn connection_state(
    State(s): State<Shared>,
    Path(instance): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = s.lock().unwrap();
    if let Err(r) = check(&s, &headers, &instance) {
        return *r;
    }
    axum::Json(json!({ "instance": { "instanceName": s.instance, "state": s.state } })).into_response()
}

impl FakeEvolution {
    /// Starts the fake on `127.0.0.1:0` for `instance`, requiring `apikey: <api_key>`.
    pub async fn start(api_key: &str, instance: &str) -> FakeEvolution {
        let state = Arc::new(Mutex::new(EvoState {
            api_key: api_key.to_owned(),
            instance: instance.to_owned(),
            state: "open".to_owned(),
            sent: Vec::new(),
            presence: Vec::new(),
        }));
        let app = Router::new()
            .route("/message/sendText/{instance}", post(send_text))
            .route("/chat/{action}/{instance}", post(presence))
            .route("/instance/connectionState/{instance}", get(connection_state))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Evolution");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeEvolution { addr, state, task }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The connection state `connectionState` reports (`open`, `connecting`, `close`).
    pub fn set_state(&self, state: &str) {
        self.state.lock().unwrap().state = state.to_owned();
    }

    /// Bodies of every accepted `sendText`, in order.
    pub fn sent(&self) -> Vec<Value> {
        self.state.lock().unwrap().sent.clone()
    }

    /// Presence and read-mark calls: `(action, body)`.
    pub fn presence(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().presence.clone()
    }

    /// Waits until at least `n` texts were sent.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.sent().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.sent().len() >= n
    }
}
