//! Renderers for the REST shapes (inbox, contact, sender, message, conversation, profile), as in
//! `tests/fixtures/chatwoot/`.

use super::*;

impl Db {
    pub(super) fn render_inbox_slim(&self) -> Value {
        template(
            SEARCH,
            "/payload/0/contact_inboxes/0/inbox",
            json!({ "id": self.inbox_id }),
        )
    }

    pub(super) fn render_inbox_full(&self) -> Value {
        let ids = json!({ "id": self.inbox_id, "account_id": self.account_id });
        template(CREATED_CONTACT, "/payload/contact_inbox/inbox", ids)
    }

    /// The contact as conversations' `meta.sender` shows it.
    pub(super) fn render_contact_meta(&self, c: &ContactRow) -> Value {
        let mut v = json!({
            "additional_attributes": c.additional_attributes, "availability_status": "offline", "email": c.email,
            "id": c.id, "name": c.name, "phone_number": c.phone_number, "blocked": false,
            "identifier": c.identifier, "thumbnail": "", "custom_attributes": c.custom_attributes,
            "created_at": c.created_at,
        });
        if let Some(at) = c.last_activity_at {
            v["last_activity_at"] = json!(at);
        }
        v
    }

    /// The contact as search and create show it, with its contact_inboxes.
    pub(super) fn render_contact(&self, c: &ContactRow) -> Value {
        let inboxes: Vec<Value> = self
            .contact_inboxes
            .iter()
            .filter(|ci| ci.contact_id == c.id)
            .map(|ci| json!({ "source_id": ci.source_id, "inbox": self.render_inbox_slim() }))
            .collect();
        let mut v = self.render_contact_meta(c);
        v["contact_inboxes"] = json!(inboxes);
        v
    }

    pub(super) fn render_sender(&self, sender: Sender) -> Option<Value> {
        match sender {
            Sender::Nobody => None,
            Sender::Contact(id) => self.contacts.get(&id).map(|c| {
                json!({
                    "additional_attributes": c.additional_attributes, "custom_attributes": c.custom_attributes,
                    "email": c.email, "id": c.id, "identifier": c.identifier, "name": c.name,
                    "phone_number": c.phone_number, "thumbnail": "", "blocked": false, "type": "contact",
                })
            }),
            Sender::User(id) => Some(render_user(id)),
            Sender::AgentBot(id) => Some(json!({ "id": id, "name": "wa-agent bot", "avatar_url": "", "type": "agent_bot" })),
        }
    }

    pub(super) fn render_message(&self, m: &MessageRow) -> Value {
        let mut v = json!({
            "id": m.id, "content": m.content, "inbox_id": self.inbox_id, "conversation_id": m.conversation_id,
            "message_type": m.message_type, "content_type": "text", "status": m.status,
            "content_attributes": m.content_attributes, "created_at": m.created_at, "private": m.private,
            "source_id": m.source_id,
        });
        if let Some(sender) = self.render_sender(m.sender) {
            v["sender"] = sender;
        }
        v
    }

    /// A message nested in a conversation (REST lists and webhooks alike): all its columns, the
    /// sender's model name and id, and a summary of its conversation.
    pub(super) fn render_nested_message(&self, m: &MessageRow) -> Value {
        let (model, id) = match m.sender {
            Sender::Nobody => (Value::Null, Value::Null),
            Sender::Contact(id) => (json!("Contact"), json!(id)),
            Sender::User(id) => (json!("User"), json!(id)),
            Sender::AgentBot(id) => (json!("AgentBot"), json!(id)),
        };
        let c = &self.conversations[&m.conversation_id];
        let mut v = json!({
            "id": m.id, "content": m.content, "account_id": self.account_id, "inbox_id": self.inbox_id,
            "conversation_id": m.conversation_id, "message_type": m.message_type, "created_at": m.created_at,
            "updated_at": iso(m.updated_at), "private": m.private, "status": m.status, "source_id": m.source_id,
            "content_type": "text", "content_attributes": m.content_attributes, "sender_type": model,
            "sender_id": id, "external_source_ids": {}, "additional_attributes": {},
            "processed_message_content": m.content, "sentiment": {},
            "conversation": {
                "assignee_id": c.assignee_id, "unread_count": self.unread_count(c.id),
                "last_activity_at": c.last_activity_at, "contact_inbox": { "source_id": c.source_id },
            },
        });
        if let Some(sender) = self.render_sender(m.sender) {
            v["sender"] = sender;
        }
        v
    }

    /// Incoming messages since the agent last looked (never, here).
    pub(super) fn unread_count(&self, conversation_id: u64) -> usize {
        self.messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id && m.message_type == 0)
            .count()
    }

    pub(super) fn render_conversation(&self, c: &ConversationRow) -> Value {
        let newest = |keep: fn(&MessageRow) -> bool| {
            let mut mine = self.messages.iter().rev().filter(|m| m.conversation_id == c.id);
            mine.find(|m| keep(m)).map(|m| self.render_nested_message(m))
        };
        let last = newest(|_| true);
        let last_non_activity = newest(|m| m.message_type != 2);
        let mut meta = json!({
            "sender": self.contacts.get(&c.contact_id).map(|ct| self.render_contact_meta(ct)),
            "channel": "Channel::Api",
            "hmac_verified": false,
        });
        if let Some(id) = c.assignee_id {
            meta["assignee"] = render_agent(id, self.account_id);
            meta["assignee_type"] = json!("User");
        }
        json!({
            "meta": meta, "id": c.id, "messages": last.into_iter().collect::<Vec<_>>(),
            "account_id": self.account_id, "uuid": c.uuid, "additional_attributes": c.additional_attributes,
            "agent_last_seen_at": 0, "assignee_last_seen_at": 0, "can_reply": true, "contact_last_seen_at": 0,
            "custom_attributes": c.custom_attributes, "inbox_id": c.inbox_id, "labels": c.labels, "muted": false,
            "snoozed_until": null, "status": c.status, "created_at": c.created_at, "updated_at": c.updated_at,
            "timestamp": c.last_activity_at, "first_reply_created_at": c.first_reply_created_at,
            "unread_count": self.unread_count(c.id),
            "last_non_activity_message": last_non_activity, "last_activity_at": c.last_activity_at,
            "priority": null, "waiting_since": c.waiting_since, "sla_policy_id": null,
        })
    }

    pub(super) fn render_messages_meta(&self, c: &ConversationRow) -> Value {
        let mut meta = json!({
            "labels": [],
            "additional_attributes": c.additional_attributes,
            "contact": self.render_sender(Sender::Contact(c.contact_id)),
            "agent_last_seen_at": null,
            "assignee_last_seen_at": null,
        });
        if let Some(id) = c.assignee_id {
            meta["assignee"] = render_user(id);
        }
        meta
    }

    /// `GET /api/v1/profile`: the token's user.
    pub(super) fn render_profile(&self) -> Value {
        let (name, email, role) = (
            user_name(API_USER_ID),
            user_email(API_USER_ID),
            &self.profile_role,
        );
        json!({
            "access_token": self.token, "account_id": self.account_id, "available_name": name, "avatar_url": "",
            "confirmed": true, "display_name": null, "message_signature": null, "email": email, "id": API_USER_ID,
            "inviter_id": null, "name": name, "provider": "email", "pubsub_token": "9QvKx2cDn7bWmL4sTzR8hJpe",
            "role": role, "ui_settings": {}, "uid": email, "type": null,
            "accounts": [{
                "id": self.account_id, "name": self.account_name, "status": "active",
                "active_at": iso(now_f64()), "role": role, "permissions": [role], "availability": "online",
                "availability_status": "online", "auto_offline": true,
            }],
        })
    }
}
