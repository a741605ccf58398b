//! Reading back our own recent messages in an Evolution chat, so a rerun of a turn that died mid-send
//! can tell whether a part already reached the customer.
//!
//! `POST {base}/chat/findMessages/{instance}` with `{"where": {"key": {"remoteJid", "fromMe": true}},
//! "offset": 20, "page": 1}` answers `{"messages": {"total", "pages", "currentPage", "records": […]}}`,
//! newest first (`offset` is Evolution's page size). Invariants: only records that are ours
//! (`key.fromMe` true, checked again here), carry a `messageTimestamp` at or after the cut-off and
//! have a text (`message.conversation`, or `message.extendedTextMessage.text`) count; an answer
//! without `messages.records` is a fatal error, never an empty list (which would read as "not sent").

use serde_json::{Value, json};

use super::{EvolutionClient, SERVICE, non_empty_str, timestamp_secs};
use crate::outbound::OutboundError;

/// How many of the chat's newest own messages are read.
const LIMIT: u32 = 20;

impl EvolutionClient {
    /// The texts of our messages in `chat_id` sent at or after `since_ms`, newest first.
    pub(super) async fn own_texts_since(
        &self,
        chat_id: &str,
        since_ms: i64,
    ) -> Result<Vec<String>, OutboundError> {
        let body = json!({
            "where": { "key": { "remoteJid": chat_id, "fromMe": true } },
            "offset": LIMIT,
            "page": 1,
        });
        let answer = self.post("chat/findMessages", &body).await?;
        own_texts(&answer, since_ms)
            .ok_or_else(|| fatal("Evolution API findMessages answer has no messages.records"))
    }
}

fn fatal(message: &str) -> OutboundError {
    OutboundError::fatal(SERVICE, message)
}

/// Our texts from a `findMessages` answer, in the order given (newest first); `None` when the answer
/// has no `messages.records` array.
pub(super) fn own_texts(body: &[u8], since_ms: i64) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let records = value.pointer("/messages/records")?.as_array()?;
    Some(
        records
            .iter()
            .filter(|r| r.pointer("/key/fromMe").and_then(Value::as_bool) == Some(true))
            .filter(|r| {
                let secs = timestamp_secs(r.get("messageTimestamp"));
                secs > 0 && secs.saturating_mul(1000) >= since_ms
            })
            .filter_map(|r| {
                non_empty_str(r, "/message/conversation")
                    .or_else(|| non_empty_str(r, "/message/extendedTextMessage/text"))
                    .map(str::to_owned)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::own_texts;

    #[test]
    fn only_our_recent_text_messages_count() {
        let record = |id: &str, from_me: bool, at: serde_json::Value, message: serde_json::Value| {
            serde_json::json!({
                "id": format!("cm{id}"), "pushName": "Você", "messageType": "conversation",
                "key": {"remoteJid": "31611987345@s.whatsapp.net", "fromMe": from_me, "id": id},
                "message": message, "messageTimestamp": at,
                "instanceId": "361a7e57-10ea-47a8-b948-b6d07e7cdcff", "source": "unknown",
                "contextInfo": null, "MessageUpdate": [{"status": "DELIVERY_ACK"}]
            })
        };
        let body = serde_json::json!({"messages": {"total": 6, "pages": 1, "currentPage": 1, "records": [
            record("3EB0A", true, 1_784_016_901.into(), serde_json::json!({"imageMessage": {"caption": ""}})),
            record("3EB0B", true, 1_784_016_900.into(), serde_json::json!({"conversation": "Antwoord 2"})),
            record("3A0C", false, 1_784_016_899.into(), serde_json::json!({"conversation": "Vraag"})),
            record("3EB0D", true, "1784016898".into(), serde_json::json!({"extendedTextMessage": {"text": "Antwoord 1"}})),
            record("3EB0E", true, 1_784_016_000.into(), serde_json::json!({"conversation": "Oud"})),
            record("3EB0F", true, serde_json::Value::Null, serde_json::json!({"conversation": "Zonder tijd"})),
        ]}})
        .to_string();
        let texts = own_texts(body.as_bytes(), 1_784_016_898_000).unwrap();
        assert_eq!(texts, vec!["Antwoord 2".to_owned(), "Antwoord 1".to_owned()]);
        assert_eq!(own_texts(br#"{"messages": []}"#, 0), None);
        assert_eq!(own_texts(br#"{"status":401,"error":"Unauthorized"}"#, 0), None);
        assert_eq!(own_texts(b"not json", 0), None);
    }
}
