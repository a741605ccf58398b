//! A conversation's custom attributes, where the chat's summary is kept beside its messages so a
//! cold cache restores both.
//!
//! Invariant: Chatwoot's `POST conversations/{id}/custom_attributes` replaces the whole hash, so
//! [`ChatwootClient::merge_conversation_attribute`] reads the conversation, changes one key and
//! writes the whole hash back (attributes others set are kept).

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::ChatwootClient;
use crate::outbound::OutboundError;

impl ChatwootClient {
    /// The conversation's `custom_attributes` (an empty object when it has none).
    pub async fn conversation_attributes(
        &self,
        conversation_id: u64,
    ) -> Result<Map<String, Value>, OutboundError> {
        let path = format!("conversations/{conversation_id}");
        let v: Value = self.call(Method::GET, &path, &[], None).await?;
        Ok(v.get("custom_attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }

    /// Sets one custom attribute of the conversation, keeping the others: read, merge, write.
    pub async fn merge_conversation_attribute(
        &self,
        conversation_id: u64,
        key: &str,
        value: Value,
    ) -> Result<(), OutboundError> {
        let mut attributes = self.conversation_attributes(conversation_id).await?;
        attributes.insert(key.to_owned(), value);
        let path = format!("conversations/{conversation_id}/custom_attributes");
        let body = json!({ "custom_attributes": attributes });
        let _: Value = self.call(Method::POST, &path, &[], Some(&body)).await?;
        Ok(())
    }
}
