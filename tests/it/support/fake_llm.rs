//! A fake OpenAI-compatible chat-completions server for integration tests.
//!
//! `POST /chat/completions` records every request body the moment it arrives, then (after the
//! configured delay) answers in the shape of `chat_response_simple.json` with the text its "brain"
//! computes from the request, or with the configured failure status.
//!
//! The default brain is a deterministic stand-in for a model that reads the whole conversation:
//! asked "welke auto" / "which car", it looks through the earlier user messages for a car name
//! (`BMW X5`, …); otherwise it answers `Antwoord op: <user messages since the last assistant message,
//! joined with " | ">`, so a test sees exactly which customer messages a reply was built from.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const RESPONSE_SIMPLE: &str = include_str!("../../fixtures/openai/chat_response_simple.json");
const ERROR_RATE_LIMIT: &str = include_str!("../../fixtures/openai/error_rate_limit.json");

/// Computes the reply text from a chat-completions request body.
pub type Brain = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// Decides from a request body whether the model calls tools (the `tool_calls` array) or answers.
pub type ToolBrain = Arc<dyn Fn(&Value) -> Option<Value> + Send + Sync>;

/// One entry of a `tool_calls` array.
pub fn tool_call(id: &str, name: &str, arguments: Value) -> Value {
    json!({ "id": id, "type": "function", "function": { "name": name, "arguments": arguments.to_string() } })
}

/// The `tool` messages of a request (the results the model was given), in order.
pub fn tool_results(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Whether the request's last message is the customer's (a fresh step, not an answer to tools).
pub fn last_is_user(request: &Value) -> bool {
    request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "user")
}

const CAR_BRANDS: [&str; 6] = ["BMW", "Audi", "Volvo", "Mercedes", "Tesla", "Volkswagen"];

struct LlmState {
    requests: Vec<Value>,
    headers: Vec<HeaderMap>,
    delay: Duration,
    /// Statuses to answer the next requests with, one per request.
    fail_next: VecDeque<u16>,
    always_fail: Option<u16>,
    retry_after: Option<u64>,
    brain: Brain,
    answered: u64,
    tool_calls_next: VecDeque<Value>,
    tool_brain: Option<ToolBrain>,
}

/// The running fake; the server stops when this is dropped.
pub struct FakeLlm {
    addr: SocketAddr,
    state: Arc<Mutex<LlmState>>,
    task: JoinHandle<()>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeLlm {
    /// Starts the fake on `127.0.0.1:0`.
    pub async fn start() -> FakeLlm {
        let state = Arc::new(Mutex::new(LlmState {
            requests: Vec::new(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            fail_next: VecDeque::new(),
            always_fail: None,
            retry_after: Some(1),
            brain: Arc::new(default_brain),
            answered: 0,
            tool_calls_next: VecDeque::new(),
            tool_brain: None,
        }));
        let app = Router::new()
            .route("/chat/completions", post(chat_completions))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake LLM");
        let addr = listener.local_addr().expect("fake LLM address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake LLM server");
        });
        FakeLlm { addr, state, task }
    }

    /// The base URL (`http://127.0.0.1:<port>`); clients append `/chat/completions`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request body received, in arrival order (recorded on arrival, before any delay).
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The `content` of every `user` message in the `n`-th request (0-based), in order.
    pub fn user_contents(&self, n: usize) -> Vec<Value> {
        self.requests()[n]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .map(|m| m["content"].clone())
            .collect()
    }

    /// The headers of every request received, in arrival order.
    pub fn request_headers(&self) -> Vec<HeaderMap> {
        self.state.lock().unwrap().headers.clone()
    }

    /// Delays every answer (success or failure) by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// Answers the next `n` requests with `status` (429: the `error_rate_limit.json` body).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.state
            .lock()
            .unwrap()
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }

    /// Answers every request with `status` until set back to `None`.
    pub fn set_always_fail(&self, status: Option<u16>) {
        self.state.lock().unwrap().always_fail = status;
    }

    /// Replaces the default brain.
    pub fn set_brain(&self, brain: Brain) {
        self.state.lock().unwrap().brain = brain;
    }

    /// Waits until at least `n` requests have arrived; `false` on timeout.
    /// The next answer calls `handoff_to_human` with `reason` (and no text), as a model would.
    pub fn handoff_next(&self, reason: &str) {
        let args = json!({ "reason": reason, "summary": "Klant wil een verkoper spreken." }).to_string();
        let calls = json!([{ "id": "call_handoff1", "type": "function",
            "function": { "name": "handoff_to_human", "arguments": args } }]);
        self.state.lock().unwrap().tool_calls_next.push_back(calls);
    }

    /// The next answer calls these tools (entries made with [`tool_call`]) instead of answering.
    pub fn call_tools_next(&self, calls: Vec<Value>) {
        self.state
            .lock()
            .unwrap()
            .tool_calls_next
            .push_back(Value::Array(calls));
    }

    /// When no scripted calls wait, `brain` decides per request whether the model calls tools.
    pub fn set_tool_brain(&self, brain: ToolBrain) {
        self.state.lock().unwrap().tool_brain = Some(brain);
    }

    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.state.lock().unwrap().requests.len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn chat_completions(
    State(state): State<Arc<Mutex<LlmState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let (delay, failure, retry_after, brain) = {
        let mut s = state.lock().unwrap();
        s.requests.push(request.clone());
        s.headers.push(headers);
        let failure = s.always_fail.or_else(|| s.fail_next.pop_front());
        (s.delay, failure, s.retry_after, s.brain.clone())
    };
    let tool_calls = {
        let mut s = state.lock().unwrap();
        let scripted = s.tool_calls_next.pop_front();
        scripted.or_else(|| s.tool_brain.as_ref().and_then(|b| b(&request)))
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = failure {
        return failure_response(status, retry_after);
    }
    let text = brain(&request);
    let serial = {
        let mut s = state.lock().unwrap();
        s.answered += 1;
        s.answered
    };
    let mut response: Value = serde_json::from_str(RESPONSE_SIMPLE).expect("fixture is JSON");
    response["id"] = json!(format!("chatcmpl-fake{serial:06}"));
    response["choices"][0]["message"]["content"] = json!(text);
    if let Some(calls) = tool_calls {
        // As the tool-call fixture: no content, the calls, finish_reason tool_calls.
        response["choices"][0]["message"]["content"] = Value::Null;
        response["choices"][0]["message"]["tool_calls"] = calls;
        response["choices"][0]["finish_reason"] = json!("tool_calls");
    }
    (StatusCode::OK, axum::Json(response)).into_response()
}

fn failure_response(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if status == StatusCode::TOO_MANY_REQUESTS {
        ERROR_RATE_LIMIT.to_owned()
    } else {
        json!({ "error": { "message": "fake LLM failure", "type": "server_error", "param": null, "code": null } })
            .to_string()
    };
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let (StatusCode::TOO_MANY_REQUESTS, Some(seconds)) = (status, retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    response
}

/// The default brain; see the module doc.
pub fn default_brain(request: &Value) -> String {
    let messages: Vec<(&str, &str)> = request["messages"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or(""),
                        m["content"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let users: Vec<&str> = messages
        .iter()
        .filter(|(r, _)| *r == "user")
        .map(|(_, c)| *c)
        .collect();
    if let Some((last, earlier)) = users.split_last() {
        let question = last.to_lowercase();
        if question.contains("welke auto") || question.contains("which car") {
            return match earlier.iter().rev().find_map(|text| find_car(text)) {
                Some(car) => format!("Ja, je vroeg naar de {car}!"),
                None => "Sorry, ik weet niet meer welke auto je noemde.".to_owned(),
            };
        }
    }
    // An assistant message without content is a tool-call round, not an answer to the customer.
    let since_assistant = messages
        .iter()
        .rposition(|(r, c)| *r == "assistant" && !c.is_empty())
        .map_or(0, |i| i + 1);
    let recent: Vec<&str> = messages[since_assistant..]
        .iter()
        .filter(|(r, _)| *r == "user")
        .map(|(_, c)| *c)
        .collect();
    format!("Antwoord op: {}", recent.join(" | "))
}

/// The last `<brand> <model>` in `text`, e.g. `BMW X5` (brand matched case-insensitively).
fn find_car(text: &str) -> Option<String> {
    let strip = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-')
            .to_owned()
    };
    let words: Vec<String> = text.split_whitespace().map(strip).collect();
    words.windows(2).rev().find_map(|pair| {
        let brand = CAR_BRANDS.iter().find(|b| b.eq_ignore_ascii_case(&pair[0]))?;
        (!pair[1].is_empty()).then(|| format!("{brand} {}", pair[1]))
    })
}
