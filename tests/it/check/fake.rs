//! The one fake of every external `wa-agent check` talks to: Chatwoot (`/cw`: the profile and the
//! inbox), WAHA (`/waha`: the session), the Graph API (`/graph`: the phone number) and the LLM (`/llm`:
//! chat completions), each refusing a wrong credential as the real one does.
//!
//! Invariant: what it answers is the shared [`Behaviour`], which a test changes between runs; it keeps
//! every completion body it received.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{CW_TOKEN, LLM_KEY, META_TOKEN, WAHA_KEY};

/// What the fake answers; tests change it between runs.
pub(super) struct Behaviour {
    pub(super) channel_type: &'static str,
    pub(super) waha_status: &'static str,
    pub(super) llm_bodies: Vec<Value>,
}

pub(super) type Shared = Arc<Mutex<Behaviour>>;

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

async fn profile(h: HeaderMap) -> (StatusCode, Json<Value>) {
    if header(&h, "api_access_token") != CW_TOKEN {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": ["Invalid Access Token"]})),
        );
    }
    (
        StatusCode::OK,
        Json(json!({"id": 21, "name": "wa-agent bot", "email": "bot@example.com"})),
    )
}

async fn inbox(
    State(b): State<Shared>,
    Path((account, id)): Path<(u64, u64)>,
    h: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if header(&h, "api_access_token") != CW_TOKEN {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": ["Invalid Access Token"]})),
        );
    }
    if (account, id) != (3, 7) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Resource could not be found"})),
        );
    }
    let channel_type = b.lock().unwrap().channel_type;
    (
        StatusCode::OK,
        Json(json!({"id": 7, "name": "WhatsApp", "channel_type": channel_type})),
    )
}

async fn session(
    State(b): State<Shared>,
    Path(name): Path<String>,
    h: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if header(&h, "x-api-key") != WAHA_KEY {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Unauthorized"})));
    }
    if name != "default" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Session not found"})),
        );
    }
    let status = b.lock().unwrap().waha_status;
    (
        StatusCode::OK,
        Json(json!({"name": name, "status": status, "me": {"id": "31332045566@c.us"}})),
    )
}

async fn phone_number(Path(id): Path<String>, h: HeaderMap) -> (StatusCode, Json<Value>) {
    if header(&h, "authorization") != format!("Bearer {META_TOKEN}") {
        let error = json!({"error": {"message": "Invalid OAuth access token.", "code": 190}});
        return (StatusCode::UNAUTHORIZED, Json(error));
    }
    let number = json!({"id": id, "display_phone_number": "+31 6 1234 5678", "verified_name": "Autohuis"});
    (StatusCode::OK, Json(number))
}

async fn completions(
    State(b): State<Shared>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if header(&h, "authorization") != format!("Bearer {LLM_KEY}") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "Incorrect API key provided"}})),
        );
    }
    b.lock().unwrap().llm_bodies.push(body);
    let answer =
        json!({"choices": [{"message": {"role": "assistant", "content": "p"}, "finish_reason": "length"}]});
    (StatusCode::OK, Json(answer))
}

/// One server standing in for Chatwoot (`/cw`), WAHA (`/waha`), the Graph API (`/graph`) and the LLM
/// (`/llm`).
pub(super) struct Fake {
    pub(super) url: String,
    pub(super) behaviour: Shared,
}

pub(super) async fn fake() -> Fake {
    let behaviour: Shared = Arc::new(Mutex::new(Behaviour {
        channel_type: "Channel::Api",
        waha_status: "WORKING",
        llm_bodies: Vec::new(),
    }));
    let app = Router::new()
        .route("/cw/api/v1/profile", get(profile))
        .route("/cw/api/v1/accounts/{account}/inboxes/{id}", get(inbox))
        .route("/waha/api/sessions/{name}", get(session))
        .route("/graph/{id}", get(phone_number))
        .route("/llm/chat/completions", post(completions))
        .with_state(behaviour.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Fake { url, behaviour }
}
