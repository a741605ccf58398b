//! The fake's contact update and conversation labels, with Chatwoot's own semantics (read from its
//! source): `PUT /contacts/{id}` merges `custom_attributes` into the contact's
//! (`contact_update_params`), while `POST /conversations/{id}/labels` replaces the whole list
//! (`update_labels(params[:labels])`); `GET …/labels` answers `{"payload": [...]}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{Failure, FakeChatwoot, Reply, Shared, parse_id, request_json};

impl FakeChatwoot {
    /// Set one custom attribute of a contact, as a human in the dashboard would.
    pub fn set_contact_attribute(&self, contact_id: u64, key: &str, value: &str) {
        let mut db = self.db();
        let contact = db.contacts.get_mut(&contact_id).expect("no such contact");
        contact.custom_attributes[key] = json!(value);
    }

    /// Replace a conversation's labels, as a human in the dashboard would.
    pub fn set_labels(&self, conversation_id: u64, labels: &[&str]) {
        let mut db = self.db();
        let c = db
            .conversations
            .get_mut(&conversation_id)
            .expect("no such conversation");
        c.labels = labels.iter().map(|l| (*l).to_owned()).collect();
    }

    /// A conversation's labels.
    pub fn labels(&self, conversation_id: u64) -> Vec<String> {
        self.db().conversations[&conversation_id].labels.clone()
    }

    /// A contact's custom attributes.
    pub fn contact_attributes(&self, contact_id: u64) -> Value {
        self.db().contacts[&contact_id].custom_attributes.clone()
    }
}

/// `PUT /contacts/{id}`: name and email set, custom attributes merged (a `contact`-wrapped body too,
/// as Rails' parameter wrapping accepts both).
pub(super) async fn update_contact(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = request_json(&body);
    let body = body.get("contact").cloned().unwrap_or(body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let id = parse_id(&id)
        .filter(|id| db.contacts.contains_key(id))
        .ok_or_else(Failure::not_found)?;
    let contact = db.contacts.get_mut(&id).expect("checked");
    if let Some(name) = body["name"].as_str() {
        contact.name = name.to_owned();
    }
    if let Some(email) = body["email"].as_str() {
        contact.email = Some(email.to_owned());
    }
    if let Some(attributes) = body["custom_attributes"].as_object() {
        if !contact.custom_attributes.is_object() {
            contact.custom_attributes = json!({});
        }
        for (k, v) in attributes {
            contact.custom_attributes[k] = v.clone();
        }
    }
    let rendered = db.render_contact(&db.contacts[&id]);
    Ok(Json(json!({ "payload": rendered })))
}

/// `GET /conversations/{id}/labels`.
pub(super) async fn list_labels(State(db): State<Shared>, Path((_, id)): Path<(String, String)>) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    let c = db.conversation(&id)?;
    Ok(Json(json!({ "payload": c.labels })))
}

/// `POST /conversations/{id}/labels`: the list is replaced by the one sent.
pub(super) async fn replace_labels(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let conversation_id = db.conversation(&id)?.id;
    let labels: Vec<String> = body["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let c = db.conversations.get_mut(&conversation_id).expect("checked");
    c.labels = labels;
    Ok(Json(json!({ "payload": c.labels })))
}
