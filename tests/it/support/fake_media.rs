//! One fake server for the media paths of WAHA, the Graph API, a speech-to-text endpoint and Chatwoot.
//!
//! - `GET /api/files/{*path}` (WAHA): needs `X-Api-Key`; serves a file added with [`FakeMedia::add_file`].
//! - `POST /api/sendImage|sendFile|sendVoice` (WAHA): needs `X-Api-Key`; records `(action, body)`.
//! - `GET /graph/{id}` and `GET /lookaside/{id}` (Graph): need the bearer token; the first answers
//!   `{url, mime_type, file_size, id}` pointing at the second, which serves the bytes. Unknown ids 404.
//!   An id set with [`FakeMedia::serve_elsewhere`] points at another server, with no `file_size`.
//! - `POST /graph/{phone}/media` (multipart upload) answers `{id}`; `POST /graph/{phone}/messages`
//!   records the JSON and answers a wamid.
//! - `POST /v1/audio/transcriptions`: records every multipart request; answers `{text}`, or 503 while
//!   failing is switched on.
//! - `POST /api/v1/accounts/{a}/conversations/{c}/messages` (Chatwoot): records the multipart fields.
//! - `GET /rails/active_storage/blobs/redirect/{*rest}` redirects to `/storage/{name}`, which serves
//!   the file; whether either request carried `api_access_token` is recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// One part of a recorded multipart request.
#[derive(Debug, Clone)]
pub struct FormPart {
    /// The field name.
    pub name: String,
    /// The part's file name, for files.
    pub file_name: Option<String>,
    /// The part's content type, when given.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Bytes,
}

/// A recorded multipart request and its `Authorization` header.
#[derive(Debug, Clone)]
pub struct FormRequest {
    /// `Authorization`, when sent.
    pub authorization: Option<String>,
    /// `api_access_token`, when sent.
    pub api_token: Option<String>,
    /// The parts, in order.
    pub parts: Vec<FormPart>,
}

impl FormRequest {
    /// The text of the first part named `name`.
    pub fn text(&self, name: &str) -> Option<String> {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    }

    /// Every part named `name`.
    pub fn all(&self, name: &str) -> Vec<FormPart> {
        self.parts.iter().filter(|p| p.name == name).cloned().collect()
    }
}

#[derive(Default)]
struct MediaState {
    waha_key: String,
    token: String,
    files: HashMap<String, (Bytes, String)>,
    elsewhere: HashMap<String, String>,
    waha_sends: Vec<(String, Value)>,
    waha_file_requests: usize,
    graph_requests: Vec<(String, Option<String>)>,
    uploads: Vec<FormRequest>,
    graph_messages: Vec<Value>,
    transcriptions: Vec<FormRequest>,
    transcript: String,
    fail_transcription: bool,
    chatwoot_messages: Vec<FormRequest>,
    blob_tokens: Vec<Option<String>>,
}

type Shared = Arc<Mutex<MediaState>>;

/// The running fake; the server stops when this is dropped.
pub struct FakeMedia {
    addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl Drop for FakeMedia {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeMedia {
    /// Starts the fake: WAHA wants `X-Api-Key: waha_key`, the Graph API `Bearer token`; the speech-to-
    /// text endpoint answers `transcript`.
    pub async fn start(waha_key: &str, token: &str, transcript: &str) -> FakeMedia {
        let state: Shared = Arc::new(Mutex::new(MediaState {
            waha_key: waha_key.into(),
            token: token.into(),
            transcript: transcript.into(),
            ..MediaState::default()
        }));
        let app = Router::new()
            .route("/api/files/{*path}", get(waha_file))
            .route("/api/{action}", post(waha_send))
            .route("/graph/{id}", get(graph_lookup))
            .route("/lookaside/{id}", get(graph_download))
            .route("/graph/{phone}/media", post(graph_upload))
            .route("/graph/{phone}/messages", post(graph_message))
            .route("/v1/audio/transcriptions", post(transcribe))
            .route(
                "/api/v1/accounts/{a}/conversations/{c}/messages",
                post(chatwoot_message),
            )
            .route("/rails/active_storage/blobs/redirect/{*rest}", get(blob_redirect))
            .route("/storage/{name}", get(blob_file))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake media");
        let addr = listener.local_addr().expect("fake media address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake media server");
        });
        FakeMedia { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `bytes` as `key`: a WAHA path (`default/x.oga`), a Graph media id, or a storage name.
    pub fn add_file(&self, key: &str, bytes: &[u8], mime: &str) {
        let file = (Bytes::copy_from_slice(bytes), mime.to_owned());
        self.state.lock().unwrap().files.insert(key.to_owned(), file);
    }

    /// Makes the Graph lookup of media `id` answer `url` (another server), `image/jpeg`, no size.
    pub fn serve_elsewhere(&self, id: &str, url: &str) {
        let mut s = self.state.lock().unwrap();
        s.elsewhere.insert(id.to_owned(), url.to_owned());
    }

    /// Switches the speech-to-text endpoint to answering 503.
    pub fn fail_transcription(&self, fail: bool) {
        self.state.lock().unwrap().fail_transcription = fail;
    }

    /// WAHA file requests that arrived (authorised or not).
    pub fn waha_file_requests(&self) -> usize {
        self.state.lock().unwrap().waha_file_requests
    }

    /// WAHA sends as `(action, body)`.
    pub fn waha_sends(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().waha_sends.clone()
    }

    /// Graph GETs as `(path, Authorization)`.
    pub fn graph_requests(&self) -> Vec<(String, Option<String>)> {
        self.state.lock().unwrap().graph_requests.clone()
    }

    /// Graph uploads.
    pub fn uploads(&self) -> Vec<FormRequest> {
        self.state.lock().unwrap().uploads.clone()
    }

    /// Graph `messages` bodies.
    pub fn graph_messages(&self) -> Vec<Value> {
        self.state.lock().unwrap().graph_messages.clone()
    }

    /// Speech-to-text requests.
    pub fn transcriptions(&self) -> Vec<FormRequest> {
        self.state.lock().unwrap().transcriptions.clone()
    }

    /// Chatwoot multipart message requests.
    pub fn chatwoot_messages(&self) -> Vec<FormRequest> {
        self.state.lock().unwrap().chatwoot_messages.clone()
    }

    /// `api_access_token` of each blob request (redirect and file).
    pub fn blob_tokens(&self) -> Vec<Option<String>> {
        self.state.lock().unwrap().blob_tokens.clone()
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn file_response(file: Option<(Bytes, String)>) -> Response {
    match file {
        Some((bytes, mime)) => ([(header::CONTENT_TYPE, mime)], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn waha_file(State(state): State<Shared>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    s.waha_file_requests += 1;
    if header_text(&headers, "x-api-key").as_deref() != Some(s.waha_key.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    file_response(s.files.get(&path).cloned())
}

async fn waha_send(
    State(state): State<Shared>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if header_text(&headers, "x-api-key").as_deref() != Some(s.waha_key.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.waha_sends.push((action, body));
    let id = json!({ "id": { "_serialized": "true_31641238876@c.us_3EB0F11E" } });
    (StatusCode::CREATED, axum::Json(id)).into_response()
}

fn bearer_ok(s: &MediaState, headers: &HeaderMap) -> bool {
    header_text(headers, "authorization") == Some(format!("Bearer {}", s.token))
}

async fn graph_lookup(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let base = format!("http://{}", header_text(&headers, "host").unwrap_or_default());
    let mut s = state.lock().unwrap();
    s.graph_requests
        .push((format!("/graph/{id}"), header_text(&headers, "authorization")));
    if !bearer_ok(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(url) = s.elsewhere.get(&id) {
        let answer =
            json!({"url": url, "mime_type": "image/jpeg", "id": id, "messaging_product": "whatsapp"});
        return axum::Json(answer).into_response();
    }
    let Some((bytes, mime)) = s.files.get(&id).cloned() else {
        let error = json!({"error": {"message": "Unsupported get request.", "code": 100}});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let mut answer: Value =
        serde_json::from_str(include_str!("../../fixtures/meta/media_url_response.json")).unwrap();
    answer["url"] = json!(format!("{base}/lookaside/{id}"));
    answer["mime_type"] = json!(mime);
    answer["file_size"] = json!(bytes.len());
    answer["id"] = json!(id);
    axum::Json(answer).into_response()
}

async fn graph_download(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    s.graph_requests
        .push((format!("/lookaside/{id}"), header_text(&headers, "authorization")));
    if !bearer_ok(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    file_response(s.files.get(&id).cloned())
}

async fn read_form(headers: &HeaderMap, mut multipart: Multipart) -> FormRequest {
    let mut parts = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.unwrap_or_default();
        parts.push(FormPart {
            name,
            file_name,
            content_type,
            data,
        });
    }
    FormRequest {
        authorization: header_text(headers, "authorization"),
        api_token: header_text(headers, "api_access_token"),
        parts,
    }
}

async fn graph_upload(State(state): State<Shared>, headers: HeaderMap, multipart: Multipart) -> Response {
    let form = read_form(&headers, multipart).await;
    let mut s = state.lock().unwrap();
    if !bearer_ok(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    s.uploads.push(form);
    let answer: Value =
        serde_json::from_str(include_str!("../../fixtures/meta/media_upload_response.json")).unwrap();
    axum::Json(answer).into_response()
}

async fn graph_message(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if !bearer_ok(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    s.graph_messages
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    axum::Json(json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.SENT1"}]})).into_response()
}

async fn transcribe(State(state): State<Shared>, headers: HeaderMap, multipart: Multipart) -> Response {
    let form = read_form(&headers, multipart).await;
    let mut s = state.lock().unwrap();
    s.transcriptions.push(form);
    if s.fail_transcription {
        let error = json!({"error": {"message": "overloaded", "type": "server_error"}});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(error)).into_response();
    }
    axum::Json(json!({ "text": s.transcript })).into_response()
}

async fn chatwoot_message(State(state): State<Shared>, headers: HeaderMap, multipart: Multipart) -> Response {
    let form = read_form(&headers, multipart).await;
    let content = form.text("content");
    let source_id = form.text("source_id");
    let mut s = state.lock().unwrap();
    s.chatwoot_messages.push(form);
    let id = 50_000 + s.chatwoot_messages.len() as u64;
    let answer = json!({"id": id, "content": content, "message_type": 0, "private": false,
        "source_id": source_id, "created_at": 1_784_017_600, "sender": {"type": "contact"}});
    axum::Json(answer).into_response()
}

async fn blob_redirect(
    State(state): State<Shared>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    state
        .lock()
        .unwrap()
        .blob_tokens
        .push(header_text(&headers, "api_access_token"));
    let name = rest.rsplit('/').next().unwrap_or_default().to_owned();
    Redirect::to(&format!("/storage/{name}")).into_response()
}

async fn blob_file(State(state): State<Shared>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    s.blob_tokens.push(header_text(&headers, "api_access_token"));
    file_response(s.files.get(&name).cloned())
}
