//! Chatwoot as a channel (Agent Bot mode): a conversation in any inbox the bot is attached to
//! (Chatwoot's own WhatsApp, website widget, Instagram, Telegram, e-mail) is a chat
//! `cw:{account}:{conversation}`, answered through Chatwoot's API as the bot.
//!
//! The conversation is the channel ([`ConversationLink::Itself`]): nothing is mirrored. Replies are
//! created with the bot's token (so they show as the bot); a handoff posts a private note and
//! `toggle_status` `open`, both endpoints a bot token may call. Typing (`toggle_typing_status`) needs
//! a user token (`CHATWOOT_API_TOKEN`): without one it is skipped. A human's reply in such a
//! conversation already reached the customer through Chatwoot, so it is only remembered.
//!
//! Webhooks ([`parse_webhook`]): the bot's events (and account-webhook events of conversations outside
//! the mirror's API inbox) become customer messages, human replies and gate updates of `cw:` chats;
//! events of the mirror's inbox are left to the mirror's parser (`Ok(None)`).
//!
//! Failures are [`OutboundError`]s of service `chatwoot_bot`, classified by status like every outbound
//! call ([`crate::outbound`]): 408, 425, 429, 5xx and transport errors are retryable, other 4xx fatal.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Channel, ConversationLink, Note, SentMessage};
use crate::chatwoot::events::ChatwootEvent;
use crate::domain::{
    ChannelKind, ChatEvent, ConversationUpdate, HumanReply, InboundMessage, ParseError, SOURCE_ID_PREFIX,
};
use crate::outbound::{Answer, OutboundError, exchange, snippet};

/// The service name of every failure of this channel: its kind.
const SERVICE: &str = ChannelKind::ChatwootBot.as_str();

/// Prefix of every Agent Bot chat id.
pub const CHAT_PREFIX: &str = "cw:";

/// The chat id of conversation `conversation` of account `account`.
pub fn chat_id(account: u64, conversation: u64) -> String {
    format!("{CHAT_PREFIX}{account}:{conversation}")
}

/// The account and conversation of an Agent Bot chat id.
pub fn parse_chat_id(chat_id: &str) -> Option<(u64, u64)> {
    let (account, conversation) = chat_id.strip_prefix(CHAT_PREFIX)?.split_once(':')?;
    Some((account.parse().ok()?, conversation.parse().ok()?))
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn invalid(field: &str, problem: &str) -> ParseError {
    ParseError::InvalidPayload(format!("{field}: {problem}"))
}

fn ignored(reason: &str) -> Result<Option<ChatwootEvent>, ParseError> {
    Ok(Some(ChatwootEvent::Ignored(reason.to_owned())))
}

/// Reads a Chatwoot webhook as an Agent Bot event. `mirror` is the mirror's `(account, API inbox)`:
/// its events, and events that name no inbox, give `Ok(None)` (the mirror's parser reads them).
/// `default_account` stands in when a conversation event names no account.
pub fn parse_webhook(
    body: &[u8],
    mirror: Option<(u64, u64)>,
    default_account: Option<u64>,
) -> Result<Option<ChatwootEvent>, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    if !v.is_object() {
        return Err(invalid("body", "expected a JSON object"));
    }
    let event = v["event"]
        .as_str()
        .ok_or_else(|| invalid("event", "missing or not a string"))?;
    let is_message = matches!(event, "message_created" | "message_updated");
    let conversation = if is_message { &v["conversation"] } else { &v };
    let inbox = if is_message {
        as_u64(&v["inbox"]["id"]).or_else(|| as_u64(&conversation["inbox_id"]))
    } else {
        as_u64(&v["inbox_id"])
    };
    let account = as_u64(&v["account"]["id"])
        .or_else(|| as_u64(&v["account_id"]))
        .or_else(|| as_u64(&conversation["account_id"]))
        .or(default_account);
    let (Some(inbox), Some(account)) = (inbox, account) else {
        return Ok(None);
    };
    if mirror == Some((account, inbox)) {
        return Ok(None);
    }
    match event {
        "message_created" | "message_updated" => message_event(&v, event, account).map(Some),
        "conversation_created"
        | "conversation_status_changed"
        | "conversation_updated"
        | "conversation_opened"
        | "conversation_resolved" => conversation_event(&v, event, account).map(Some),
        other => ignored(&format!("event {other} is not handled")),
    }
}

fn message_event(v: &Value, event: &str, account: u64) -> Result<ChatwootEvent, ParseError> {
    let id = as_u64(&v["id"]).ok_or_else(|| invalid("id", "missing or not a number"))?;
    let conversation = as_u64(&v["conversation"]["id"])
        .ok_or_else(|| invalid("conversation.id", "missing or not a number"))?;
    let chat = chat_id(account, conversation);
    let skip = |r: &str| Ok(ChatwootEvent::Ignored(r.to_owned()));
    if v["private"].as_bool().unwrap_or(false) {
        return skip("private note");
    }
    if v["source_id"]
        .as_str()
        .is_some_and(|s| s.starts_with(SOURCE_ID_PREFIX))
    {
        return skip("echo of a message wa-agent created");
    }
    let message_type = match &v["message_type"] {
        Value::String(s) => s.as_str(),
        Value::Number(n) if n.as_i64() == Some(0) => "incoming",
        Value::Number(n) if n.as_i64() == Some(1) => "outgoing",
        Value::Number(_) => "activity",
        _ => return Err(invalid("message_type", "missing")),
    };
    let text = content_text(v);
    match (message_type, event) {
        ("incoming", "message_created") => {
            let Some(text) = text else {
                return skip("empty message");
            };
            let message = InboundMessage {
                channel: ChannelKind::ChatwootBot,
                chat_id: chat,
                message_id: format!("cw-{id}"),
                text,
                sender_name: v["sender"]["name"]
                    .as_str()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                timestamp: created_at(&v["created_at"]),
                media: None,
            };
            Ok(ChatwootEvent::Queue {
                dedupe_key: format!("chatwoot_bot:{account}:{id}"),
                event: ChatEvent::Customer(message),
            })
        }
        ("outgoing", "message_created") => {
            if v["sender"]["type"].as_str() != Some("user") {
                return skip("the bot's own message");
            }
            let Some(text) = text else { return skip("no text") };
            Ok(ChatwootEvent::Queue {
                dedupe_key: format!("chatwoot:message_created:{id}"),
                event: ChatEvent::HumanReply(HumanReply {
                    chat_id: chat,
                    conversation_id: conversation,
                    message_id: id,
                    text,
                    attachments: Vec::new(),
                }),
            })
        }
        (kind, _) => skip(&format!("{kind} {event} is not answered")),
    }
}

/// The message's text, or a placeholder for an attachment without text.
fn content_text(v: &Value) -> Option<String> {
    if let Some(text) = v["content"].as_str().map(str::trim).filter(|s| !s.is_empty()) {
        return Some(text.to_owned());
    }
    let kind = v["attachments"].get(0)?["file_type"].as_str().unwrap_or("file");
    Some(
        match kind {
            "image" => "[image]",
            "audio" => "[audio]",
            "video" => "[video]",
            "location" => "[location]",
            "contact" => "[contact]",
            _ => "[document]",
        }
        .to_owned(),
    )
}

/// Unix seconds from an ISO time or a number (0 when unknown).
fn created_at(v: &Value) -> i64 {
    if let Some(n) = v.as_i64() {
        return n;
    }
    v.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_second())
}

fn conversation_event(v: &Value, event: &str, account: u64) -> Result<ChatwootEvent, ParseError> {
    let id = as_u64(&v["id"]).ok_or_else(|| invalid("id", "missing or not a number"))?;
    let status = v["status"]
        .as_str()
        .ok_or_else(|| invalid("status", "missing or not a string"))?;
    let assignee_id = as_u64(&v["meta"]["assignee"]["id"]);
    let updated_at = v["updated_at"]
        .as_f64()
        .or_else(|| v["updated_at"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0);
    Ok(ChatwootEvent::Queue {
        dedupe_key: format!(
            "chatwoot_bot:{event}:{account}:{id}:{updated_at}:{status}:{}",
            assignee_id.unwrap_or(0)
        ),
        event: ChatEvent::Conversation(ConversationUpdate {
            chat_id: chat_id(account, id),
            conversation_id: id,
            status: status.to_owned(),
            assignee_id,
            updated_at,
        }),
    })
}

/// Answers Agent Bot chats through Chatwoot's API.
#[derive(Debug)]
pub struct ChatwootBotChannel {
    client: reqwest::Client,
    base_url: String,
    bot_token: SecretString,
    user_token: Option<SecretString>,
}

impl ChatwootBotChannel {
    /// A channel over the Chatwoot at `base_url`, answering with `bot_token`; `user_token` (the
    /// `CHATWOOT_API_TOKEN`) enables typing, which bot tokens may not call.
    pub fn new(
        base_url: &str,
        bot_token: SecretString,
        user_token: Option<SecretString>,
        timeout: Duration,
    ) -> Self {
        Self {
            client: crate::outbound::http_client(timeout),
            base_url: base_url.trim_end_matches('/').to_owned(),
            bot_token,
            user_token,
        }
    }

    fn conversation_of(chat_id: &str) -> Result<(u64, u64), OutboundError> {
        parse_chat_id(chat_id).ok_or_else(|| {
            OutboundError::fatal(SERVICE, "not an Agent Bot chat id (cw:{account}:{conversation})")
        })
    }

    /// Posts `body` to the conversation's `action` with `token`; the answer on 2xx.
    async fn post(
        &self,
        chat_id: &str,
        action: &str,
        body: &Value,
        token: &SecretString,
    ) -> Result<Value, OutboundError> {
        let (account, conversation) = Self::conversation_of(chat_id)?;
        let url = format!(
            "{}/api/v1/accounts/{account}/conversations/{conversation}/{action}",
            self.base_url
        );
        let request = self
            .client
            .post(url)
            .header("api_access_token", token.expose_secret())
            .json(body);
        let Answer {
            status,
            headers,
            body: bytes,
        } = exchange(SERVICE, "Chatwoot", request).await?;
        if status.is_success() {
            return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
        }
        let message = format!(
            "Chatwoot {action} answered {}: {}",
            status.as_u16(),
            snippet(&bytes)
        );
        Err(OutboundError::from_status(SERVICE, status, &headers, message))
    }
}

#[async_trait::async_trait]
impl Channel for ChatwootBotChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::ChatwootBot
    }

    async fn send_text(&self, chat_id: &str, text: &str) -> Result<SentMessage, OutboundError> {
        let body = json!({ "content": text, "message_type": "outgoing", "private": false });
        let answer = self.post(chat_id, "messages", &body, &self.bot_token).await?;
        Ok(SentMessage {
            id: as_u64(&answer["id"]).map(|id| id.to_string()),
        })
    }

    async fn set_typing(&self, chat_id: &str, on: bool) -> Result<(), OutboundError> {
        let Some(token) = &self.user_token else {
            return Ok(());
        };
        let body = json!({ "typing_status": if on { "on" } else { "off" } });
        self.post(chat_id, "toggle_typing_status", &body, token)
            .await
            .map(drop)
    }

    fn conversation(&self, chat_id: &str) -> ConversationLink {
        match parse_chat_id(chat_id) {
            Some((account_id, conversation_id)) => ConversationLink::Itself {
                account_id,
                conversation_id,
            },
            None => ConversationLink::Mirror,
        }
    }

    async fn note(&self, chat_id: &str, note: &Note) -> Result<(), OutboundError> {
        let Note::Handoff { reason } = note else {
            return Ok(());
        };
        if !reason.is_empty() {
            let body = json!({ "content": format!("wa-agent: {reason}"), "message_type": "outgoing", "private": true });
            if let Err(e) = self.post(chat_id, "messages", &body, &self.bot_token).await {
                tracing::warn!(chat_id, error = %e, "handoff note not created");
            }
        }
        self.post(
            chat_id,
            "toggle_status",
            &json!({ "status": "open" }),
            &self.bot_token,
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests;
