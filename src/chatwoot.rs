//! Typed client for the Chatwoot REST API (v4.x), used with a user access token.
//!
//! It owns the calls that mirror a WhatsApp chat into Chatwoot: find or create the chat's contact
//! (identifier and `contact_inbox.source_id` = the chat id) and its unresolved conversation in the
//! configured API inbox, create and list messages, and change a conversation's status.
//!
//! Invariants:
//! - every request carries the `api_access_token` header; the token never appears in an error or a log;
//! - every failure is an [`OutboundError`] of service `chatwoot`, classified like every outbound call
//!   ([`crate::outbound`]: retryable for timeouts, connection failures, 408, 425, 429 with its
//!   `Retry-After`, 5xx), plus the 422 of the 200-messages-a-minute flood limit, which is retryable
//!   after its `Retry-After`, else a minute; every other 4xx and an unreadable body are fatal and keep
//!   their status (the mirror maps a chat afresh on a 404), so the queue knows what to try again;
//! - responses are parsed leniently: unknown fields are ignored and optional ones may be missing. REST
//!   `message_type` is an integer (0 incoming, 1 outgoing, 2 activity, 3 template), times are unix;
//! - conversation ids are the per-account display ids that API paths take.
//!
//! Message contents are never logged; request summaries (method, path, status, time) go to `debug`.
//! The client's types are in `types`; the request bodies, the lenient shapes of the answers and the
//! matching of a search hit to a chat are in `wire` (which reads `types`, never this file); this file
//! holds the client, its calls and how their failures are classified.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::ChatwootSettings;
use crate::outbound::{Answer, OutboundError, exchange, retry_after};

/// The service name of every Chatwoot API failure.
pub const SERVICE: &str = "chatwoot";

/// Pages of `contacts/search` read before giving up on finding a chat's contact.
const MAX_SEARCH_PAGES: u32 = 5;

/// How long to wait after Chatwoot's per-conversation flood limit refused a message.
const FLOOD_BACKOFF: Duration = Duration::from_secs(60);

/// A Chatwoot API client bound to one account and one API inbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ChatwootClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
    account_id: u64,
    inbox_id: u64,
}

impl ChatwootClient {
    /// A client for `settings`; every request times out after `timeout`.
    pub fn new(settings: &ChatwootSettings, timeout: Duration) -> Self {
        let http = crate::outbound::http_client(timeout);
        ChatwootClient {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            token: settings.api_token.clone(),
            account_id: settings.account_id,
            inbox_id: settings.inbox_id,
        }
    }

    /// The API inbox that mirrors WhatsApp chats.
    pub fn inbox_id(&self) -> u64 {
        self.inbox_id
    }

    /// The Chatwoot account.
    pub fn account_id(&self) -> u64 {
        self.account_id
    }

    /// The contact of `chat_id`: its identifier is the chat id, or it has a contact_inbox in our inbox
    /// with the chat id as `source_id`, or (phone chats only) its phone is `+<digits>`, in that order
    /// of preference. Searches by the phone digits (phone chats) or the chat id, up to 5 pages.
    pub async fn find_contact(&self, chat_id: &str) -> Result<Option<Contact>, OutboundError> {
        let phone = phone_digits(chat_id).map(|d| format!("+{d}"));
        let q = phone_digits(chat_id).unwrap_or(chat_id).to_string();
        let mut best: Option<(u8, RawContact)> = None;
        for page in 1..=MAX_SEARCH_PAGES {
            let mut query = vec![("q", q.clone())];
            if page > 1 {
                query.push(("page", page.to_string()));
            }
            let found: SearchResponse = self.call(Method::GET, "contacts/search", &query, None).await?;
            for contact in found.payload.unwrap_or_default() {
                let rank = contact_rank(&contact, chat_id, self.inbox_id, phone.as_deref());
                if rank.is_some_and(|r| best.as_ref().is_none_or(|(b, _)| r < *b)) {
                    best = rank.map(|r| (r, contact));
                }
            }
            let exact = best.as_ref().is_some_and(|(r, _)| *r == 0);
            if exact || !found.meta.and_then(|m| m.has_more).unwrap_or(false) {
                break;
            }
        }
        Ok(best.map(|(_, c)| c.into()))
    }

    /// Creates the contact of `chat_id` with a contact_inbox in our inbox. When Chatwoot answers that
    /// it already exists (422 "already been taken"), returns the existing one.
    pub async fn create_contact(&self, chat_id: &str, name: Option<&str>) -> Result<Contact, OutboundError> {
        let body = contact_request(self.inbox_id, chat_id, name);
        match self
            .call::<CreateContactResponse>(Method::POST, "contacts", &[], Some(&body))
            .await
        {
            Ok(created) => Ok(created.payload.contact.into()),
            Err(
                e @ OutboundError::Fatal {
                    status: Some(422), ..
                },
            ) if e.message().contains("already been taken") => match self.find_contact(chat_id).await? {
                Some(contact) => Ok(contact),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The contact's most recently active conversation in our inbox that is not resolved.
    pub async fn find_conversation(&self, contact_id: u64) -> Result<Option<Conversation>, OutboundError> {
        let path = format!("contacts/{contact_id}/conversations");
        let list: ConversationList = self.call(Method::GET, &path, &[], None).await?;
        Ok(pick_conversation(list.payload.unwrap_or_default(), self.inbox_id))
    }

    /// Creates a `pending` conversation for the contact in our inbox, tagged with the chat and gateway.
    pub async fn create_conversation(
        &self,
        contact_id: u64,
        chat_id: &str,
        gateway: &str,
    ) -> Result<Conversation, OutboundError> {
        let body = conversation_request(self.inbox_id, contact_id, chat_id, gateway);
        let raw: RawConversation = self.call(Method::POST, "conversations", &[], Some(&body)).await?;
        Ok(raw.into())
    }

    /// One conversation by display id.
    pub async fn get_conversation(&self, conversation_id: u64) -> Result<Conversation, OutboundError> {
        let path = format!("conversations/{conversation_id}");
        let raw: RawConversation = self.call(Method::GET, &path, &[], None).await?;
        Ok(raw.into())
    }

    /// Creates a text message in the conversation.
    pub async fn create_message(
        &self,
        conversation_id: u64,
        msg: &NewMessage,
    ) -> Result<Message, OutboundError> {
        let path = format!("conversations/{conversation_id}/messages");
        let body = message_request(msg);
        let raw: RawMessage = self.call(Method::POST, &path, &[], Some(&body)).await?;
        Ok(raw.into())
    }

    /// Up to 20 messages, ascending: the latest, or those with ids below `before`. Includes private
    /// notes and activity messages.
    pub async fn list_messages(
        &self,
        conversation_id: u64,
        before: Option<u64>,
    ) -> Result<Vec<Message>, OutboundError> {
        let path = format!("conversations/{conversation_id}/messages");
        let query: Vec<_> = before.map(|id| ("before", id.to_string())).into_iter().collect();
        let list: MessageList = self.call(Method::GET, &path, &query, None).await?;
        let mut messages: Vec<Message> = list
            .payload
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    /// Sets the conversation's status (`open`, `pending`, `resolved`, `snoozed`).
    pub async fn toggle_status(&self, conversation_id: u64, status: &str) -> Result<(), OutboundError> {
        let path = format!("conversations/{conversation_id}/toggle_status");
        let body = json!({ "status": status });
        let _: Value = self.call(Method::POST, &path, &[], Some(&body)).await?;
        Ok(())
    }

    /// Reports a human's message as failed (or otherwise) back to Chatwoot (API inboxes only).
    pub async fn update_message_status(
        &self,
        conversation_id: u64,
        message_id: u64,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), OutboundError> {
        let path = format!("conversations/{conversation_id}/messages/{message_id}");
        let mut body = json!({ "status": status });
        if let Some(error) = error {
            body["external_error"] = json!(error);
        }
        let _: Value = self.call(Method::PATCH, &path, &[], Some(&body)).await?;
        Ok(())
    }

    /// The id of the user whose token the service uses (`GET /api/v1/profile`): messages and
    /// assignments by that user are the service's own, not a human's.
    pub async fn profile_id(&self) -> Result<u64, OutboundError> {
        let url = format!("{}/api/v1/profile", self.base_url);
        let v: Value = self
            .call_url(Method::GET, url, "GET profile".into(), &[], None)
            .await?;
        v.get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| OutboundError::fatal(SERVICE, "GET profile: no id in the answer"))
    }

    /// Sends one request to `{base}/api/v1/accounts/{account}/{path}` and decodes a 2xx JSON body.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, OutboundError> {
        let what = format!("{method} {path}");
        let url = format!("{}/api/v1/accounts/{}/{path}", self.base_url, self.account_id);
        self.call_url(method, url, what, query, body).await
    }

    /// Sends one request to `url` and decodes a 2xx JSON body.
    async fn call_url<T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        what: String,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, OutboundError> {
        let mut request = self
            .http
            .request(method, url)
            .header("api_access_token", self.token_header()?);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let Answer {
            status,
            headers,
            body,
        } = exchange(SERVICE, &what, request).await?;
        let text = String::from_utf8_lossy(&body);
        tracing::debug!(
            request = %what,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "chatwoot request"
        );
        if !status.is_success() {
            return Err(status_error(&what, status, &headers, &text));
        }
        serde_json::from_str(&text).map_err(|e| unreadable(&what, status, &e))
    }

    /// The `api_access_token` header, marked sensitive.
    fn token_header(&self) -> Result<HeaderValue, OutboundError> {
        let mut token = HeaderValue::from_str(self.token.expose_secret())
            .map_err(|_| OutboundError::fatal(SERVICE, "the API token is not a valid header value"))?;
        token.set_sensitive(true);
        Ok(token)
    }
}

/// A 2xx answer whose body is not what `what` answers: fatal, with its status.
fn unreadable(what: &str, status: StatusCode, e: &serde_json::Error) -> OutboundError {
    OutboundError::Fatal {
        service: SERVICE,
        status: Some(status.as_u16()),
        message: format!("{what}: unexpected response body: {e}"),
    }
}

/// A non-2xx answer, classified by its status ([`OutboundError::from_status`]: 408, 425, 429 and 5xx
/// are retryable), plus the 422 of the per-conversation flood limit (200 messages a minute), which
/// passes within a minute: retryable after the `Retry-After`, else [`FLOOD_BACKOFF`]. Every other
/// 4xx is fatal.
fn status_error(what: &str, status: StatusCode, headers: &HeaderMap, body: &str) -> OutboundError {
    let detail = error_detail(body);
    let flooded = status == StatusCode::UNPROCESSABLE_ENTITY && detail.contains("Too many messages");
    let message = format!("{what}: HTTP {}: {detail}", status.as_u16());
    OutboundError::from_status(SERVICE, status, headers, message)
        .retryable_if(flooded, Some(retry_after(headers).unwrap_or(FLOOD_BACKOFF)))
}

/// The error text of a Chatwoot error body: `error`, `message` or `errors`, else the trimmed text.
fn error_detail(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |name: &str| match parsed.as_ref().and_then(|v| v.get(name)) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    field("error")
        .or_else(|| field("message"))
        .or_else(|| field("errors"))
        .unwrap_or_else(|| crate::outbound::snippet(body.as_bytes()))
}

mod attachments;
mod custom_attributes;
pub mod events;
mod inbox;
mod profile;
mod types;
mod wire;

pub use attachments::{Attachment, webhook_attachments};
pub use types::{Contact, Conversation, Message, MessageType, NewMessage};
use wire::*;

#[cfg(test)]
mod tests;
