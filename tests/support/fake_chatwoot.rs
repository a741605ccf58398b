//! A fake Chatwoot (the v4.15.1 REST API of one account with one API inbox) for integration tests.
//!
//! It keeps contacts, contact_inboxes, conversations and messages in memory and answers in the shapes
//! of `shared/fixtures/chatwoot/`: creates answer 200; conversation ids are per-account display ids;
//! message ids are global, increasing and have gaps; `message_type` is an integer in every response;
//! `source_id` is stored verbatim. Like Chatwoot it:
//! - requires `api_access_token` (401 with the fixture bodies when missing or unknown, or when the path
//!   names another account) and answers 404 `Resource could not be found` for unknown ids;
//! - searches contacts by substring over name, email, phone (case-insensitive) and identifier
//!   (case-sensitive), or by id for all-digit queries, 15 per page with `has_more`; a `+` in the query
//!   string decodes to a space, so a phone's `+` must be sent as `%2B`;
//! - lists the latest 20 messages ascending, or 20 before `before=<id>` (100 after `after=<id>`);
//! - makes the contact the sender of `incoming` messages and the token's user (id 21, "wa-agent
//!   (AI-assistent)", an administrator, so opening a conversation does not assign it) the sender of
//!   `outgoing` ones; an incoming message reopens a resolved or snoozed conversation;
//! - adds an activity message (type 2, no sender) for every status change and assignment;
//! - refuses a 201st message in one conversation within a minute (422 "Too many messages").
//!
//! Test knobs: `set_down` (every request answers 503), `set_list_lag` (listing only shows messages
//! older than the lag: Chatwoot "behind its writes"), seeding, and direct status/assignee changes that
//! stand in for a human in the dashboard. Every request is recorded, including refused ones.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const ERRORS: &str = include_str!("../../../shared/fixtures/chatwoot/errors.json");
const SEARCH: &str = include_str!("../../../shared/fixtures/chatwoot/api_contacts_search.json");
const CREATED_CONTACT: &str =
    include_str!("../../../shared/fixtures/chatwoot/api_create_contact_response.json");
const CREATED_MESSAGE: &str =
    include_str!("../../../shared/fixtures/chatwoot/api_create_message_response.json");
const CONTACT_CONVERSATIONS: &str =
    include_str!("../../../shared/fixtures/chatwoot/api_contact_conversations.json");

/// The user the access token belongs to; sender of every `outgoing` message posted through the API.
pub const API_USER_ID: u64 = 21;
/// A human agent; sender of seeded `user` messages whose `source_id` does not start with `wa-agent:`.
pub const HUMAN_USER_ID: u64 = 14;
/// The agent bot that sends seeded `agent_bot` messages.
pub const AGENT_BOT_ID: u64 = 5;
const FLOOD_LIMIT: usize = 200;
const SEARCH_PER_PAGE: usize = 15;
const MESSAGES_PER_PAGE: usize = 20;
const VALID_STATUSES: [&str; 4] = ["open", "resolved", "pending", "snoozed"];

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/api/v1/accounts/3/conversations/81/messages`.
    pub path: String,
    /// The raw query string (still percent-encoded), empty when none.
    pub query: String,
    /// The JSON body; `Null` when empty, a string when not JSON.
    pub body: Value,
}

/// A message to seed. `sender_type` `None` picks the usual sender for the type: the contact for
/// incoming (0), a user for outgoing (1) and template (3), nobody for activity (2).
#[derive(Debug, Clone)]
pub struct SeedMessage {
    pub content: String,
    pub message_type: i64,
    pub private: bool,
    pub source_id: Option<String>,
    pub sender_type: Option<String>,
}

impl SeedMessage {
    /// A customer's message.
    pub fn incoming(content: &str) -> Self {
        Self::new(content, 0)
    }

    /// A reply from a user (the AI user when `source_id` starts with `wa-agent:`, else a human).
    pub fn outgoing(content: &str) -> Self {
        Self::new(content, 1)
    }

    /// The same message with a `source_id`.
    pub fn with_source_id(mut self, source_id: &str) -> Self {
        self.source_id = Some(source_id.to_owned());
        self
    }

    fn new(content: &str, message_type: i64) -> Self {
        SeedMessage {
            content: content.to_owned(),
            message_type,
            private: false,
            source_id: None,
            sender_type: None,
        }
    }
}

#[derive(Clone, Copy)]
enum Sender {
    Nobody,
    Contact(u64),
    User(u64),
    AgentBot(u64),
}

struct ContactRow {
    id: u64,
    name: String,
    email: Option<String>,
    phone_number: Option<String>,
    identifier: Option<String>,
    custom_attributes: Value,
    additional_attributes: Value,
    created_at: i64,
    last_activity_at: Option<i64>,
}

struct ContactInboxRow {
    contact_id: u64,
    inbox_id: u64,
    source_id: String,
}

struct ConversationRow {
    id: u64,
    uuid: String,
    contact_id: u64,
    inbox_id: u64,
    source_id: String,
    status: String,
    assignee_id: Option<u64>,
    custom_attributes: Value,
    additional_attributes: Value,
    created_at: i64,
    updated_at: f64,
    last_activity_at: i64,
    first_reply_created_at: i64,
    waiting_since: i64,
}

struct MessageRow {
    id: u64,
    conversation_id: u64,
    content: Option<String>,
    message_type: i64,
    private: bool,
    source_id: Option<String>,
    sender: Sender,
    created_at: i64,
    /// When it was written; `None` for seeded messages, which are always visible.
    written: Option<Instant>,
}

/// A message before it gets an id and a time.
struct Draft {
    content: Option<String>,
    message_type: i64,
    private: bool,
    source_id: Option<String>,
    sender: Sender,
}

impl Draft {
    fn activity(text: String) -> Draft {
        Draft {
            content: Some(text),
            message_type: 2,
            private: false,
            source_id: None,
            sender: Sender::Nobody,
        }
    }
}

struct Db {
    account_id: u64,
    inbox_id: u64,
    token: String,
    down: bool,
    list_lag: Duration,
    next_contact_id: u64,
    next_conversation_id: u64,
    next_message_id: u64,
    contacts: BTreeMap<u64, ContactRow>,
    contact_inboxes: Vec<ContactInboxRow>,
    conversations: BTreeMap<u64, ConversationRow>,
    messages: Vec<MessageRow>,
    requests: Vec<RecordedRequest>,
}

type Shared = Arc<Mutex<Db>>;

/// The running fake; the server stops when this is dropped.
pub struct FakeChatwoot {
    addr: SocketAddr,
    db: Shared,
    task: JoinHandle<()>,
}

impl Drop for FakeChatwoot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeChatwoot {
    /// Starts the fake on `127.0.0.1:0` for `account_id`, with one API inbox, accepting `token`.
    pub async fn start(account_id: u64, inbox_id: u64, token: &str) -> FakeChatwoot {
        let db = Arc::new(Mutex::new(Db {
            account_id,
            inbox_id,
            token: token.to_owned(),
            down: false,
            list_lag: Duration::ZERO,
            next_contact_id: 301,
            next_conversation_id: 81,
            next_message_id: 48_201,
            contacts: BTreeMap::new(),
            contact_inboxes: Vec::new(),
            conversations: BTreeMap::new(),
            messages: Vec::new(),
            requests: Vec::new(),
        }));
        let base = "/api/v1/accounts/{account_id}";
        let app = Router::new()
            .route(&format!("{base}/contacts/search"), get(search_contacts))
            .route(&format!("{base}/contacts"), post(create_contact))
            .route(
                &format!("{base}/contacts/{{id}}/conversations"),
                get(contact_conversations),
            )
            .route(&format!("{base}/conversations"), post(create_conversation))
            .route(&format!("{base}/conversations/{{id}}"), get(show_conversation))
            .route(
                &format!("{base}/conversations/{{id}}/messages"),
                get(list_messages).post(create_message),
            )
            .route(
                &format!("{base}/conversations/{{id}}/toggle_status"),
                post(toggle_status),
            )
            .layer(middleware::from_fn_with_state(db.clone(), gatekeeper))
            .with_state(db.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Chatwoot");
        let addr = listener.local_addr().expect("fake Chatwoot address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Chatwoot server");
        });
        FakeChatwoot { addr, db, task }
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Listing messages only shows messages written more than `lag` ago (seeded ones always show).
    pub fn set_list_lag(&self, lag: Duration) {
        self.db().list_lag = lag;
    }

    /// While down, every request answers 503.
    pub fn set_down(&self, down: bool) {
        self.db().down = down;
    }

    /// A contact (identifier and contact_inbox source_id = `chat_id`, phone for phone chats), a pending
    /// conversation in the inbox and its messages, oldest first. Returns the conversation's display id.
    pub fn seed_conversation(&self, chat_id: &str, name: &str, messages: Vec<SeedMessage>) -> u64 {
        let mut db = self.db();
        let contact_id = match db.contact_by_identifier(chat_id) {
            Some(id) => id,
            None => db.insert_contact(name, phone_of(chat_id), Some(chat_id.to_owned()), None),
        };
        let inbox_id = db.inbox_id;
        db.ensure_contact_inbox(contact_id, chat_id)
            .expect("seeded source_id belongs to another contact");
        let gateway = if chat_id.contains('@') { "waha" } else { "meta" };
        let attributes = json!({ "wa_gateway": gateway, "wa_chat_id": chat_id });
        let conversation_id = db.insert_conversation(contact_id, inbox_id, chat_id, "pending", attributes);
        let count = messages.len() as i64;
        for (i, seed) in messages.into_iter().enumerate() {
            let draft = db.draft(conversation_id, seed);
            db.push_message(conversation_id, draft, now() - count + i as i64, None);
        }
        conversation_id
    }

    /// Writes a message now, as if created in Chatwoot (for instance a human's reply in the dashboard);
    /// it obeys the list lag. Returns it in the REST shape.
    pub fn add_message(&self, conversation_id: u64, seed: SeedMessage) -> Value {
        let mut db = self.db();
        let draft = db.draft(conversation_id, seed);
        let id = db.write_message(conversation_id, draft);
        db.render_message(db.message(id))
    }

    /// Every stored message of the conversation, ascending, in the REST shape (ignores the list lag).
    pub fn messages(&self, conversation_id: u64) -> Vec<Value> {
        let db = self.db();
        db.messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id)
            .map(|m| db.render_message(m))
            .collect()
    }

    /// Every conversation, by display id, in the REST shape.
    pub fn conversations(&self) -> Vec<Value> {
        let db = self.db();
        db.conversations
            .values()
            .map(|c| db.render_conversation(c))
            .collect()
    }

    /// Every contact, by id, in the search shape.
    pub fn contacts(&self) -> Vec<Value> {
        let db = self.db();
        db.contacts.values().map(|c| db.render_contact(c)).collect()
    }

    /// The newest conversation whose contact_inbox source_id or `wa_chat_id` is `chat_id`.
    pub fn conversation_for_chat(&self, chat_id: &str) -> Option<u64> {
        let db = self.db();
        db.conversations
            .values()
            .rev()
            .find(|c| c.source_id == chat_id || c.custom_attributes["wa_chat_id"] == chat_id)
            .map(|c| c.id)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.db().requests.clone()
    }

    /// Sets a conversation's status as a human in the dashboard would (with its activity message).
    pub fn set_status(&self, conversation_id: u64, status: &str) {
        let mut db = self.db();
        db.change_status(conversation_id, status, "Mark Jansen");
    }

    /// Assigns the conversation to a user (or unassigns it), as a human in the dashboard would.
    pub fn set_assignee(&self, conversation_id: u64, assignee_id: Option<u64>) {
        let mut db = self.db();
        let conversation = db
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        conversation.assignee_id = assignee_id;
        let text = match assignee_id {
            Some(id) => format!("Assigned to {} by Mark Jansen", user_name(id)),
            None => "Conversation unassigned by Mark Jansen".to_owned(),
        };
        db.write_message(conversation_id, Draft::activity(text));
    }

    /// Waits until the conversation holds at least `n` messages; false on timeout.
    pub async fn wait_for_messages(&self, conversation_id: u64, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.messages(conversation_id).len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.messages(conversation_id).len() >= n
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().expect("fake Chatwoot state")
    }
}

// ---- handlers: one per endpoint ----

type Reply = Result<Json<Value>, Failure>;

/// An error answer: status and JSON body.
#[derive(Debug)]
struct Failure(StatusCode, Value);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl Failure {
    fn fixture(name: &str) -> Failure {
        let errors: Value = serde_json::from_str(ERRORS).expect("errors fixture");
        let status = errors[name]["status"].as_u64().expect("fixture status") as u16;
        Failure(
            StatusCode::from_u16(status).expect("status"),
            errors[name]["body"].clone(),
        )
    }

    fn not_found() -> Failure {
        Failure::fixture("not_found")
    }

    fn unprocessable(body: Value) -> Failure {
        Failure(StatusCode::UNPROCESSABLE_ENTITY, body)
    }
}

/// Records every request, then answers 503 while down and 401 without the right token or account.
async fn gatekeeper(State(db): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let token = parts
        .headers
        .get("api_access_token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let account = parts.uri.path().split('/').nth(4).map(str::to_owned);
    {
        let mut db = db.lock().expect("fake Chatwoot state");
        db.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: recorded_body(&bytes),
        });
        if db.down {
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        match token {
            None => return Failure::fixture("missing_access_token").into_response(),
            Some(t) if t != db.token => return Failure::fixture("invalid_access_token").into_response(),
            Some(_) => {}
        }
        if account.is_some_and(|a| a != db.account_id.to_string()) {
            return Failure::fixture("user_not_in_account").into_response();
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

async fn search_contacts(
    State(db): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Json<Value> {
    let db = db.lock().expect("fake Chatwoot state");
    let Some(q) = params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty()) else {
        return Json(
            json!({ "meta": { "count": null, "current_page": 1, "has_more": null }, "payload": [] }),
        );
    };
    let page = params
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let mut hits: Vec<&ContactRow> = db
        .contacts
        .values()
        .filter(|c| contact_matches(c, q))
        .skip((page - 1) * SEARCH_PER_PAGE)
        .take(SEARCH_PER_PAGE + 1)
        .collect();
    let has_more = hits.len() > SEARCH_PER_PAGE;
    hits.truncate(SEARCH_PER_PAGE);
    let current_page = params.get("page").map_or(json!(1), |p| json!(p));
    let payload: Vec<Value> = hits.iter().map(|c| db.render_contact(c)).collect();
    Json(json!({
        "meta": { "count": payload.len(), "current_page": current_page, "has_more": has_more },
        "payload": payload,
    }))
}

async fn create_contact(State(db): State<Shared>, body: Bytes) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let inbox_id = u64_field(&body, "inbox_id");
    if inbox_id.is_some_and(|id| id != db.inbox_id) {
        return Err(Failure::not_found());
    }
    let phone = str_field(&body, "phone_number");
    let email = str_field(&body, "email");
    let identifier = str_field(&body, "identifier");
    db.validate_contact(phone.as_deref(), email.as_deref(), identifier.as_deref())?;
    let source_id = str_field(&body, "source_id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if inbox_id.is_some() && db.contact_inbox_owner(&source_id).is_some() {
        return Err(Failure::unprocessable(
            json!({ "error": "source_id should be unique" }),
        ));
    }
    let name = str_field(&body, "name").unwrap_or_default();
    let id = db.insert_contact(&name, phone, identifier, email);
    let contact = db.contacts.get_mut(&id).expect("just inserted");
    contact.custom_attributes = object_field(&body, "custom_attributes");
    contact.additional_attributes = object_field(&body, "additional_attributes");
    let contact_inbox = match inbox_id {
        Some(_) => {
            db.ensure_contact_inbox(id, &source_id)?;
            json!({ "inbox": db.render_inbox_full(), "source_id": source_id })
        }
        None => Value::Null,
    };
    let contact = db.render_contact(&db.contacts[&id]);
    Ok(Json(
        json!({ "payload": { "contact": contact, "contact_inbox": contact_inbox } }),
    ))
}

async fn contact_conversations(State(db): State<Shared>, Path((_, id)): Path<(String, String)>) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    let contact_id = parse_id(&id)
        .filter(|id| db.contacts.contains_key(id))
        .ok_or_else(Failure::not_found)?;
    let mut list: Vec<&ConversationRow> = db
        .conversations
        .values()
        .filter(|c| c.contact_id == contact_id)
        .collect();
    list.sort_by_key(|c| std::cmp::Reverse((c.last_activity_at, c.id)));
    let payload: Vec<Value> = list.iter().take(20).map(|c| db.render_conversation(c)).collect();
    Ok(Json(json!({ "payload": payload })))
}

async fn create_conversation(State(db): State<Shared>, body: Bytes) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let inbox_id = u64_field(&body, "inbox_id");
    let contact_id = u64_field(&body, "contact_id");
    if inbox_id.is_some_and(|id| id != db.inbox_id)
        || contact_id.is_some_and(|id| !db.contacts.contains_key(&id))
    {
        return Err(Failure::not_found());
    }
    let source_id = str_field(&body, "source_id");
    let contact_id = match (inbox_id, contact_id) {
        (Some(_), Some(contact_id)) => {
            let source_id = source_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            db.ensure_contact_inbox(contact_id, &source_id)?;
            contact_id
        }
        _ => source_id
            .as_deref()
            .and_then(|s| db.contact_inbox_owner(s))
            .ok_or_else(Failure::not_found)?,
    };
    let status = str_field(&body, "status").unwrap_or_else(|| "open".to_owned());
    check_status(&status)?;
    let source_id = source_id.unwrap_or_default();
    let inbox_id = db.inbox_id;
    let attributes = object_field(&body, "custom_attributes");
    let id = db.insert_conversation(contact_id, inbox_id, &source_id, &status, attributes);
    let conversation = db.conversations.get_mut(&id).expect("just inserted");
    conversation.additional_attributes = object_field(&body, "additional_attributes");
    conversation.assignee_id = u64_field(&body, "assignee_id");
    Ok(Json(db.render_conversation(&db.conversations[&id])))
}

async fn show_conversation(State(db): State<Shared>, Path((_, id)): Path<(String, String)>) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    let conversation = db.conversation(&id)?;
    Ok(Json(db.render_conversation(conversation)))
}

async fn list_messages(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    let conversation = db.conversation(&id)?;
    let bound = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<u64>().unwrap_or(0))
    };
    let internal_hidden = params
        .get("filter_internal_messages")
        .is_some_and(|v| !v.is_empty());
    let visible: Vec<&MessageRow> = db
        .messages
        .iter()
        .filter(|m| m.conversation_id == conversation.id && db.is_listed(m))
        .filter(|m| !internal_hidden || (!m.private && m.message_type != 2))
        .collect();
    let page: Vec<&MessageRow> = match (bound("after"), bound("before")) {
        (Some(after), Some(before)) => visible
            .into_iter()
            .filter(|m| m.id >= after && m.id < before)
            .take(1000)
            .collect(),
        (None, Some(before)) => latest(visible.into_iter().filter(|m| m.id < before).collect()),
        (Some(after), None) => visible.into_iter().filter(|m| m.id > after).take(100).collect(),
        (None, None) => latest(visible),
    };
    let payload: Vec<Value> = page.iter().map(|m| db.render_message(m)).collect();
    Ok(Json(
        json!({ "meta": db.render_messages_meta(conversation), "payload": payload }),
    ))
}

async fn create_message(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let conversation_id = db.conversation(&id)?.id;
    let kind = str_field(&body, "message_type").unwrap_or_else(|| "outgoing".to_owned());
    let Some(message_type) = ["incoming", "outgoing", "activity", "template"]
        .iter()
        .position(|k| *k == kind)
    else {
        return Err(Failure::unprocessable(
            json!({ "error": format!("'{kind}' is not a valid message_type") }),
        ));
    };
    if db.written_last_minute(conversation_id) >= FLOOD_LIMIT {
        return Err(Failure::fixture("message_flood_limit"));
    }
    let sender = match message_type {
        0 => Sender::Contact(db.conversations[&conversation_id].contact_id),
        2 => Sender::Nobody,
        _ => Sender::User(API_USER_ID),
    };
    let draft = Draft {
        content: str_field(&body, "content"),
        message_type: message_type as i64,
        private: bool_field(&body, "private"),
        source_id: str_field(&body, "source_id"),
        sender,
    };
    let id = db.write_message(conversation_id, draft);
    Ok(Json(db.render_message(db.message(id))))
}

async fn toggle_status(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let conversation = db.conversation(&id)?;
    let (id, current) = (conversation.id, conversation.status.clone());
    let status = match str_field(&body, "status") {
        Some(status) => status,
        None if current == "open" => "resolved".to_owned(),
        None => "open".to_owned(),
    };
    check_status(&status)?;
    db.change_status(id, &status, &user_name(API_USER_ID));
    Ok(Json(json!({
        "meta": {},
        "payload": { "success": true, "conversation_id": id, "current_status": status, "snoozed_until": null },
    })))
}

// ---- state operations ----

impl Db {
    fn conversation(&self, raw_id: &str) -> Result<&ConversationRow, Failure> {
        parse_id(raw_id)
            .and_then(|id| self.conversations.get(&id))
            .ok_or_else(Failure::not_found)
    }

    fn message(&self, id: u64) -> &MessageRow {
        self.messages
            .iter()
            .rev()
            .find(|m| m.id == id)
            .expect("known message")
    }

    fn contact_by_identifier(&self, identifier: &str) -> Option<u64> {
        self.contacts
            .values()
            .find(|c| c.identifier.as_deref() == Some(identifier))
            .map(|c| c.id)
    }

    fn contact_inbox_owner(&self, source_id: &str) -> Option<u64> {
        self.contact_inboxes
            .iter()
            .find(|ci| ci.inbox_id == self.inbox_id && ci.source_id == source_id)
            .map(|ci| ci.contact_id)
    }

    /// Finds or creates the contact_inbox; a source_id already used by another contact is refused.
    fn ensure_contact_inbox(&mut self, contact_id: u64, source_id: &str) -> Result<(), Failure> {
        match self.contact_inbox_owner(source_id) {
            Some(owner) if owner == contact_id => Ok(()),
            Some(_) => Err(Failure::unprocessable(
                json!({ "error": "source_id should be unique" }),
            )),
            None => {
                let inbox_id = self.inbox_id;
                self.contact_inboxes.push(ContactInboxRow {
                    contact_id,
                    inbox_id,
                    source_id: source_id.to_owned(),
                });
                Ok(())
            }
        }
    }

    /// Phone format, then uniqueness of phone, email and identifier, joined like Rails does.
    fn validate_contact(
        &self,
        phone: Option<&str>,
        email: Option<&str>,
        identifier: Option<&str>,
    ) -> Result<(), Failure> {
        let mut problems: Vec<(&str, &str)> = Vec::new();
        if let Some(phone) = phone {
            if !is_e164(phone) {
                problems.push(("phone_number", "Phone number should be in e164 format"));
            } else if self
                .contacts
                .values()
                .any(|c| c.phone_number.as_deref() == Some(phone))
            {
                problems.push(("phone_number", "Phone number has already been taken"));
            }
        }
        let email_taken = |e: &str| {
            self.contacts
                .values()
                .any(|c| c.email.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e)))
        };
        if email.is_some_and(email_taken) {
            problems.push(("email", "Email has already been taken"));
        }
        if identifier.is_some_and(|i| self.contact_by_identifier(i).is_some()) {
            problems.push(("identifier", "Identifier has already been taken"));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let message: Vec<&str> = problems.iter().map(|(_, m)| *m).collect();
        let attributes: Vec<&str> = problems.iter().map(|(a, _)| *a).collect();
        Err(Failure::unprocessable(
            json!({ "message": message.join(", "), "attributes": attributes }),
        ))
    }

    fn insert_contact(
        &mut self,
        name: &str,
        phone: Option<String>,
        identifier: Option<String>,
        email: Option<String>,
    ) -> u64 {
        let id = self.next_contact_id;
        self.next_contact_id += 1;
        let row = ContactRow {
            id,
            name: name.to_owned(),
            email,
            phone_number: phone,
            identifier,
            custom_attributes: json!({}),
            additional_attributes: json!({}),
            created_at: now(),
            last_activity_at: None,
        };
        self.contacts.insert(id, row);
        id
    }

    fn insert_conversation(
        &mut self,
        contact_id: u64,
        inbox_id: u64,
        source_id: &str,
        status: &str,
        custom_attributes: Value,
    ) -> u64 {
        let id = self.next_conversation_id;
        self.next_conversation_id += 1;
        let at = now();
        let row = ConversationRow {
            id,
            uuid: uuid::Uuid::new_v4().to_string(),
            contact_id,
            inbox_id,
            source_id: source_id.to_owned(),
            status: status.to_owned(),
            assignee_id: None,
            custom_attributes,
            additional_attributes: json!({}),
            created_at: at,
            updated_at: now_f64(),
            last_activity_at: at,
            first_reply_created_at: 0,
            waiting_since: at,
        };
        self.conversations.insert(id, row);
        id
    }

    /// Global ids that increase with gaps (1, 2 or 3 apart), as ids shared by all accounts do.
    fn next_message_id(&mut self) -> u64 {
        let id = self.next_message_id;
        self.next_message_id += 1 + id % 3;
        id
    }

    /// Stores a message with the next id.
    fn push_message(
        &mut self,
        conversation_id: u64,
        d: Draft,
        created_at: i64,
        written: Option<Instant>,
    ) -> u64 {
        let id = self.next_message_id();
        let (content, message_type, private, source_id, sender) =
            (d.content, d.message_type, d.private, d.source_id, d.sender);
        self.messages.push(MessageRow {
            id,
            conversation_id,
            content,
            message_type,
            private,
            source_id,
            sender,
            created_at,
            written,
        });
        id
    }

    /// Writes a live message now and applies its side effects on the conversation and contact.
    fn write_message(&mut self, conversation_id: u64, draft: Draft) -> u64 {
        let (message_type, private, sender) = (draft.message_type, draft.private, draft.sender);
        let at = now();
        let id = self.push_message(conversation_id, draft, at, Some(Instant::now()));
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        conversation.last_activity_at = at;
        conversation.updated_at = now_f64();
        let reopen = message_type == 0 && matches!(conversation.status.as_str(), "resolved" | "snoozed");
        if message_type == 0 && conversation.waiting_since == 0 {
            conversation.waiting_since = at;
        }
        if message_type == 1 && !private && matches!(sender, Sender::User(_)) {
            if conversation.first_reply_created_at == 0 {
                conversation.first_reply_created_at = at;
            }
            conversation.waiting_since = 0;
        }
        if let Sender::Contact(contact_id) = sender {
            if let Some(contact) = self.contacts.get_mut(&contact_id) {
                contact.last_activity_at = Some(at);
            }
        }
        if reopen {
            self.change_status(conversation_id, "open", "a new incoming message");
        }
        id
    }

    /// Sets the status; a change adds an activity message naming who made it.
    fn change_status(&mut self, conversation_id: u64, status: &str, by: &str) {
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        if conversation.status == status {
            return;
        }
        conversation.status = status.to_owned();
        conversation.updated_at = now_f64();
        let text = format!("Conversation status set to {status} by {by}");
        self.write_message(conversation_id, Draft::activity(text));
    }

    /// A seeded message's draft, with the usual sender for its type unless the seed names one.
    fn draft(&self, conversation_id: u64, seed: SeedMessage) -> Draft {
        let contact_id = self
            .conversations
            .get(&conversation_id)
            .expect("known conversation")
            .contact_id;
        let ours = seed
            .source_id
            .as_deref()
            .is_some_and(|s| s.starts_with("wa-agent:"));
        let user = Sender::User(if ours { API_USER_ID } else { HUMAN_USER_ID });
        let sender = match (seed.sender_type.as_deref(), seed.message_type) {
            (Some("contact"), _) | (None, 0) => Sender::Contact(contact_id),
            (Some("user"), _) | (None, 1 | 3) => user,
            (Some("agent_bot"), _) => Sender::AgentBot(AGENT_BOT_ID),
            _ => Sender::Nobody,
        };
        Draft {
            content: Some(seed.content),
            message_type: seed.message_type,
            private: seed.private,
            source_id: seed.source_id,
            sender,
        }
    }

    fn written_last_minute(&self, conversation_id: u64) -> usize {
        let minute = Duration::from_secs(60);
        self.messages
            .iter()
            .filter(|m| {
                m.conversation_id == conversation_id && m.written.is_some_and(|w| w.elapsed() < minute)
            })
            .count()
    }

    fn is_listed(&self, message: &MessageRow) -> bool {
        message.written.is_none_or(|w| w.elapsed() >= self.list_lag)
    }
}

// ---- renderers for the REST shapes ----

impl Db {
    fn render_inbox_slim(&self) -> Value {
        template(
            SEARCH,
            "/payload/0/contact_inboxes/0/inbox",
            json!({ "id": self.inbox_id }),
        )
    }

    fn render_inbox_full(&self) -> Value {
        let ids = json!({ "id": self.inbox_id, "account_id": self.account_id });
        template(CREATED_CONTACT, "/payload/contact_inbox/inbox", ids)
    }

    /// The contact as conversations' `meta.sender` shows it.
    fn render_contact_meta(&self, c: &ContactRow) -> Value {
        let mut v = json!({
            "additional_attributes": c.additional_attributes, "availability_status": "offline", "email": c.email,
            "id": c.id, "name": c.name, "phone_number": c.phone_number, "blocked": false,
            "identifier": c.identifier, "thumbnail": "", "custom_attributes": c.custom_attributes,
            "created_at": c.created_at,
        });
        if let Some(at) = c.last_activity_at {
            v["last_activity_at"] = json!(at);
        }
        v
    }

    /// The contact as search and create show it, with its contact_inboxes.
    fn render_contact(&self, c: &ContactRow) -> Value {
        let inboxes: Vec<Value> = self
            .contact_inboxes
            .iter()
            .filter(|ci| ci.contact_id == c.id)
            .map(|ci| json!({ "source_id": ci.source_id, "inbox": self.render_inbox_slim() }))
            .collect();
        let mut v = self.render_contact_meta(c);
        v["contact_inboxes"] = json!(inboxes);
        v
    }

    fn render_sender(&self, sender: Sender) -> Option<Value> {
        match sender {
            Sender::Nobody => None,
            Sender::Contact(id) => self.contacts.get(&id).map(|c| {
                json!({
                    "additional_attributes": c.additional_attributes, "custom_attributes": c.custom_attributes,
                    "email": c.email, "id": c.id, "identifier": c.identifier, "name": c.name,
                    "phone_number": c.phone_number, "thumbnail": "", "blocked": false, "type": "contact",
                })
            }),
            Sender::User(id) => Some(render_user(id)),
            Sender::AgentBot(id) => Some(json!({ "id": id, "name": "wa-agent bot", "avatar_url": "", "type": "agent_bot" })),
        }
    }

    fn render_message(&self, m: &MessageRow) -> Value {
        let mut v = json!({
            "id": m.id, "content": m.content, "inbox_id": self.inbox_id, "conversation_id": m.conversation_id,
            "message_type": m.message_type, "content_type": "text", "status": "sent", "content_attributes": {},
            "created_at": m.created_at, "private": m.private, "source_id": m.source_id,
        });
        if let Some(sender) = self.render_sender(m.sender) {
            v["sender"] = sender;
        }
        v
    }

    /// A message nested in a conversation: the REST shape plus the sender's model name and id.
    fn render_nested_message(&self, m: &MessageRow) -> Value {
        let (model, id) = match m.sender {
            Sender::Nobody => (Value::Null, Value::Null),
            Sender::Contact(id) => (json!("Contact"), json!(id)),
            Sender::User(id) => (json!("User"), json!(id)),
            Sender::AgentBot(id) => (json!("AgentBot"), json!(id)),
        };
        let mut v = self.render_message(m);
        v["account_id"] = json!(self.account_id);
        v["sender_type"] = model;
        v["sender_id"] = id;
        v
    }

    fn render_conversation(&self, c: &ConversationRow) -> Value {
        let newest = |keep: fn(&MessageRow) -> bool| {
            let mut mine = self.messages.iter().rev().filter(|m| m.conversation_id == c.id);
            mine.find(|m| keep(m)).map(|m| self.render_nested_message(m))
        };
        let last = newest(|_| true);
        let last_non_activity = newest(|m| m.message_type != 2);
        let mut meta = json!({
            "sender": self.contacts.get(&c.contact_id).map(|ct| self.render_contact_meta(ct)),
            "channel": "Channel::Api",
            "hmac_verified": false,
        });
        if let Some(id) = c.assignee_id {
            meta["assignee"] = render_agent(id, self.account_id);
            meta["assignee_type"] = json!("User");
        }
        json!({
            "meta": meta, "id": c.id, "messages": last.into_iter().collect::<Vec<_>>(),
            "account_id": self.account_id, "uuid": c.uuid, "additional_attributes": c.additional_attributes,
            "agent_last_seen_at": 0, "assignee_last_seen_at": 0, "can_reply": true, "contact_last_seen_at": 0,
            "custom_attributes": c.custom_attributes, "inbox_id": c.inbox_id, "labels": [], "muted": false,
            "snoozed_until": null, "status": c.status, "created_at": c.created_at, "updated_at": c.updated_at,
            "timestamp": c.last_activity_at, "first_reply_created_at": c.first_reply_created_at, "unread_count": 0,
            "last_non_activity_message": last_non_activity, "last_activity_at": c.last_activity_at,
            "priority": null, "waiting_since": c.waiting_since, "sla_policy_id": null,
        })
    }

    fn render_messages_meta(&self, c: &ConversationRow) -> Value {
        let mut meta = json!({
            "labels": [],
            "additional_attributes": c.additional_attributes,
            "contact": self.render_sender(Sender::Contact(c.contact_id)),
            "agent_last_seen_at": null,
            "assignee_last_seen_at": null,
        });
        if let Some(id) = c.assignee_id {
            meta["assignee"] = render_user(id);
        }
        meta
    }
}

fn user_name(id: u64) -> String {
    match id {
        API_USER_ID => "wa-agent (AI-assistent)".to_owned(),
        HUMAN_USER_ID => "Mark Jansen".to_owned(),
        other => format!("Agent {other}"),
    }
}

/// A user as a message's `sender` shows it.
fn render_user(id: u64) -> Value {
    let name = user_name(id);
    template(
        CREATED_MESSAGE,
        "/sender",
        json!({ "id": id, "name": name, "available_name": name }),
    )
}

/// A user as a conversation's `meta.assignee` shows it.
fn render_agent(id: u64, account_id: u64) -> Value {
    let name = user_name(id);
    let fields = json!({
        "id": id, "account_id": account_id, "name": name, "available_name": name,
        "email": format!("agent{id}@example.test"),
    });
    template(CONTACT_CONVERSATIONS, "/payload/0/meta/assignee", fields)
}

/// The fixture value at `pointer` with `fields` set over it.
fn template(fixture: &str, pointer: &str, fields: Value) -> Value {
    let parsed: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    let mut value = parsed
        .pointer(pointer)
        .cloned()
        .expect("fixture has the template");
    for (key, field) in fields.as_object().expect("fields are an object") {
        value[key] = field.clone();
    }
    value
}

// ---- small helpers ----

/// The latest page of an ascending list, still ascending.
fn latest(mut list: Vec<&MessageRow>) -> Vec<&MessageRow> {
    let skip = list.len().saturating_sub(MESSAGES_PER_PAGE);
    list.drain(..skip);
    list
}

fn contact_matches(c: &ContactRow, q: &str) -> bool {
    let lower = q.to_lowercase();
    let ilike = |field: &Option<String>| {
        field
            .as_deref()
            .is_some_and(|f| f.to_lowercase().contains(&lower))
    };
    c.name.to_lowercase().contains(&lower)
        || ilike(&c.email)
        || ilike(&c.phone_number)
        || c.identifier.as_deref().is_some_and(|i| i.contains(q))
        || (q.bytes().all(|b| b.is_ascii_digit()) && c.id.to_string() == q)
}

fn check_status(status: &str) -> Result<(), Failure> {
    if VALID_STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(Failure::unprocessable(
            json!({ "error": format!("'{status}' is not a valid status") }),
        ))
    }
}

fn phone_of(chat_id: &str) -> Option<String> {
    let (user, server) = chat_id.split_once('@')?;
    let phone = format!("+{user}");
    (matches!(server, "c.us" | "s.whatsapp.net") && is_e164(&phone)).then_some(phone)
}

fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or_default();
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

fn parse_id(raw: &str) -> Option<u64> {
    raw.parse().ok()
}

fn request_json(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!({}))
}

fn recorded_body(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A string parameter; numbers are taken as their text, empty strings as absent (Rails `present?`).
fn str_field(body: &Value, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn u64_field(body: &Value, key: &str) -> Option<u64> {
    str_field(body, key).and_then(|s| s.trim().parse().ok())
}

fn bool_field(body: &Value, key: &str) -> bool {
    matches!(body.get(key), Some(Value::Bool(true))) || body.get(key).and_then(Value::as_str) == Some("true")
}

fn object_field(body: &Value, key: &str) -> Value {
    body.get(key)
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_micros() as f64) / 1e6)
}
