//! Conversations: create, show, custom attributes and `toggle_status`, and the state operations
//! behind them (status and assignee changes with their activity messages and webhooks).

use super::*;

pub(super) async fn create_conversation(State(db): State<Shared>, body: Bytes) -> Reply {
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

pub(super) async fn show_conversation(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    let conversation = db.conversation(&id)?;
    Ok(Json(db.render_conversation(conversation)))
}

/// Like Chatwoot's `ConversationsController#custom_attributes`: the whole hash is replaced.
pub(super) async fn set_custom_attributes(
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

pub(super) async fn toggle_status(
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

impl Db {
    pub(super) fn conversation(&self, raw_id: &str) -> Result<&ConversationRow, Failure> {
        parse_id(raw_id)
            .and_then(|id| self.conversations.get(&id))
            .ok_or_else(Failure::not_found)
    }

    pub(super) fn insert_conversation(
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

    /// Sets the status; a change fires its webhooks and adds an activity message naming who made it.
    pub(super) fn change_status(&mut self, conversation_id: u64, status: &str, by: &str) {
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
    pub(super) fn change_assignee(&mut self, conversation_id: u64, assignee_id: Option<u64>, by: u64) {
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

    pub(super) fn announced(&self, conversation_id: u64) -> Announced {
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
    pub(super) fn save_conversation(&mut self, conversation_id: u64, before: Announced) -> Vec<Value> {
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
    pub(super) fn announce_conversation(&mut self, conversation_id: u64, changes: Vec<Value>) {
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
}
