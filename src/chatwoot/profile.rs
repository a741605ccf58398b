//! What the agent records about a customer in Chatwoot: the contact's name, e-mail and custom
//! attributes, and the conversation's labels.
//!
//! Chatwoot's own semantics, read from its source, decide how each call is written:
//! - `PUT /api/v1/accounts/{a}/contacts/{id}` merges `custom_attributes` into the contact's
//!   (`ContactsController#contact_update_params`: `@contact.custom_attributes.merge(...)`), so only the
//!   keys being set are sent and what humans or other tools put there survives;
//! - `POST …/conversations/{c}/labels` replaces the whole list (`update_labels(params[:labels])`), so
//!   [`ChatwootClient::add_labels`] reads the list (`GET` answers `{"payload": [...]}`), adds the new
//!   labels and writes the union.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::ChatwootClient;
use crate::outbound::OutboundError;

impl ChatwootClient {
    /// Set the contact's name and e-mail (when given) and merge `attributes` into its custom attributes.
    pub async fn update_contact(
        &self,
        contact_id: u64,
        name: Option<&str>,
        email: Option<&str>,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), OutboundError> {
        let mut body = Map::new();
        if let Some(name) = name {
            body.insert("name".into(), json!(name));
        }
        if let Some(email) = email {
            body.insert("email".into(), json!(email));
        }
        if !attributes.is_empty() {
            body.insert("custom_attributes".into(), json!(attributes));
        }
        let path = format!("contacts/{contact_id}");
        let _: Value = self
            .call(Method::PUT, &path, &[], Some(&Value::Object(body)))
            .await?;
        Ok(())
    }

    /// The conversation's labels.
    pub async fn conversation_labels(&self, conversation_id: u64) -> Result<Vec<String>, OutboundError> {
        let path = format!("conversations/{conversation_id}/labels");
        let value: Value = self.call(Method::GET, &path, &[], None).await?;
        Ok(value["payload"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect())
    }

    /// Add `labels` to the conversation's, keeping the ones it has (read, union, write: Chatwoot's
    /// call replaces the list). Returns the list as written.
    pub async fn add_labels(
        &self,
        conversation_id: u64,
        labels: &[String],
    ) -> Result<Vec<String>, OutboundError> {
        let mut all = self.conversation_labels(conversation_id).await?;
        let before = all.len();
        for label in labels {
            if !all.contains(label) {
                all.push(label.clone());
            }
        }
        if all.len() == before {
            return Ok(all);
        }
        let path = format!("conversations/{conversation_id}/labels");
        let _: Value = self
            .call(Method::POST, &path, &[], Some(&json!({ "labels": all })))
            .await?;
        Ok(all)
    }
}
