//! Messages: list (paging and the list lag), create (JSON or multipart with attachments, the flood
//! limit), status updates and retries, and the state operations that write messages.

use super::*;

pub(super) async fn list_messages(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    let conversation = db.conversation(&id)?;
    let bound = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.parse::<u64>().unwrap_or(0))
    };
    let internal_hidden = params
        .get("filter_internal_messages")
        .is_some_and(|v| !v.is_empty());
    let visible: Vec<&MessageRow> = db
        .messages
        .iter()
        .filter(|m| m.conversation_id == conversation.id && db.is_listed(m))
        .filter(|m| !internal_hidden || (!m.private && m.message_type != 2))
        .collect();
    let page: Vec<&MessageRow> = match (bound("after"), bound("before")) {
        (Some(after), Some(before)) => visible
            .into_iter()
            .filter(|m| m.id >= after && m.id < before)
            .take(1000)
            .collect(),
        (None, Some(before)) => latest(visible.into_iter().filter(|m| m.id < before).collect()),
        (Some(after), None) => visible.into_iter().filter(|m| m.id > after).take(100).collect(),
        (None, None) => latest(visible),
    };
    let payload: Vec<Value> = page.iter().map(|m| db.render_message(m)).collect();
    Ok(Json(
        json!({ "meta": db.render_messages_meta(conversation), "payload": payload }),
    ))
}

/// A multipart body as a JSON object of its text fields, plus its `attachments[]` files.
pub(super) async fn read_multipart(headers: &axum::http::HeaderMap, body: Bytes) -> (Value, Vec<PostedFile>) {
    use axum::extract::FromRequest;
    let mut request = Request::new(Body::from(body));
    if let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE) {
        request
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, ct.clone());
    }
    let (mut fields, mut files) = (Map::new(), Vec::new());
    let Ok(mut form) = axum::extract::Multipart::from_request(request, &()).await else {
        return (Value::Object(fields), files);
    };
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.unwrap_or_default();
        if name == "attachments[]" {
            files.push(PostedFile { content_type, data });
        } else {
            let text = String::from_utf8_lossy(&data).into_owned();
            let value = match text.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(text),
            };
            fields.insert(name, value);
        }
    }
    (Value::Object(fields), files)
}

pub(super) async fn create_message(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
    bot: Option<axum::Extension<BotCaller>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Reply {
    let multipart = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (body, files) = if multipart {
        read_multipart(&headers, body).await
    } else {
        (request_json(&body), Vec::new())
    };
    let mut db = db.lock().expect("fake Chatwoot state");
    let conversation_id = db.conversation(&id)?.id;
    let kind = str_field(&body, "message_type").unwrap_or_else(|| "outgoing".to_owned());
    let Some(message_type) = MESSAGE_TYPES.iter().position(|k| *k == kind) else {
        return Err(Failure::unprocessable(
            json!({ "error": format!("'{kind}' is not a valid message_type") }),
        ));
    };
    if db.written_last_minute(conversation_id) >= FLOOD_LIMIT {
        return Err(Failure::fixture("message_flood_limit"));
    }
    let sender = match message_type {
        0 => Sender::Contact(db.conversations[&conversation_id].contact_id),
        2 => Sender::Nobody,
        _ if bot.is_some() => Sender::AgentBot(AGENT_BOT_ID),
        _ => Sender::User(API_USER_ID),
    };
    let draft = Draft {
        content: str_field(&body, "content"),
        message_type: message_type as i64,
        private: bool_field(&body, "private"),
        source_id: str_field(&body, "source_id"),
        sender,
        content_attributes: object_field(&body, "content_attributes"),
    };
    let id = db.write_message(conversation_id, draft);
    if !files.is_empty() {
        db.files.insert(id, files);
    }
    Ok(Json(db.render_message(db.message(id))))
}

pub(super) async fn update_message(
    State(db): State<Shared>,
    Path((_, id, message_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let conversation_id = db.conversation(&id)?.id;
    let message_id = parse_id(&message_id)
        .filter(|m| {
            db.messages
                .iter()
                .any(|row| row.id == *m && row.conversation_id == conversation_id)
        })
        .ok_or_else(Failure::not_found)?;
    let status = str_field(&body, "status").unwrap_or_default();
    db.update_message_status(message_id, &status, str_field(&body, "external_error"));
    Ok(Json(db.render_message(db.message(message_id))))
}

impl Db {
    pub(super) fn message(&self, id: u64) -> &MessageRow {
        self.messages
            .iter()
            .rev()
            .find(|m| m.id == id)
            .expect("known message")
    }

    pub(super) fn message_mut(&mut self, id: u64) -> &mut MessageRow {
        self.messages
            .iter_mut()
            .rev()
            .find(|m| m.id == id)
            .expect("known message")
    }

    /// Global ids that increase with gaps (1, 2 or 3 apart), as ids shared by all accounts do.
    pub(super) fn next_message_id(&mut self) -> u64 {
        let id = self.next_message_id;
        self.next_message_id += 1 + id % 3;
        id
    }

    /// Stores a message with the next id.
    pub(super) fn push_message(
        &mut self,
        conversation_id: u64,
        d: Draft,
        created_at: i64,
        written: Option<Instant>,
    ) -> u64 {
        let id = self.next_message_id();
        let exact = if written.is_some() {
            now_f64()
        } else {
            created_at as f64
        };
        self.messages.push(MessageRow {
            id,
            conversation_id,
            content: d.content,
            message_type: d.message_type,
            private: d.private,
            source_id: d.source_id,
            sender: d.sender,
            status: "sent".to_owned(),
            content_attributes: d.content_attributes,
            created_at,
            created_exact: exact,
            updated_at: exact,
            written,
        });
        id
    }

    /// Writes a live message now, applies its side effects on the conversation and contact, and fires
    /// its webhooks in Chatwoot's order: a reopening's status events, `message_created`, then the
    /// `conversation_updated` of its `waiting_since`/`first_reply_created_at` changes.
    pub(super) fn write_message(&mut self, conversation_id: u64, draft: Draft) -> u64 {
        let (message_type, private, sender) = (draft.message_type, draft.private, draft.sender);
        let at = now();
        let id = self.push_message(conversation_id, draft, at, Some(Instant::now()));
        let status = &self.conversations[&conversation_id].status;
        if message_type == 0 && matches!(status.as_str(), "resolved" | "snoozed") {
            self.change_status(conversation_id, "open", "a new incoming message");
        }
        let before = self.announced(conversation_id);
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .expect("known conversation");
        conversation.last_activity_at = at;
        conversation.updated_at = later(conversation.updated_at);
        let reply = message_type == 1 && !private;
        if reply && matches!(sender, Sender::User(_)) && conversation.first_reply_created_at == 0 {
            conversation.first_reply_created_at = at;
        }
        if reply && matches!(sender, Sender::User(_) | Sender::AgentBot(_)) {
            conversation.waiting_since = 0;
        }
        if message_type == 0 && conversation.waiting_since == 0 {
            conversation.waiting_since = at;
        }
        if let Sender::Contact(contact_id) = sender
            && let Some(contact) = self.contacts.get_mut(&contact_id)
        {
            contact.last_activity_at = Some(at);
        }
        let changes = self.save_conversation(conversation_id, before);
        self.emit_message(id, "message_created");
        self.announce_conversation(conversation_id, changes);
        id
    }

    /// A status PATCH, like `Messages::StatusUpdateService`: unknown statuses and `read` → `delivered`
    /// change nothing; `external_error` is kept only with `failed` (a stale one is nulled). A change fires
    /// `message_updated`.
    pub(super) fn update_message_status(
        &mut self,
        message_id: u64,
        status: &str,
        external_error: Option<String>,
    ) {
        if !MESSAGE_STATUSES.contains(&status) {
            return;
        }
        let message = self.message_mut(message_id);
        if message.status == "read" && status == "delivered" {
            return;
        }
        let before = (message.status.clone(), message.content_attributes.clone());
        message.status = status.to_owned();
        let error = external_error.filter(|_| status == "failed");
        let stored = &message.content_attributes["external_error"];
        if error.is_some() || !stored.is_null() {
            message.content_attributes["external_error"] = json!(error);
        }
        if (&message.status, &message.content_attributes) == (&before.0, &before.1) {
            return;
        }
        message.updated_at = later(message.updated_at);
        self.emit_message(message_id, "message_updated");
    }

    /// Retry: a failed message goes back to `sent` without its `external_error`; fires `message_updated`.
    pub(super) fn retry_message(&mut self, message_id: u64) {
        let message = self.message_mut(message_id);
        if message.status == "failed" {
            message.status = "sent".to_owned();
            if let Some(attributes) = message.content_attributes.as_object_mut() {
                attributes.remove("external_error");
            }
            message.updated_at = later(message.updated_at);
        }
        self.emit_message(message_id, "message_updated");
    }

    /// A seeded message's draft, with the usual sender for its type unless the seed names one.
    pub(super) fn draft(&self, conversation_id: u64, seed: SeedMessage) -> Draft {
        let contact_id = self
            .conversations
            .get(&conversation_id)
            .expect("known conversation")
            .contact_id;
        let ours = seed
            .source_id
            .as_deref()
            .is_some_and(|s| s.starts_with("wa-agent:"));
        let user = Sender::User(if ours { API_USER_ID } else { HUMAN_USER_ID });
        let sender = match (seed.sender_type.as_deref(), seed.message_type) {
            (Some("contact"), _) | (None, 0) => Sender::Contact(contact_id),
            (Some("user"), _) | (None, 1 | 3) => user,
            (Some("agent_bot"), _) => Sender::AgentBot(AGENT_BOT_ID),
            _ => Sender::Nobody,
        };
        Draft {
            content: Some(seed.content),
            message_type: seed.message_type,
            private: seed.private,
            source_id: seed.source_id,
            sender,
            content_attributes: json!({}),
        }
    }

    pub(super) fn written_last_minute(&self, conversation_id: u64) -> usize {
        let minute = Duration::from_secs(60);
        self.messages
            .iter()
            .filter(|m| {
                m.conversation_id == conversation_id && m.written.is_some_and(|w| w.elapsed() < minute)
            })
            .count()
    }

    pub(super) fn is_listed(&self, message: &MessageRow) -> bool {
        message.written.is_none_or(|w| w.elapsed() >= self.list_lag)
    }
}
