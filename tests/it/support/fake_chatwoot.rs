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
//!
//! Layout, by resource: `control` (the test's handle: start, knobs, seeding, recordings), `access`
//! (the gatekeeper), `contacts`, `conversations`, `messages`, `inbox`, `profile` (contact update and
//! labels), `state` (the rows), `render` (REST shapes), `webhooks` (webhook shapes and delivery) and
//! `util`.

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

const ERRORS: &str = include_str!("../../fixtures/chatwoot/errors.json");
const SEARCH: &str = include_str!("../../fixtures/chatwoot/api_contacts_search.json");
const CREATED_CONTACT: &str = include_str!("../../fixtures/chatwoot/api_create_contact_response.json");
const CREATED_MESSAGE: &str = include_str!("../../fixtures/chatwoot/api_create_message_response.json");
const CONTACT_CONVERSATIONS: &str = include_str!("../../fixtures/chatwoot/api_contact_conversations.json");
const WEBHOOK_INCOMING: &str = include_str!("../../fixtures/chatwoot/webhook_message_created_incoming.json");
const INBOX: &str = include_str!("../../fixtures/chatwoot/api_inbox_working_hours.json");

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

/// A file posted with a message.
#[derive(Debug, Clone)]
pub struct PostedFile {
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

mod access;
mod contacts;
mod control;
mod conversations;
mod inbox;
mod messages;
mod profile;
mod render;
mod state;
mod util;
mod webhooks;

use access::*;
use contacts::*;
use conversations::*;
use inbox::*;
use messages::*;
use state::*;
use util::*;
use webhooks::*;
