//! A fake Evolution API (v2) server for integration tests, shaped after Evolution's own routes
//! (`src/api/routes/*.router.ts`), guards (`src/api/guards/`) and error bodies (`src/main.ts`).
//!
//! Every route first checks the instance (404 `The "{instance}" instance does not exist`), then the
//! `apikey` header (401), in Evolution's guard order; errors answer `{"status", "error", "response":
//! {"message": […]}}`.
//!
//! - `POST /message/sendText/{instance}` records `{instance, body}` of every send in arrival order and
//!   answers 201 with a Baileys message record (`key.id` fresh). It can hold the answer of the n-th
//!   send ([`FakeEvolution::hold_answer_of`]) until [`FakeEvolution::release`].
//! - `POST /chat/sendPresence/{instance}` and `/chat/markMessageAsRead/{instance}` answer 201 and are
//!   recorded separately.
//! - `POST /chat/getBase64FromMediaMessage/{instance}` and `POST /chat/findMessages/{instance}`: see
//!   the `chat` module.
//! - `GET /instance/connectionState/{instance}` answers `{"instance":{…,"state"}}` (`open` unless
//!   `set_state`).

mod chat;

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
    /// The message record answered for each send, for `findMessages`.
    records: Vec<Value>,
    presence: Vec<(String, Value)>,
    media: chat::MediaState,
    /// The n-th send (1-based) whose answer is held, and how many answers are held now.
    hold_answer_of: Option<usize>,
    held: usize,
    released: tokio::sync::watch::Sender<bool>,
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
    if instance != s.instance {
        return Err(Box::new(refuse(
            StatusCode::NOT_FOUND,
            &format!("The \"{instance}\" instance does not exist"),
        )));
    }
    if headers.get("apikey").and_then(|v| v.to_str().ok()) != Some(s.api_key.as_str()) {
        return Err(Box::new(refuse(StatusCode::UNAUTHORIZED, "Unauthorized")));
    }
    Ok(())
}

async fn send_text(
    State(state): State<Shared>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (response, held) = answer_send(&state, &headers, &instance, &body);
    if let Some(mut released) = held {
        let _ = released.wait_for(|r| *r).await;
        state.lock().unwrap().held -= 1;
    }
    response
}

/// The answer to a `sendText`, and the receiver to wait on when it is held.
fn answer_send(
    state: &Shared,
    headers: &HeaderMap,
    instance: &str,
    body: &[u8],
) -> (Response, Option<tokio::sync::watch::Receiver<bool>>) {
    let mut s = state.lock().unwrap();
    if let Err(r) = check(&s, headers, instance) {
        return (*r, None);
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (Some(number), Some(text)) = (body["number"].as_str(), body["text"].as_str()) else {
        return (
            refuse(StatusCode::BAD_REQUEST, "number and text are required"),
            None,
        );
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
    s.records.push(answer.clone());
    let response = (StatusCode::CREATED, axum::Json(answer)).into_response();
    if s.hold_answer_of == Some(s.sent.len()) {
        s.held += 1;
        return (response, Some(s.released.subscribe()));
    }
    (response, None)
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
            records: Vec::new(),
            presence: Vec::new(),
            media: chat::MediaState::default(),
            hold_answer_of: None,
            held: 0,
            released: tokio::sync::watch::channel(false).0,
        }));
        let app = Router::new()
            .route("/message/sendText/{instance}", post(send_text))
            .route(
                "/chat/getBase64FromMediaMessage/{instance}",
                post(chat::get_base64),
            )
            .route("/chat/findMessages/{instance}", post(chat::find_messages))
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

    /// Bodies of every accepted `sendText`, in order.
    pub fn sent(&self) -> Vec<Value> {
        self.state.lock().unwrap().sent.clone()
    }

    /// Holds the answer of the `n`-th accepted send (1-based; it is recorded) until [`Self::release`].
    pub fn hold_answer_of(&self, n: usize) {
        self.state.lock().unwrap().hold_answer_of = Some(n);
    }

    /// Lets held answers go and holds nothing more.
    pub fn release(&self) {
        let mut s = self.state.lock().unwrap();
        s.hold_answer_of = None;
        s.released.send_replace(true);
    }

    /// Waits until an answer is being held; `false` on timeout.
    pub async fn wait_for_held(&self, timeout: Duration) -> bool {
        super::app::eventually(timeout, || self.state.lock().unwrap().held > 0).await
    }

    /// The texts sent to `number` (as `sendText` got it), in order.
    pub fn sent_to(&self, number: &str) -> Vec<String> {
        self.sent()
            .iter()
            .filter(|b| b["number"] == number)
            .filter_map(|b| b["text"].as_str().map(str::to_owned))
            .collect()
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
