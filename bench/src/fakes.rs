//! Instant fakes of the LLM and of WAHA for `turns` and `memory`: a wa-agent pointed at them spends
//! no time waiting on the outside world, so what is measured is its own overhead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Where each chat's replies are announced: the instant a `sendText` for that chat arrived.
type Waiters = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Instant>>>>;

/// The running fakes; they stop when this is dropped.
pub struct Fakes {
    waiters: Waiters,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Fakes {
    /// Starts the fake LLM on `llm_addr` (answering `reply` to every chat completion) and the fake
    /// WAHA on `waha_addr`. Both must be loopback addresses.
    pub async fn start(llm_addr: &str, waha_addr: &str, reply: String) -> anyhow::Result<Fakes> {
        let waiters: Waiters = Arc::default();
        let llm = Router::new()
            .route("/chat/completions", post(completion))
            .with_state(Arc::new(reply));
        let waha = Router::new()
            .route("/api/sendText", post(send_text))
            .route("/api/{action}", post(|| async { axum::Json(json!({})) }))
            .with_state(waiters.clone());
        let mut tasks = Vec::new();
        for (addr, app) in [(llm_addr, llm), (waha_addr, waha)] {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("bind {addr}"))?;
            anyhow::ensure!(
                listener.local_addr()?.ip().is_loopback(),
                "fakes bind to loopback only"
            );
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        Ok(Fakes { waiters, tasks })
    }

    /// Announce replies to `chat` on the returned receiver.
    pub fn watch(&self, chat: &str) -> mpsc::UnboundedReceiver<Instant> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.waiters.lock().expect("waiters").insert(chat.to_owned(), tx);
        rx
    }
}

async fn completion(State(reply): State<Arc<String>>) -> axum::Json<Value> {
    axum::Json(json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.as_str()},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    }))
}

async fn send_text(State(waiters): State<Waiters>, body: Bytes) -> axum::Json<Value> {
    let at = Instant::now();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let chat = v["chatId"].as_str().unwrap_or_default();
    if let Some(tx) = waiters.lock().expect("waiters").get(chat) {
        let _ = tx.send(at);
    }
    axum::Json(json!({"id": {"_serialized": format!("true_{chat}_BENCH")}}))
}
