//! Reading back our own recent messages in a chat, so a rerun of a turn that died mid-send can tell
//! whether a part already reached the customer. Only messages that are ours (`fromMe`, or an id
//! serialized as `true_…`), carry a timestamp at or after the cut-off and have a text body count.

use serde_json::Value;

use super::{SERVICE, WahaClient, non_empty_str, timestamp_secs};
use crate::outbound::OutboundError;

/// How many of the chat's newest messages are read.
const LIMIT: &str = "20";

impl WahaClient {
    /// The bodies of our messages in `chat_id` sent at or after `since_ms`, newest first.
    pub(super) async fn own_texts_since(
        &self,
        chat_id: &str,
        since_ms: i64,
    ) -> Result<Vec<String>, OutboundError> {
        let mut url = reqwest::Url::parse(&format!("{}/api", self.base_url))
            .map_err(|e| OutboundError::fatal(SERVICE, format!("WAHA base URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| OutboundError::fatal(SERVICE, "WAHA base URL cannot take a path"))?
            .extend([self.session.as_str(), "chats", chat_id, "messages"]);
        url.query_pairs_mut()
            .append_pair("limit", LIMIT)
            .append_pair("downloadMedia", "false");
        let body = self.send("messages", self.client.get(url)).await?;
        own_texts(&body, since_ms)
            .ok_or_else(|| OutboundError::fatal(SERVICE, "WAHA messages answer is not a JSON array"))
    }
}

/// Our messages' bodies from a `GET …/messages` answer, in the order given (WAHA: newest first);
/// `None` when the answer is not a JSON array.
pub(super) fn own_texts(body: &[u8], since_ms: i64) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let messages = value.as_array()?;
    Some(
        messages
            .iter()
            .filter(|m| is_ours(m))
            .filter(|m| {
                let secs = timestamp_secs(m.get("timestamp"));
                secs > 0 && secs.saturating_mul(1000) >= since_ms
            })
            .filter_map(|m| non_empty_str(m, "/body").map(str::to_owned))
            .collect(),
    )
}

fn is_ours(message: &Value) -> bool {
    match message.get("fromMe").and_then(Value::as_bool) {
        Some(from_me) => from_me,
        None => message
            .get("id")
            .and_then(|id| id.get("_serialized").or(Some(id)))
            .and_then(Value::as_str)
            .is_some_and(|id| id.starts_with("true_")),
    }
}

#[cfg(test)]
mod tests {
    use super::own_texts;

    #[test]
    fn only_our_recent_text_messages_count() {
        let body = serde_json::json!([
            {"id": "true_31641238876@c.us_3EB0A", "fromMe": true, "timestamp": 1_784_016_900, "body": "Antwoord 2"},
            {"id": "false_31641238876@c.us_3EB0B", "fromMe": false, "timestamp": 1_784_016_899, "body": "Vraag"},
            {"id": {"_serialized": "true_31641238876@c.us_3EB0C"}, "timestamp": "1784016898", "body": "Antwoord 1"},
            {"id": "true_31641238876@c.us_3EB0D", "fromMe": true, "timestamp": 1_784_016_000, "body": "Oud"},
            {"id": "true_31641238876@c.us_3EB0E", "fromMe": true, "body": "Zonder tijd"},
            {"id": "true_31641238876@c.us_3EB0F", "fromMe": true, "timestamp": 1_784_016_901, "hasMedia": true}
        ])
        .to_string();
        let texts = own_texts(body.as_bytes(), 1_784_016_898_000).unwrap();
        assert_eq!(texts, vec!["Antwoord 2".to_owned(), "Antwoord 1".to_owned()]);
        assert_eq!(own_texts(b"{\"error\":\"x\"}", 0), None);
        assert_eq!(own_texts(b"not json", 0), None);
    }
}
