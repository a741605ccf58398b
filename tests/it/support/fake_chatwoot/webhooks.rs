//! Webhooks: renderers for Chatwoot's webhook shapes (string `message_type`, mixed ISO and unix
//! times), queuing them as state changes, and the one background task that posts them in order,
//! once each, signed when a secret is set, recording each delivery.

use super::*;

impl Db {
    pub(super) fn render_account(&self) -> Value {
        json!({ "id": self.account_id, "name": self.account_name })
    }

    pub(super) fn render_contact_inbox(&self, c: &ConversationRow) -> Value {
        let Some(ci) = self
            .contact_inboxes
            .iter()
            .find(|ci| ci.contact_id == c.contact_id && ci.source_id == c.source_id)
        else {
            return Value::Null;
        };
        json!({
            "id": ci.id, "contact_id": ci.contact_id, "inbox_id": ci.inbox_id, "source_id": ci.source_id,
            "created_at": iso(ci.created_at), "updated_at": iso(ci.created_at), "hmac_verified": false,
            "pubsub_token": ci.pubsub_token,
        })
    }

    /// `Conversation#webhook_data`: `messages` holds the last message that is neither activity nor
    /// private; `meta.assignee` is `null` when unassigned.
    pub(super) fn render_conversation_webhook(&self, c: &ConversationRow) -> Value {
        let last_chat = self
            .messages
            .iter()
            .rev()
            .find(|m| m.conversation_id == c.id && m.message_type != 2 && !m.private);
        let messages: Vec<Value> = last_chat
            .map(|m| self.render_nested_message(m))
            .into_iter()
            .collect();
        let meta = json!({
            "sender": self.render_sender(Sender::Contact(c.contact_id)),
            "assignee": c.assignee_id.map(render_user),
            "assignee_type": c.assignee_id.map(|_| "User"),
            "team": null,
            "hmac_verified": false,
        });
        json!({
            "additional_attributes": c.additional_attributes, "can_reply": true, "channel": "Channel::Api",
            "contact_inbox": self.render_contact_inbox(c), "id": c.id, "inbox_id": c.inbox_id,
            "messages": messages, "labels": [], "meta": meta, "status": c.status,
            "custom_attributes": c.custom_attributes, "snoozed_until": null, "unread_count": self.unread_count(c.id),
            "first_reply_created_at": iso_or_null(c.first_reply_created_at), "priority": null,
            "waiting_since": c.waiting_since, "agent_last_seen_at": 0, "contact_last_seen_at": 0,
            "last_activity_at": c.last_activity_at, "timestamp": c.last_activity_at, "created_at": c.created_at,
            "updated_at": c.updated_at, "account": self.render_account(),
        })
    }

    /// `Message#webhook_data`: string `message_type`, ISO `created_at`, the sender's webhook shape.
    pub(super) fn render_message_webhook(&self, m: &MessageRow) -> Value {
        let sender = match m.sender {
            Sender::Nobody => Value::Null,
            Sender::Contact(id) => self.contacts.get(&id).map_or(Value::Null, |c| {
                json!({
                    "account": self.render_account(), "additional_attributes": c.additional_attributes,
                    "avatar": "", "custom_attributes": c.custom_attributes, "email": c.email, "id": c.id,
                    "identifier": c.identifier, "name": c.name, "phone_number": c.phone_number, "thumbnail": "",
                    "blocked": false,
                })
            }),
            Sender::User(id) => json!({ "id": id, "name": user_name(id), "email": user_email(id), "type": "user" }),
            Sender::AgentBot(id) => json!({ "id": id, "name": "wa-agent bot", "type": "agent_bot" }),
        };
        json!({
            "account": self.render_account(), "additional_attributes": {},
            "content_attributes": m.content_attributes, "content_type": "text", "content": m.content,
            "conversation": self.render_conversation_webhook(&self.conversations[&m.conversation_id]),
            "created_at": iso(m.created_exact), "id": m.id,
            "inbox": { "id": self.inbox_id, "name": self.inbox_name },
            "message_type": MESSAGE_TYPES[m.message_type as usize], "private": m.private, "sender": sender,
            "source_id": m.source_id,
        })
    }
}

pub(super) fn user_name(id: u64) -> String {
    match id {
        API_USER_ID => "wa-agent (AI-assistent)".to_owned(),
        HUMAN_USER_ID => "Mark Jansen".to_owned(),
        other => format!("Agent {other}"),
    }
}

pub(super) fn user_email(id: u64) -> String {
    match id {
        API_USER_ID => "wa-agent@autobedrijfvandermeer.nl".to_owned(),
        HUMAN_USER_ID => "mark.jansen@autobedrijfvandermeer.nl".to_owned(),
        other => format!("agent{other}@autobedrijfvandermeer.nl"),
    }
}

/// A user as a message's `sender` shows it.
pub(super) fn render_user(id: u64) -> Value {
    let name = user_name(id);
    template(
        CREATED_MESSAGE,
        "/sender",
        json!({ "id": id, "name": name, "available_name": name }),
    )
}

/// A user as a conversation's `meta.assignee` shows it.
pub(super) fn render_agent(id: u64, account_id: u64) -> Value {
    let name = user_name(id);
    let fields = json!({
        "id": id, "account_id": account_id, "name": name, "available_name": name,
        "email": user_email(id),
    });
    template(CONTACT_CONVERSATIONS, "/payload/0/meta/assignee", fields)
}

/// The fixture value at `pointer` with `fields` set over it.
pub(super) fn template(fixture: &str, pointer: &str, fields: Value) -> Value {
    let parsed: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    let mut value = parsed
        .pointer(pointer)
        .cloned()
        .expect("fixture has the template");
    for (key, field) in fields.as_object().expect("fields are an object") {
        value[key] = field.clone();
    }
    value
}

// ---- webhook delivery ----

impl Db {
    /// Queues a message event; activity messages send none (Chatwoot's `webhook_sendable?`).
    pub(super) fn emit_message(&self, message_id: u64, event: &str) {
        let message = self.message(message_id);
        if self.webhook.is_none() || message.message_type == 2 {
            return;
        }
        let mut payload = self.render_message_webhook(message);
        if self.status_in_message_webhooks {
            payload["status"] = json!(message.status);
        }
        self.emit(event, payload);
    }

    /// Queues a conversation event; `changed_attributes` is set when given (`null` included).
    pub(super) fn emit_conversation(
        &self,
        conversation_id: u64,
        event: &str,
        changed_attributes: Option<Value>,
    ) {
        if self.webhook.is_none() {
            return;
        }
        let mut payload = self.render_conversation_webhook(&self.conversations[&conversation_id]);
        if let Some(changed) = changed_attributes {
            payload["changed_attributes"] = changed;
        }
        self.emit(event, payload);
    }

    pub(super) fn emit(&self, event: &str, mut payload: Value) {
        let Some(webhook) = &self.webhook else {
            return;
        };
        payload["event"] = json!(event);
        let delivery = Delivery {
            event: event.to_owned(),
            url: webhook.url.clone(),
            secret: webhook.secret.clone(),
            body: rails_json(&payload),
        };
        // The receiver lives as long as the fake; a send can only fail while it is being dropped.
        self.queued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.outbox.send(delivery);
    }
}

/// Posts queued webhooks one at a time, in order, once each, and records the outcome.
pub(super) async fn deliver(db: Shared, mut queue: mpsc::UnboundedReceiver<Delivery>) {
    let http = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .expect("webhook client");
    while let Some(delivery) = queue.recv().await {
        let mut request = http
            .post(&delivery.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(secret) = &delivery.secret {
            let timestamp = now().to_string();
            let signature = sign(secret, &timestamp, &delivery.body);
            request = request
                .header("X-Chatwoot-Timestamp", timestamp)
                .header("X-Chatwoot-Signature", signature);
        }
        let status = match request.body(delivery.body).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        let mut db = db.lock().expect("fake Chatwoot state");
        db.deliveries.push((delivery.event, status));
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub(super) fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Compact JSON as Rails writes it: `&`, `<`, `>` and the JavaScript line separators escaped, other
/// characters raw UTF-8. They can only occur inside strings, so escaping the text is enough.
pub(super) fn rails_json(value: &Value) -> String {
    let plain = serde_json::to_string(value).expect("JSON");
    let mut out = String::with_capacity(plain.len());
    for ch in plain.chars() {
        match ch {
            '&' => out.push_str("\\u0026"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
}
