//! A fake Chatwoot (the v4.15.1 REST API of one account with one API inbox, plus an account webhook)
//! for integration tests.
//!
//! It keeps contacts, contact_inboxes, conversations and messages in memory and answers in the shapes
//! of `tests/fixtures/chatwoot/`: creates answer 200; conversation ids are per-account display ids;
//! message ids are global, increasing and have gaps; `message_type` is an integer in every response;
//! `source_id` is stored verbatim. Like Chatwoot it:
//! - requires `api_access_token` (401 with the fixture bodies when missing or unknown, or when the path
//!   names another account) and answers 404 `Resource could not be found` for unknown ids;
//! - answers `GET /api/v1/profile` with the token's user (id 21, "wa-agent (AI-assistent)", role
//!   `administrator` unless `set_profile_role("agent")`);
//! - searches contacts by substring over name, email, phone (case-insensitive) and identifier
//!   (case-sensitive), or by id for all-digit queries, 15 per page with `has_more`; a `+` in the query
//!   string decodes to a space, so a phone's `+` must be sent as `%2B`;
//! - lists the latest 20 messages ascending, or 20 before `before=<id>` (100 after `after=<id>`);
//! - makes the contact the sender of `incoming` messages and the token's user the sender of `outgoing`
//!   ones; an incoming message reopens a resolved or snoozed conversation;
//! - updates a message's `status` on `PATCH …/messages/{id}` like `Messages::StatusUpdateService`: unknown
//!   statuses and `read` → `delivered` are ignored, `external_error` is kept (in `content_attributes`)
//!   only with `failed`;
//! - opens and also self-assigns on `toggle_status` when the token's role is `agent`;
//! - adds an activity message (type 2, no sender) for every status change and assignment;
//! - refuses a 201st message in one conversation within a minute (422 "Too many messages");
//! - after `set_agent_bot_token`, takes that token too, but only on Chatwoot's bot endpoints
//!   (conversation create/update/`toggle_status`/`toggle_priority`/`custom_attributes`, message create,
//!   assignment create; anything else is 401 "Access to this endpoint is not authorized for bots"),
//!   and makes the bot the sender (`agent_bot`) of the messages it creates.
//! - shows its one inbox on `GET inboxes/{id}` (the fixture `api_inbox_working_hours.json`, with working
//!   hours off until `set_inbox`), and replaces a conversation's whole `custom_attributes` hash on
//!   `POST conversations/{id}/custom_attributes`.
//! - takes a message as JSON or as multipart (`content`, `message_type`, …, plus `attachments[]` files,
//!   kept per message: see `attachments`).
//!
//! Webhooks (after `set_webhook`): an account webhook subscribed to `conversation_created`,
//! `conversation_status_changed`, `conversation_updated`, `message_created` and `message_updated`. Each
//! event is rendered when it happens, in Chatwoot's webhook shapes (string `message_type`, ISO and unix
//! times mixed as in the fixtures), serialised compactly with Rails' escaping of `&`, `<`, `>`, and posted
//! in order by one background task, once, with a 5 s timeout; with a secret it is signed
//! (`X-Chatwoot-Timestamp`, `X-Chatwoot-Signature: sha256=hex(HMAC-SHA256(secret, "<ts>.<body>"))`). As
//! in Chatwoot:
//! - `message_created` goes out for every incoming, outgoing and template message, private notes and the
//!   bridge's own messages included; activity messages send nothing;
//! - message payloads carry no top-level `status` (Chatwoot's `Message#webhook_data` has none; see
//!   `set_message_status_in_webhooks`); a status PATCH that changes something and a Retry come back as
//!   `message_updated`;
//! - a status change sends `conversation_status_changed` (`changed_attributes: null`) then
//!   `conversation_updated`; an assignee change sends `conversation_updated`; so does a message that sets
//!   or clears `waiting_since` or sets `first_reply_created_at` (after its `message_created`). The
//!   `changed_attributes` array lists the changed columns, then `updated_at`;
//! - a reopening incoming message sends the status events before its `message_created`.
//!
//! Seeding is silent (it stands for history); everything else that changes state fires its webhooks.
//!
//! Test knobs: `set_down` (every request answers 503), `set_list_lag` (listing only shows messages
//! older than the lag: Chatwoot "behind its writes"), seeding, and helpers that stand in for a human in
//! the dashboard (`human_reply`, `private_note`, `retry_message`, `set_status`, `set_assignee`). Every
//! request is recorded, including refused ones, and every webhook delivery with its HTTP status.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const ERRORS: &str = include_str!("../fixtures/chatwoot/errors.json");
const SEARCH: &str = include_str!("../fixtures/chatwoot/api_contacts_search.json");
const CREATED_CONTACT: &str = include_str!("../fixtures/chatwoot/api_create_contact_response.json");
const CREATED_MESSAGE: &str = include_str!("../fixtures/chatwoot/api_create_message_response.json");
const CONTACT_CONVERSATIONS: &str = include_str!("../fixtures/chatwoot/api_contact_conversations.json");
const WEBHOOK_INCOMING: &str = include_str!("../fixtures/chatwoot/webhook_message_created_incoming.json");
const INBOX: &str = include_str!("../fixtures/chatwoot/api_inbox_working_hours.json");

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
/// Message types by their integer value.
const MESSAGE_TYPES: [&str; 4] = ["incoming", "outgoing", "activity", "template"];
/// Message statuses by their integer value.
const MESSAGE_STATUSES: [&str; 4] = ["sent", "delivered", "read", "failed"];
/// Chatwoot gives a webhook delivery 5 seconds.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

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
    id: u64,
    contact_id: u64,
    inbox_id: u64,
    source_id: String,
    pubsub_token: String,
    created_at: f64,
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
    labels: Vec<String>,
}

struct MessageRow {
    id: u64,
    conversation_id: u64,
    content: Option<String>,
    message_type: i64,
    private: bool,
    source_id: Option<String>,
    sender: Sender,
    /// `sent`, `delivered`, `read` or `failed`.
    status: String,
    content_attributes: Value,
    /// Unix seconds (the REST `created_at`).
    created_at: i64,
    /// Unix seconds with a fraction (the ISO `created_at` of webhooks).
    created_exact: f64,
    updated_at: f64,
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
    content_attributes: Value,
}

impl Draft {
    fn activity(text: String) -> Draft {
        Draft {
            content: Some(text),
            message_type: 2,
            private: false,
            source_id: None,
            sender: Sender::Nobody,
            content_attributes: json!({}),
        }
    }

    /// An outgoing message a user typed in the dashboard (no `source_id`).
    fn typed_by(user_id: u64, text: &str, private: bool) -> Draft {
        Draft {
            content: Some(text.to_owned()),
            message_type: 1,
            private,
            source_id: None,
            sender: Sender::User(user_id),
            content_attributes: json!({}),
        }
    }
}

/// The conversation columns whose changes Chatwoot announces as `conversation_updated`.
#[derive(Clone, PartialEq)]
struct Announced {
    status: String,
    assignee_id: Option<u64>,
    first_reply_created_at: i64,
    waiting_since: i64,
}

/// The account webhook.
struct Webhook {
    url: String,
    secret: Option<String>,
}

/// One webhook POST waiting for the delivery task.
struct Delivery {
    event: String,
    url: String,
    secret: Option<String>,
    body: String,
}

struct Db {
    account_id: u64,
    account_name: String,
    inbox_id: u64,
    inbox_name: String,
    token: String,
    /// An Agent Bot's access token (`set_agent_bot_token`); it may call only the bot endpoints.
    bot_token: Option<String>,
    /// The token user's role in the account: `administrator` or `agent`.
    profile_role: String,
    down: bool,
    list_lag: Duration,
    next_contact_id: u64,
    next_contact_inbox_id: u64,
    next_conversation_id: u64,
    next_message_id: u64,
    contacts: BTreeMap<u64, ContactRow>,
    contact_inboxes: Vec<ContactInboxRow>,
    conversations: BTreeMap<u64, ConversationRow>,
    messages: Vec<MessageRow>,
    requests: Vec<RecordedRequest>,
    webhook: Option<Webhook>,
    /// Adds a top-level `status` to message webhooks (chatwoot/chatwoot#15908, not in v4.15.1).
    status_in_message_webhooks: bool,
    outbox: mpsc::UnboundedSender<Delivery>,
    /// Event name and HTTP status (0 when no answer came) of every delivery, in order.
    deliveries: Vec<(String, u16)>,
    /// The inbox as `GET inboxes/{id}` shows it (working hours off until `set_inbox`).
    inbox: Value,
    /// Files posted with a message (multipart `attachments[]`), by message id.
    files: HashMap<u64, Vec<PostedFile>>,
}

/// A file posted with a message.
#[derive(Debug, Clone)]
pub struct PostedFile {
    /// The part's file name.
    pub file_name: Option<String>,
    /// The part's content type.
    pub content_type: Option<String>,
    /// The bytes.
    pub data: Bytes,
}

type Shared = Arc<Mutex<Db>>;

/// The running fake; the server stops when this is dropped.
pub struct FakeChatwoot {
    addr: SocketAddr,
    db: Shared,
    task: JoinHandle<()>,
    deliverer: JoinHandle<()>,
}

impl Drop for FakeChatwoot {
    fn drop(&mut self) {
        self.task.abort();
        self.deliverer.abort();
    }
}

impl FakeChatwoot {
    /// Starts the fake on `127.0.0.1:0` for `account_id`, with one API inbox, accepting `token`.
    pub async fn start(account_id: u64, inbox_id: u64, token: &str) -> FakeChatwoot {
        let names: Value = serde_json::from_str(WEBHOOK_INCOMING).expect("webhook fixture");
        let (outbox, queue) = mpsc::unbounded_channel();
        let db = Arc::new(Mutex::new(Db {
            account_id,
            account_name: names["account"]["name"]
                .as_str()
                .expect("account name")
                .to_owned(),
            inbox_id,
            inbox_name: names["inbox"]["name"].as_str().expect("inbox name").to_owned(),
            token: token.to_owned(),
            bot_token: None,
            profile_role: "administrator".to_owned(),
            down: false,
            list_lag: Duration::ZERO,
            next_contact_id: 301,
            next_contact_inbox_id: 451,
            next_conversation_id: 81,
            next_message_id: 48_201,
            contacts: BTreeMap::new(),
            contact_inboxes: Vec::new(),
            conversations: BTreeMap::new(),
            messages: Vec::new(),
            requests: Vec::new(),
            webhook: None,
            status_in_message_webhooks: false,
            outbox,
            deliveries: Vec::new(),
            inbox: {
                let mut inbox: Value = serde_json::from_str(INBOX).expect("inbox fixture");
                inbox["id"] = json!(inbox_id);
                inbox["working_hours_enabled"] = json!(false);
                inbox["out_of_office_message"] = Value::Null;
                inbox
            },
            files: HashMap::new(),
        }));
        let base = "/api/v1/accounts/{account_id}";
        let app = Router::new()
            .route("/api/v1/profile", get(profile))
            .route(&format!("{base}/contacts/search"), get(search_contacts))
            .route(&format!("{base}/contacts"), post(create_contact))
            .route(&format!("{base}/contacts/{{id}}"), put(profile::update_contact))
            .route(
                &format!("{base}/conversations/{{id}}/labels"),
                get(profile::list_labels).post(profile::replace_labels),
            )
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
                &format!("{base}/conversations/{{id}}/messages/{{message_id}}"),
                patch(update_message),
            )
            .route(
                &format!("{base}/conversations/{{id}}/toggle_status"),
                post(toggle_status),
            )
            .route(
                &format!("{base}/conversations/{{id}}/toggle_typing_status"),
                post(toggle_typing_status),
            )
            .route(
                &format!("{base}/conversations/{{id}}/custom_attributes"),
                post(set_custom_attributes),
            )
            .route(&format!("{base}/inboxes/{{id}}"), get(show_inbox))
            .layer(middleware::from_fn_with_state(db.clone(), gatekeeper))
            .with_state(db.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Chatwoot");
        let addr = listener.local_addr().expect("fake Chatwoot address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Chatwoot server");
        });
        let deliverer = tokio::spawn(deliver(db.clone(), queue));
        FakeChatwoot {
            addr,
            db,
            task,
            deliverer,
        }
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Listing messages only shows messages written more than `lag` ago (seeded ones always show).
    pub fn set_list_lag(&self, lag: Duration) {
        self.db().list_lag = lag;
    }

    /// Also accept `token` as an Agent Bot's access token (bot endpoints only).
    pub fn set_agent_bot_token(&self, token: &str) {
        self.db.lock().expect("fake Chatwoot state").bot_token = Some(token.to_owned());
    }

    /// Changes the inbox's fields (`working_hours_enabled`, `working_hours`, `timezone`,
    /// `out_of_office_message`, …): each key of `fields` replaces the inbox's.
    pub fn set_inbox(&self, fields: Value) {
        let mut db = self.db();
        for (k, v) in fields.as_object().expect("inbox fields are an object") {
            db.inbox[k] = v.clone();
        }
    }

    /// A conversation's `custom_attributes`.
    pub fn conversation_attributes(&self, id: u64) -> Value {
        self.db().conversations[&id].custom_attributes.clone()
    }

    /// While down, every request answers 503.
    pub fn set_down(&self, down: bool) {
        self.db().down = down;
    }

    /// The token user's role in the account, `administrator` (the default) or `agent`. With `agent`,
    /// `toggle_status` to `open` also assigns the conversation to that user, as Chatwoot does.
    pub fn set_profile_role(&self, role: &str) {
        assert!(
            matches!(role, "administrator" | "agent"),
            "Chatwoot roles are administrator and agent, not {role}"
        );
        self.db().profile_role = role.to_owned();
    }

    /// Configures the account webhook: from now on every event is POSTed to `url`, signed when a
    /// `secret` is given.
    pub fn set_webhook(&self, url: &str, secret: Option<&str>) {
        self.db().webhook = Some(Webhook {
            url: url.to_owned(),
            secret: secret.map(str::to_owned),
        });
    }

    /// Adds a top-level `status` to `message_created`/`message_updated`, as Chatwoot would with the
    /// unmerged chatwoot/chatwoot#15908. Off by default: v4.15.1 sends no message status in webhooks.
    pub fn set_message_status_in_webhooks(&self, on: bool) {
        self.db().status_in_message_webhooks = on;
    }

    /// Every finished webhook delivery in order: the event and the HTTP status (0 when no answer came).
    pub fn deliveries(&self) -> Vec<(String, u16)> {
        self.db().deliveries.clone()
    }

    /// Waits until at least `n` webhook deliveries have finished; false on timeout.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.db().deliveries.len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.db().deliveries.len() >= n
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
    /// it obeys the list lag and fires its webhooks. Returns it in the REST shape.
    pub fn add_message(&self, conversation_id: u64, seed: SeedMessage) -> Value {
        let mut db = self.db();
        let draft = db.draft(conversation_id, seed);
        let id = db.write_message(conversation_id, draft);
        db.render_message(db.message(id))
    }

    /// A human agent (user 14, "Mark Jansen") replies in the dashboard: an outgoing, non-private message
    /// without `source_id`. Returns its id.
    pub fn human_reply(&self, conversation_id: u64, text: &str) -> u64 {
        let draft = Draft::typed_by(HUMAN_USER_ID, text, false);
        self.db().write_message(conversation_id, draft)
    }

    /// A human agent (user 14) writes a private note. Returns its id.
    pub fn private_note(&self, conversation_id: u64, text: &str) -> u64 {
        let draft = Draft::typed_by(HUMAN_USER_ID, text, true);
        self.db().write_message(conversation_id, draft)
    }

    /// A human agent presses Retry on a message: a failed one goes back to `sent` without its
    /// `external_error`, and `message_updated` fires (Chatwoot only offers Retry on failed messages; the
    /// helper fires for any message, so a test can replay a lost delivery).
    pub fn retry_message(&self, message_id: u64) {
        self.db().retry_message(message_id);
    }

    /// The files posted with message `id` (multipart `attachments[]`), in order.
    pub fn attachments(&self, id: u64) -> Vec<PostedFile> {
        self.db().files.get(&id).cloned().unwrap_or_default()
    }

    /// One stored message in the REST shape, wherever it is.
    pub fn message(&self, id: u64) -> Option<Value> {
        let db = self.db();
        db.messages
            .iter()
            .find(|m| m.id == id)
            .map(|m| db.render_message(m))
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

    /// Sets a conversation's status as a human (user 14) in the dashboard would, with its activity
    /// message and webhooks; setting the current status changes nothing.
    pub fn set_status(&self, conversation_id: u64, status: &str) {
        let mut db = self.db();
        db.change_status(conversation_id, status, &user_name(HUMAN_USER_ID));
    }

    /// Assigns the conversation to a user (or unassigns it) as a human (user 14) in the dashboard would,
    /// with its activity message and webhook; the current assignee changes nothing.
    pub fn set_assignee(&self, conversation_id: u64, assignee_id: Option<u64>) {
        let mut db = self.db();
        db.change_assignee(conversation_id, assignee_id, HUMAN_USER_ID);
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
    let mut bot = false;
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
            Some(t) if db.bot_token.as_deref() == Some(t.as_str()) => {
                if !bot_accessible(parts.method.as_str(), parts.uri.path()) {
                    return Failure(
                        StatusCode::UNAUTHORIZED,
                        json!({ "error": "Access to this endpoint is not authorized for bots" }),
                    )
                    .into_response();
                }
                bot = true;
            }
            Some(t) if t != db.token => return Failure::fixture("invalid_access_token").into_response(),
            Some(_) => {}
        }
        if account.is_some_and(|a| a != db.account_id.to_string()) {
            return Failure::fixture("user_not_in_account").into_response();
        }
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    if bot {
        request.extensions_mut().insert(BotCaller);
    }
    next.run(request).await
}

/// Marks a request made with the Agent Bot's token.
#[derive(Debug, Clone, Copy)]
struct BotCaller;

/// Chatwoot's `BOT_ACCESSIBLE_ENDPOINTS` (access_token_auth_helper.rb): conversations `create`,
/// `update`, `toggle_status`, `toggle_priority`, `custom_attributes`; messages `create`; assignments
/// `create`. Everything else answers 401 to a bot token.
fn bot_accessible(method: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["api", "v1", "accounts", _, "conversations"]) => true,
        ("PATCH" | "PUT", ["api", "v1", "accounts", _, "conversations", _]) => true,
        ("POST", ["api", "v1", "accounts", _, "conversations", _, action]) => matches!(
            *action,
            "toggle_status" | "toggle_priority" | "custom_attributes" | "messages" | "assignments"
        ),
        _ => false,
    }
}

async fn toggle_typing_status(State(db): State<Shared>, Path((_, id)): Path<(String, String)>) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    db.conversation(&id)?;
    Ok(Json(json!({})))
}

async fn profile(State(db): State<Shared>) -> Json<Value> {
    let db = db.lock().expect("fake Chatwoot state");
    Json(db.render_profile())
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
    let (contact_id, source_id) = match (inbox_id, contact_id) {
        (Some(_), Some(contact_id)) => {
            let source_id = str_field(&body, "source_id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            db.ensure_contact_inbox(contact_id, &source_id)?;
            (contact_id, source_id)
        }
        _ => {
            let source_id = str_field(&body, "source_id").ok_or_else(Failure::not_found)?;
            let owner = db
                .contact_inbox_owner(&source_id)
                .ok_or_else(Failure::not_found)?;
            (owner, source_id)
        }
    };
    let status = str_field(&body, "status").unwrap_or_else(|| "open".to_owned());
    check_status(&status)?;
    let inbox_id = db.inbox_id;
    let attributes = object_field(&body, "custom_attributes");
    let id = db.insert_conversation(contact_id, inbox_id, &source_id, &status, attributes);
    let conversation = db.conversations.get_mut(&id).expect("just inserted");
    conversation.additional_attributes = object_field(&body, "additional_attributes");
    conversation.assignee_id = u64_field(&body, "assignee_id");
    db.emit_conversation(id, "conversation_created", None);
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

/// A multipart body as a JSON object of its text fields, plus its `attachments[]` files.
async fn read_multipart(headers: &axum::http::HeaderMap, body: Bytes) -> (Value, Vec<PostedFile>) {
    use axum::extract::FromRequest;
    let mut request = Request::new(Body::from(body));
    if let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE) {
        request
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, ct.clone());
    }
    let (mut fields, mut files) = (Map::new(), Vec::new());
    let Ok(mut form) = axum::extract::Multipart::from_request(request, &()).await else {
        return (Value::Object(fields), files);
    };
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.unwrap_or_default();
        if name == "attachments[]" {
            files.push(PostedFile {
                file_name,
                content_type,
                data,
            });
        } else {
            let text = String::from_utf8_lossy(&data).into_owned();
            let value = match text.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(text),
            };
            fields.insert(name, value);
        }
    }
    (Value::Object(fields), files)
}

async fn create_message(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    bot: Option<axum::Extension<BotCaller>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Reply {
    let multipart = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (body, files) = if multipart {
        read_multipart(&headers, body).await
    } else {
        (request_json(&body), Vec::new())
    };
    let mut db = db.lock().expect("fake Chatwoot state");
    let conversation_id = db.conversation(&id)?.id;
    let kind = str_field(&body, "message_type").unwrap_or_else(|| "outgoing".to_owned());
    let Some(message_type) = MESSAGE_TYPES.iter().position(|k| *k == kind) else {
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
        _ if bot.is_some() => Sender::AgentBot(AGENT_BOT_ID),
        _ => Sender::User(API_USER_ID),
    };
    let draft = Draft {
        content: str_field(&body, "content"),
        message_type: message_type as i64,
        private: bool_field(&body, "private"),
        source_id: str_field(&body, "source_id"),
        sender,
        content_attributes: object_field(&body, "content_attributes"),
    };
    let id = db.write_message(conversation_id, draft);
    if !files.is_empty() {
        db.files.insert(id, files);
    }
    Ok(Json(db.render_message(db.message(id))))
}

async fn update_message(
    State(db): State<Shared>,
    Path((_, id, message_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let conversation_id = db.conversation(&id)?.id;
    let message_id = parse_id(&message_id)
        .filter(|m| {
            db.messages
                .iter()
                .any(|row| row.id == *m && row.conversation_id == conversation_id)
        })
        .ok_or_else(Failure::not_found)?;
    let status = str_field(&body, "status").unwrap_or_default();
    db.update_message_status(message_id, &status, str_field(&body, "external_error"));
    Ok(Json(db.render_message(db.message(message_id))))
}

async fn show_inbox(State(db): State<Shared>, Path((_, id)): Path<(String, String)>) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    if parse_id(&id) != Some(db.inbox_id) {
        return Err(Failure::not_found());
    }
    Ok(Json(db.inbox.clone()))
}

/// Like Chatwoot's `ConversationsController#custom_attributes`: the whole hash is replaced.
async fn set_custom_attributes(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let id = db.conversation(&id)?.id;
    let conversation = db.conversations.get_mut(&id).expect("conversation");
    conversation.custom_attributes = object_field(&body, "custom_attributes");
    Ok(Json(
        json!({ "custom_attributes": conversation.custom_attributes }),
    ))
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
    if status == "open" && db.profile_role == "agent" {
        db.change_assignee(id, Some(API_USER_ID), API_USER_ID);
    }
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

    fn message_mut(&mut self, id: u64) -> &mut MessageRow {
        self.messages
            .iter_mut()
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
                let (id, inbox_id) = (self.next_contact_inbox_id, self.inbox_id);
                self.next_contact_inbox_id += 1;
                let mut pubsub_token = uuid::Uuid::new_v4().simple().to_string();
                pubsub_token.truncate(24);
                self.contact_inboxes.push(ContactInboxRow {
                    id,
                    contact_id,
                    inbox_id,
                    source_id: source_id.to_owned(),
                    pubsub_token,
                    created_at: now_f64(),
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
            labels: Vec::new(),
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
        let exact = if written.is_some() {
            now_f64()
        } else {
            created_at as f64
        };
        self.messages.push(MessageRow {
            id,
            conversation_id,
            content: d.content,
            message_type: d.message_type,
            private: d.private,
            source_id: d.source_id,
            sender: d.sender,
            status: "sent".to_owned(),
            content_attributes: d.content_attributes,
            created_at,
            created_exact: exact,
            updated_at: exact,
            written,
        });
        id
    }

    /// Writes a live message now, applies its side effects on the conversation and contact, and fires
    /// its webhooks in Chatwoot's order: a reopening's status events, `message_created`, then the
    /// `conversation_updated` of its `waiting_since`/`first_reply_created_at` changes.
    fn write_message(&mut self, conversation_id: u64, draft: Draft) -> u64 {
        let (message_type, private, sender) = (draft.message_type, draft.private, draft.sender);
        let at = now();
        let id = self.push_message(conversation_id, draft, at, Some(Instant::now()));
        let status = &self.conversations[&conversation_id].status;
        if message_type == 0 && matches!(status.as_str(), "resolved" | "snoozed") {
            self.change_status(conversation_id, "open", "a new incoming message");
        }
        let before = self.announced(conversation_id);
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        conversation.last_activity_at = at;
        conversation.updated_at = later(conversation.updated_at);
        let reply = message_type == 1 && !private;
        if reply && matches!(sender, Sender::User(_)) && conversation.first_reply_created_at == 0 {
            conversation.first_reply_created_at = at;
        }
        if reply && matches!(sender, Sender::User(_) | Sender::AgentBot(_)) {
            conversation.waiting_since = 0;
        }
        if message_type == 0 && conversation.waiting_since == 0 {
            conversation.waiting_since = at;
        }
        if let Sender::Contact(contact_id) = sender
            && let Some(contact) = self.contacts.get_mut(&contact_id)
        {
            contact.last_activity_at = Some(at);
        }
        let changes = self.save_conversation(conversation_id, before);
        self.emit_message(id, "message_created");
        self.announce_conversation(conversation_id, changes);
        id
    }

    /// Sets the status; a change fires its webhooks and adds an activity message naming who made it.
    fn change_status(&mut self, conversation_id: u64, status: &str, by: &str) {
        let before = self.announced(conversation_id);
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        conversation.status = status.to_owned();
        let changes = self.save_conversation(conversation_id, before);
        if changes.is_empty() {
            return;
        }
        self.announce_conversation(conversation_id, changes);
        let text = format!("Conversation status set to {status} by {by}");
        self.write_message(conversation_id, Draft::activity(text));
    }

    /// Sets the assignee on behalf of user `by`; a change fires `conversation_updated` and adds an
    /// activity message.
    fn change_assignee(&mut self, conversation_id: u64, assignee_id: Option<u64>, by: u64) {
        let before = self.announced(conversation_id);
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        conversation.assignee_id = assignee_id;
        let changes = self.save_conversation(conversation_id, before);
        if changes.is_empty() {
            return;
        }
        self.announce_conversation(conversation_id, changes);
        let text = match assignee_id {
            Some(id) if id == by => format!("{} self-assigned this conversation", user_name(by)),
            Some(id) => format!("Assigned to {} by {}", user_name(id), user_name(by)),
            None => format!("Conversation unassigned by {}", user_name(by)),
        };
        self.write_message(conversation_id, Draft::activity(text));
    }

    /// A status PATCH, like `Messages::StatusUpdateService`: unknown statuses and `read` → `delivered`
    /// change nothing; `external_error` is kept only with `failed` (a stale one is nulled). A change fires
    /// `message_updated`.
    fn update_message_status(&mut self, message_id: u64, status: &str, external_error: Option<String>) {
        if !MESSAGE_STATUSES.contains(&status) {
            return;
        }
        let message = self.message_mut(message_id);
        if message.status == "read" && status == "delivered" {
            return;
        }
        let before = (message.status.clone(), message.content_attributes.clone());
        message.status = status.to_owned();
        let error = external_error.filter(|_| status == "failed");
        let stored = &message.content_attributes["external_error"];
        if error.is_some() || !stored.is_null() {
            message.content_attributes["external_error"] = json!(error);
        }
        if (&message.status, &message.content_attributes) == (&before.0, &before.1) {
            return;
        }
        message.updated_at = later(message.updated_at);
        self.emit_message(message_id, "message_updated");
    }

    /// Retry: a failed message goes back to `sent` without its `external_error`; fires `message_updated`.
    fn retry_message(&mut self, message_id: u64) {
        let message = self.message_mut(message_id);
        if message.status == "failed" {
            message.status = "sent".to_owned();
            if let Some(attributes) = message.content_attributes.as_object_mut() {
                attributes.remove("external_error");
            }
            message.updated_at = later(message.updated_at);
        }
        self.emit_message(message_id, "message_updated");
    }

    fn announced(&self, conversation_id: u64) -> Announced {
        let c = &self.conversations[&conversation_id];
        Announced {
            status: c.status.clone(),
            assignee_id: c.assignee_id,
            first_reply_created_at: c.first_reply_created_at,
            waiting_since: c.waiting_since,
        }
    }

    /// Ends a save: when an announced column changed, moves `updated_at` on and returns the changes as
    /// `changed_attributes` entries (`updated_at` last); otherwise returns nothing.
    fn save_conversation(&mut self, conversation_id: u64, before: Announced) -> Vec<Value> {
        let after = self.announced(conversation_id);
        let mut changes = Vec::new();
        let mut compare = |key: &str, previous: Value, current: Value| {
            if previous != current {
                changes.push(change(key, previous, current));
            }
        };
        compare("status", json!(before.status), json!(after.status));
        compare("assignee_id", json!(before.assignee_id), json!(after.assignee_id));
        compare(
            "first_reply_created_at",
            iso_or_null(before.first_reply_created_at),
            iso_or_null(after.first_reply_created_at),
        );
        compare(
            "waiting_since",
            iso_or_null(before.waiting_since),
            iso_or_null(after.waiting_since),
        );
        if changes.is_empty() {
            return changes;
        }
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        let previous = conversation.updated_at;
        conversation.updated_at = later(previous);
        let current = conversation.updated_at;
        changes.push(change("updated_at", json!(iso(previous)), json!(iso(current))));
        changes
    }

    /// Announces a save: `conversation_status_changed` first when the status changed, then
    /// `conversation_updated` with the changes.
    fn announce_conversation(&mut self, conversation_id: u64, changes: Vec<Value>) {
        if changes.is_empty() {
            return;
        }
        if changes.iter().any(|c| c.get("status").is_some()) {
            self.emit_conversation(conversation_id, "conversation_status_changed", Some(Value::Null));
        }
        self.emit_conversation(
            conversation_id,
            "conversation_updated",
            Some(Value::Array(changes)),
        );
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
            content_attributes: json!({}),
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
            "message_type": m.message_type, "content_type": "text", "status": m.status,
            "content_attributes": m.content_attributes, "created_at": m.created_at, "private": m.private,
            "source_id": m.source_id,
        });
        if let Some(sender) = self.render_sender(m.sender) {
            v["sender"] = sender;
        }
        v
    }

    /// A message nested in a conversation (REST lists and webhooks alike): all its columns, the
    /// sender's model name and id, and a summary of its conversation.
    fn render_nested_message(&self, m: &MessageRow) -> Value {
        let (model, id) = match m.sender {
            Sender::Nobody => (Value::Null, Value::Null),
            Sender::Contact(id) => (json!("Contact"), json!(id)),
            Sender::User(id) => (json!("User"), json!(id)),
            Sender::AgentBot(id) => (json!("AgentBot"), json!(id)),
        };
        let c = &self.conversations[&m.conversation_id];
        let mut v = json!({
            "id": m.id, "content": m.content, "account_id": self.account_id, "inbox_id": self.inbox_id,
            "conversation_id": m.conversation_id, "message_type": m.message_type, "created_at": m.created_at,
            "updated_at": iso(m.updated_at), "private": m.private, "status": m.status, "source_id": m.source_id,
            "content_type": "text", "content_attributes": m.content_attributes, "sender_type": model,
            "sender_id": id, "external_source_ids": {}, "additional_attributes": {},
            "processed_message_content": m.content, "sentiment": {},
            "conversation": {
                "assignee_id": c.assignee_id, "unread_count": self.unread_count(c.id),
                "last_activity_at": c.last_activity_at, "contact_inbox": { "source_id": c.source_id },
            },
        });
        if let Some(sender) = self.render_sender(m.sender) {
            v["sender"] = sender;
        }
        v
    }

    /// Incoming messages since the agent last looked (never, here).
    fn unread_count(&self, conversation_id: u64) -> usize {
        self.messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id && m.message_type == 0)
            .count()
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
            "custom_attributes": c.custom_attributes, "inbox_id": c.inbox_id, "labels": c.labels, "muted": false,
            "snoozed_until": null, "status": c.status, "created_at": c.created_at, "updated_at": c.updated_at,
            "timestamp": c.last_activity_at, "first_reply_created_at": c.first_reply_created_at,
            "unread_count": self.unread_count(c.id),
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

    /// `GET /api/v1/profile`: the token's user.
    fn render_profile(&self) -> Value {
        let (name, email, role) = (
            user_name(API_USER_ID),
            user_email(API_USER_ID),
            &self.profile_role,
        );
        json!({
            "access_token": self.token, "account_id": self.account_id, "available_name": name, "avatar_url": "",
            "confirmed": true, "display_name": null, "message_signature": null, "email": email, "id": API_USER_ID,
            "inviter_id": null, "name": name, "provider": "email", "pubsub_token": "9QvKx2cDn7bWmL4sTzR8hJpe",
            "role": role, "ui_settings": {}, "uid": email, "type": null,
            "accounts": [{
                "id": self.account_id, "name": self.account_name, "status": "active",
                "active_at": iso(now_f64()), "role": role, "permissions": [role], "availability": "online",
                "availability_status": "online", "auto_offline": true,
            }],
        })
    }
}

// ---- renderers for the webhook shapes ----

impl Db {
    fn render_account(&self) -> Value {
        json!({ "id": self.account_id, "name": self.account_name })
    }

    fn render_contact_inbox(&self, c: &ConversationRow) -> Value {
        let Some(ci) = self
            .contact_inboxes
            .iter()
            .find(|ci| ci.contact_id == c.contact_id && ci.source_id == c.source_id)
        else {
            return Value::Null;
        };
        json!({
            "id": ci.id, "contact_id": ci.contact_id, "inbox_id": ci.inbox_id, "source_id": ci.source_id,
            "created_at": iso(ci.created_at), "updated_at": iso(ci.created_at), "hmac_verified": false,
            "pubsub_token": ci.pubsub_token,
        })
    }

    /// `Conversation#webhook_data`: `messages` holds the last message that is neither activity nor
    /// private; `meta.assignee` is `null` when unassigned.
    fn render_conversation_webhook(&self, c: &ConversationRow) -> Value {
        let last_chat = self
            .messages
            .iter()
            .rev()
            .find(|m| m.conversation_id == c.id && m.message_type != 2 && !m.private);
        let messages: Vec<Value> = last_chat
            .map(|m| self.render_nested_message(m))
            .into_iter()
            .collect();
        let meta = json!({
            "sender": self.render_sender(Sender::Contact(c.contact_id)),
            "assignee": c.assignee_id.map(render_user),
            "assignee_type": c.assignee_id.map(|_| "User"),
            "team": null,
            "hmac_verified": false,
        });
        json!({
            "additional_attributes": c.additional_attributes, "can_reply": true, "channel": "Channel::Api",
            "contact_inbox": self.render_contact_inbox(c), "id": c.id, "inbox_id": c.inbox_id,
            "messages": messages, "labels": [], "meta": meta, "status": c.status,
            "custom_attributes": c.custom_attributes, "snoozed_until": null, "unread_count": self.unread_count(c.id),
            "first_reply_created_at": iso_or_null(c.first_reply_created_at), "priority": null,
            "waiting_since": c.waiting_since, "agent_last_seen_at": 0, "contact_last_seen_at": 0,
            "last_activity_at": c.last_activity_at, "timestamp": c.last_activity_at, "created_at": c.created_at,
            "updated_at": c.updated_at, "account": self.render_account(),
        })
    }

    /// `Message#webhook_data`: string `message_type`, ISO `created_at`, the sender's webhook shape.
    fn render_message_webhook(&self, m: &MessageRow) -> Value {
        let sender = match m.sender {
            Sender::Nobody => Value::Null,
            Sender::Contact(id) => self.contacts.get(&id).map_or(Value::Null, |c| {
                json!({
                    "account": self.render_account(), "additional_attributes": c.additional_attributes,
                    "avatar": "", "custom_attributes": c.custom_attributes, "email": c.email, "id": c.id,
                    "identifier": c.identifier, "name": c.name, "phone_number": c.phone_number, "thumbnail": "",
                    "blocked": false,
                })
            }),
            Sender::User(id) => json!({ "id": id, "name": user_name(id), "email": user_email(id), "type": "user" }),
            Sender::AgentBot(id) => json!({ "id": id, "name": "wa-agent bot", "type": "agent_bot" }),
        };
        json!({
            "account": self.render_account(), "additional_attributes": {},
            "content_attributes": m.content_attributes, "content_type": "text", "content": m.content,
            "conversation": self.render_conversation_webhook(&self.conversations[&m.conversation_id]),
            "created_at": iso(m.created_exact), "id": m.id,
            "inbox": { "id": self.inbox_id, "name": self.inbox_name },
            "message_type": MESSAGE_TYPES[m.message_type as usize], "private": m.private, "sender": sender,
            "source_id": m.source_id,
        })
    }
}

fn user_name(id: u64) -> String {
    match id {
        API_USER_ID => "wa-agent (AI-assistent)".to_owned(),
        HUMAN_USER_ID => "Mark Jansen".to_owned(),
        other => format!("Agent {other}"),
    }
}

fn user_email(id: u64) -> String {
    match id {
        API_USER_ID => "wa-agent@autobedrijfvandermeer.nl".to_owned(),
        HUMAN_USER_ID => "mark.jansen@autobedrijfvandermeer.nl".to_owned(),
        other => format!("agent{other}@autobedrijfvandermeer.nl"),
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
        "email": user_email(id),
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

// ---- webhook delivery ----

impl Db {
    /// Queues a message event; activity messages send none (Chatwoot's `webhook_sendable?`).
    fn emit_message(&self, message_id: u64, event: &str) {
        let message = self.message(message_id);
        if self.webhook.is_none() || message.message_type == 2 {
            return;
        }
        let mut payload = self.render_message_webhook(message);
        if self.status_in_message_webhooks {
            payload["status"] = json!(message.status);
        }
        self.emit(event, payload);
    }

    /// Queues a conversation event; `changed_attributes` is set when given (`null` included).
    fn emit_conversation(&self, conversation_id: u64, event: &str, changed_attributes: Option<Value>) {
        if self.webhook.is_none() {
            return;
        }
        let mut payload = self.render_conversation_webhook(&self.conversations[&conversation_id]);
        if let Some(changed) = changed_attributes {
            payload["changed_attributes"] = changed;
        }
        self.emit(event, payload);
    }

    fn emit(&self, event: &str, mut payload: Value) {
        let Some(webhook) = &self.webhook else {
            return;
        };
        payload["event"] = json!(event);
        let delivery = Delivery {
            event: event.to_owned(),
            url: webhook.url.clone(),
            secret: webhook.secret.clone(),
            body: rails_json(&payload),
        };
        // The receiver lives as long as the fake; a send can only fail while it is being dropped.
        let _ = self.outbox.send(delivery);
    }
}

/// Posts queued webhooks one at a time, in order, once each, and records the outcome.
async fn deliver(db: Shared, mut queue: mpsc::UnboundedReceiver<Delivery>) {
    let http = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .expect("webhook client");
    while let Some(delivery) = queue.recv().await {
        let mut request = http
            .post(&delivery.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(secret) = &delivery.secret {
            let timestamp = now().to_string();
            let signature = sign(secret, &timestamp, &delivery.body);
            request = request
                .header("X-Chatwoot-Timestamp", timestamp)
                .header("X-Chatwoot-Signature", signature);
        }
        let status = match request.body(delivery.body).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        let mut db = db.lock().expect("fake Chatwoot state");
        db.deliveries.push((delivery.event, status));
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Compact JSON as Rails writes it: `&`, `<`, `>` and the JavaScript line separators escaped, other
/// characters raw UTF-8. They can only occur inside strings, so escaping the text is enough.
fn rails_json(value: &Value) -> String {
    let plain = serde_json::to_string(value).expect("JSON");
    let mut out = String::with_capacity(plain.len());
    for ch in plain.chars() {
        match ch {
            '&' => out.push_str("\\u0026"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
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

/// Now, but at least a millisecond after `previous`, so successive saves stay ordered.
fn later(previous: f64) -> f64 {
    now_f64().max(previous + 0.001)
}

/// One `changed_attributes` entry: `{key: {previous_value, current_value}}`.
fn change(key: &str, previous: Value, current: Value) -> Value {
    let mut entry = Map::new();
    entry.insert(
        key.to_owned(),
        json!({ "previous_value": previous, "current_value": current }),
    );
    Value::Object(entry)
}

/// Unix seconds as Rails' ISO-8601 UTC with milliseconds, e.g. `2026-07-14T08:14:57.861Z`.
fn iso(unix: f64) -> String {
    let millis = (unix * 1000.0).round() as i64;
    let (days, of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (hours, minutes) = (of_day / 3_600_000, of_day / 60_000 % 60);
    let (seconds, ms) = (of_day / 1000 % 60, of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{ms:03}Z")
}

/// An unset (0) time is `null`.
fn iso_or_null(unix: i64) -> Value {
    if unix == 0 {
        Value::Null
    } else {
        json!(iso(unix as f64))
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[path = "fake_chatwoot/profile.rs"]
mod profile;
