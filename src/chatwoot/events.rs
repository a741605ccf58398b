//! Chatwoot webhook events (account webhooks, API-inbox callbacks, agent bots), read leniently.
//!
//! Only two things matter to the service: a human agent's reply (text, files or both) that must
//! reach WhatsApp, and a conversation's status or assignee (the handoff gate). Everything else is acknowledged and ignored,
//! with a reason: the service's own echoes (`source_id` `wa-agent:…`), customer messages (they arrive
//! through the gateway), private notes, activity, messages by bots, other accounts and inboxes.
//!
//! Shapes differ from the REST API: `message_type` is a string here, times mix ISO strings and unix
//! numbers, and `conversation.id` is the display id that API paths take.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::{ChatEvent, ConversationUpdate, HumanReply, ParseError, SOURCE_ID_PREFIX};

/// What a Chatwoot webhook means for the service.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatwootEvent {
    /// Queue this event in its chat's inbox, deduplicated on `dedupe_key`.
    Queue {
        /// Full dedupe key, e.g. `chatwoot:message_created:48262`.
        dedupe_key: String,
        /// The chat event.
        event: ChatEvent,
    },
    /// Acknowledge and ignore, with the reason.
    Ignored(String),
}

fn ignored(reason: impl Into<String>) -> Result<ChatwootEvent, ParseError> {
    Ok(ChatwootEvent::Ignored(reason.into()))
}

fn invalid(field: &str, what: &str) -> ParseError {
    ParseError::InvalidPayload(format!("{field}: {what}"))
}

/// A number that may arrive as an integer, a float or a numeric string.
fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// The WhatsApp chat a conversation mirrors: its contact_inbox `source_id`, else the
/// `wa_chat_id` custom attribute the service sets.
fn chat_of(conversation: &Value) -> Option<String> {
    [
        &conversation["contact_inbox"]["source_id"],
        &conversation["custom_attributes"]["wa_chat_id"],
    ]
    .into_iter()
    .filter_map(Value::as_str)
    .map(str::trim)
    .find(|s| !s.is_empty())
    .map(str::to_owned)
}

/// Read one webhook body for `account_id` and `inbox_id`.
pub fn parse_webhook(body: &[u8], account_id: u64, inbox_id: u64) -> Result<ChatwootEvent, ParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    if !v.is_object() {
        return Err(invalid("body", "expected a JSON object"));
    }
    let event = v["event"]
        .as_str()
        .ok_or_else(|| invalid("event", "missing or not a string"))?;
    if let Some(acc) = as_u64(&v["account"]["id"])
        && acc != account_id
    {
        return ignored(format!("account {acc} is not CHATWOOT_ACCOUNT_ID"));
    }
    match event {
        "message_created" | "message_updated" => message_event(&v, event, body, inbox_id),
        "conversation_created" | "conversation_status_changed" | "conversation_updated" => {
            conversation_event(&v, event, inbox_id)
        }
        other => ignored(format!("event {other} is not handled")),
    }
}

fn message_event(v: &Value, event: &str, body: &[u8], inbox_id: u64) -> Result<ChatwootEvent, ParseError> {
    let id = as_u64(&v["id"]).ok_or_else(|| invalid("id", "missing or not a number"))?;
    let conversation = &v["conversation"];
    let inbox = as_u64(&v["inbox"]["id"]).or_else(|| as_u64(&conversation["inbox_id"]));
    if inbox.is_some_and(|i| i != inbox_id) {
        return ignored("another inbox");
    }
    if v["source_id"]
        .as_str()
        .is_some_and(|s| s.starts_with(SOURCE_ID_PREFIX))
    {
        return ignored("echo of a message wa-agent created");
    }
    let message_type = match &v["message_type"] {
        Value::String(s) => s.as_str(),
        Value::Number(n) => match n.as_i64() {
            Some(0) => "incoming",
            Some(1) => "outgoing",
            Some(2) => "activity",
            Some(3) => "template",
            _ => "unknown",
        },
        _ => return Err(invalid("message_type", "missing")),
    };
    if message_type != "outgoing" {
        return ignored(format!("{message_type} messages are not sent to WhatsApp"));
    }
    if v["private"].as_bool().unwrap_or(false) {
        return ignored("private note");
    }
    if v["sender"]["type"].as_str() != Some("user") {
        return ignored("not written by a human agent");
    }
    // The echo of a failure report the service made: Chatwoot's webhooks carry no message status,
    // but a failed message keeps its `external_error` until an agent presses Retry.
    let reported = v["content_attributes"]["external_error"]
        .as_str()
        .is_some_and(|e| !e.is_empty());
    if event == "message_updated" && (reported || v["status"].as_str() == Some("failed")) {
        return ignored("the failure report wa-agent made");
    }
    let text = v["content"].as_str().map(str::trim).unwrap_or("");
    let attachments = super::webhook_attachments(v);
    if text.is_empty() && attachments.is_empty() {
        return ignored("neither text nor a file");
    }
    let conversation_id =
        as_u64(&conversation["id"]).ok_or_else(|| invalid("conversation.id", "missing or not a number"))?;
    let Some(chat_id) = chat_of(conversation) else {
        return ignored("the conversation is not linked to a WhatsApp chat");
    };
    let dedupe_key = if event == "message_created" {
        format!("chatwoot:message_created:{id}")
    } else {
        // A retry comes back as the same id: dedupe on the delivery's bytes, the worker on delivery.
        let digest = Sha256::digest(body);
        format!("chatwoot:message_updated:{id}:{}", hex::encode(&digest[..8]))
    };
    let reply = HumanReply {
        chat_id,
        conversation_id,
        message_id: id,
        text: text.to_owned(),
        attachments,
    };
    Ok(ChatwootEvent::Queue {
        dedupe_key,
        event: ChatEvent::HumanReply(reply),
    })
}

fn conversation_event(v: &Value, event: &str, inbox_id: u64) -> Result<ChatwootEvent, ParseError> {
    let id = as_u64(&v["id"]).ok_or_else(|| invalid("id", "missing or not a number"))?;
    if as_u64(&v["inbox_id"]).is_some_and(|i| i != inbox_id) {
        return ignored("another inbox");
    }
    let status = v["status"]
        .as_str()
        .ok_or_else(|| invalid("status", "missing or not a string"))?;
    let Some(chat_id) = chat_of(v) else {
        return ignored("the conversation is not linked to a WhatsApp chat");
    };
    let assignee_id = as_u64(&v["meta"]["assignee"]["id"]);
    let updated_at = as_f64(&v["updated_at"]);
    let update = ConversationUpdate {
        chat_id,
        conversation_id: id,
        status: status.to_owned(),
        assignee_id,
        updated_at,
    };
    let dedupe_key = format!(
        "chatwoot:{event}:{id}:{updated_at}:{status}:{}",
        assignee_id.unwrap_or(0)
    );
    Ok(ChatwootEvent::Queue {
        dedupe_key,
        event: ChatEvent::Conversation(update),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/chatwoot/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn parse(name: &str) -> ChatwootEvent {
        parse_webhook(&fixture(name), 3, 7).unwrap()
    }

    #[test]
    fn a_human_reply_is_queued_for_its_chat() {
        let ChatwootEvent::Queue { dedupe_key, event } = parse("webhook_message_created_outgoing_human.json")
        else {
            panic!("queued")
        };
        assert_eq!(dedupe_key, "chatwoot:message_created:48262");
        let ChatEvent::HumanReply(r) = event else {
            panic!("human reply")
        };
        assert_eq!(
            (r.chat_id.as_str(), r.conversation_id, r.message_id),
            ("31641238876@c.us", 87, 48262)
        );
        assert!(r.text.contains("Proefrit & taxatie"));
    }

    #[test]
    fn a_human_reply_with_files_carries_them() {
        let ChatwootEvent::Queue {
            event: ChatEvent::HumanReply(r),
            ..
        } = parse("webhook_message_created_outgoing_human_attachment.json")
        else {
            panic!("queued")
        };
        assert!(r.text.starts_with("Hierbij de offerte"));
        let names: Vec<_> = r.attachments.iter().map(|a| a.file_name.as_deref()).collect();
        assert_eq!(names, [Some("offerte-xc60.pdf"), Some("interieur-xc60.jpg")]);

        // Files without text are sent too; a message with neither is not.
        let mut v: Value =
            serde_json::from_slice(&fixture("webhook_message_created_outgoing_human_attachment.json"))
                .unwrap();
        v["content"] = Value::Null;
        let files_only = serde_json::to_vec(&v).unwrap();
        let Ok(ChatwootEvent::Queue {
            event: ChatEvent::HumanReply(r),
            ..
        }) = parse_webhook(&files_only, 3, 7)
        else {
            panic!("files only is queued")
        };
        assert_eq!((r.text.as_str(), r.attachments.len()), ("", 2));
        v["attachments"] = serde_json::json!([]);
        let nothing = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            parse_webhook(&nothing, 3, 7).unwrap(),
            ChatwootEvent::Ignored(_)
        ));
    }

    #[test]
    fn echoes_customer_messages_and_notes_are_ignored() {
        for name in [
            "webhook_message_created_outgoing_bot_echo.json",
            "webhook_message_created_incoming.json",
            "webhook_message_created_private_note.json",
        ] {
            assert!(matches!(parse(name), ChatwootEvent::Ignored(_)), "{name}");
        }
    }

    #[test]
    fn a_retry_is_queued_with_a_delivery_specific_key() {
        let ChatwootEvent::Queue { dedupe_key, event } = parse("webhook_message_updated_retry.json") else {
            panic!("queued")
        };
        assert!(dedupe_key.starts_with("chatwoot:message_updated:"));
        assert!(matches!(event, ChatEvent::HumanReply(_)));
    }

    #[test]
    fn the_echo_of_a_failure_report_is_not_a_retry() {
        let mut v: Value = serde_json::from_slice(&fixture("webhook_message_updated_retry.json")).unwrap();
        v["content_attributes"] = serde_json::json!({"external_error": "WhatsApp delivery failed"});
        let body = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            parse_webhook(&body, 3, 7).unwrap(),
            ChatwootEvent::Ignored(_)
        ));
    }

    #[test]
    fn status_events_carry_status_and_assignee() {
        for name in [
            "webhook_conversation_status_changed_open.json",
            "webhook_conversation_updated_status.json",
        ] {
            let ChatwootEvent::Queue {
                event: ChatEvent::Conversation(c),
                ..
            } = parse(name)
            else {
                panic!("{name}")
            };
            assert_eq!(
                (c.chat_id.as_str(), c.conversation_id, c.status.as_str()),
                ("31641238876@c.us", 87, "open")
            );
            assert_eq!(c.assignee_id, None);
            assert!(c.updated_at > 1.7e9);
        }
        let ChatwootEvent::Queue {
            event: ChatEvent::Conversation(c),
            ..
        } = parse("webhook_conversation_created.json")
        else {
            panic!("created")
        };
        assert_eq!(c.status, "pending");
    }

    #[test]
    fn other_accounts_inboxes_and_events_are_ignored() {
        let body = fixture("webhook_message_created_outgoing_human.json");
        assert!(matches!(
            parse_webhook(&body, 4, 7).unwrap(),
            ChatwootEvent::Ignored(_)
        ));
        assert!(matches!(
            parse_webhook(&body, 3, 8).unwrap(),
            ChatwootEvent::Ignored(_)
        ));
        let other = br#"{"event":"contact_created","account":{"id":3}}"#;
        assert!(matches!(
            parse_webhook(other, 3, 7).unwrap(),
            ChatwootEvent::Ignored(_)
        ));
    }

    #[test]
    fn malformed_bodies_name_the_problem() {
        assert!(matches!(
            parse_webhook(b"{", 3, 7),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_webhook(b"[]", 3, 7),
            Err(ParseError::InvalidPayload(_))
        ));
        let e = parse_webhook(br#"{"event":"message_created"}"#, 3, 7).unwrap_err();
        assert!(e.to_string().contains("id"), "{e}");
        let e = parse_webhook(br#"{"event":"conversation_updated","id":5}"#, 3, 7).unwrap_err();
        assert!(e.to_string().contains("status"), "{e}");
    }
}
