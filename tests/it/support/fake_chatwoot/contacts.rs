//! Contacts: search (Chatwoot's paging and matching), create (with validation), a contact's
//! conversations, and the state operations on contacts and contact_inboxes.

use super::*;

pub(super) async fn search_contacts(
    State(db): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Json<Value> {
    let db = db.lock().expect("fake Chatwoot state");
    let Some(q) = params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty()) else {
        return Json(
            json!({ "meta": { "count": null, "current_page": 1, "has_more": null }, "payload": [] }),
        );
    };
    let page = params
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let mut hits: Vec<&ContactRow> = db
        .contacts
        .values()
        .filter(|c| contact_matches(c, q))
        .skip((page - 1) * SEARCH_PER_PAGE)
        .take(SEARCH_PER_PAGE + 1)
        .collect();
    let has_more = hits.len() > SEARCH_PER_PAGE;
    hits.truncate(SEARCH_PER_PAGE);
    let current_page = params.get("page").map_or(json!(1), |p| json!(p));
    let payload: Vec<Value> = hits.iter().map(|c| db.render_contact(c)).collect();
    Json(json!({
        "meta": { "count": payload.len(), "current_page": current_page, "has_more": has_more },
        "payload": payload,
    }))
}

pub(super) async fn create_contact(State(db): State<Shared>, body: Bytes) -> Reply {
    let body = request_json(&body);
    let mut db = db.lock().expect("fake Chatwoot state");
    let inbox_id = u64_field(&body, "inbox_id");
    if inbox_id.is_some_and(|id| id != db.inbox_id) {
        return Err(Failure::not_found());
    }
    let phone = str_field(&body, "phone_number");
    let email = str_field(&body, "email");
    let identifier = str_field(&body, "identifier");
    db.validate_contact(phone.as_deref(), email.as_deref(), identifier.as_deref())?;
    let source_id = str_field(&body, "source_id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if inbox_id.is_some() && db.contact_inbox_owner(&source_id).is_some() {
        return Err(Failure::unprocessable(
            json!({ "error": "source_id should be unique" }),
        ));
    }
    let name = str_field(&body, "name").unwrap_or_default();
    let id = db.insert_contact(&name, phone, identifier, email);
    let contact = db.contacts.get_mut(&id).expect("just inserted");
    contact.custom_attributes = object_field(&body, "custom_attributes");
    contact.additional_attributes = object_field(&body, "additional_attributes");
    let contact_inbox = match inbox_id {
        Some(_) => {
            db.ensure_contact_inbox(id, &source_id)?;
            json!({ "inbox": db.render_inbox_full(), "source_id": source_id })
        }
        None => Value::Null,
    };
    let contact = db.render_contact(&db.contacts[&id]);
    Ok(Json(
        json!({ "payload": { "contact": contact, "contact_inbox": contact_inbox } }),
    ))
}

pub(super) async fn contact_conversations(
    State(db): State<Shared>,
    Path((_, id)): Path<(String, String)>,
) -> Reply {
    let db = db.lock().expect("fake Chatwoot state");
    let contact_id = parse_id(&id)
        .filter(|id| db.contacts.contains_key(id))
        .ok_or_else(Failure::not_found)?;
    let mut list: Vec<&ConversationRow> = db
        .conversations
        .values()
        .filter(|c| c.contact_id == contact_id)
        .collect();
    list.sort_by_key(|c| std::cmp::Reverse((c.last_activity_at, c.id)));
    let payload: Vec<Value> = list.iter().take(20).map(|c| db.render_conversation(c)).collect();
    Ok(Json(json!({ "payload": payload })))
}

impl Db {
    pub(super) fn contact_by_identifier(&self, identifier: &str) -> Option<u64> {
        self.contacts
            .values()
            .find(|c| c.identifier.as_deref() == Some(identifier))
            .map(|c| c.id)
    }

    pub(super) fn contact_inbox_owner(&self, source_id: &str) -> Option<u64> {
        self.contact_inboxes
            .iter()
            .find(|ci| ci.inbox_id == self.inbox_id && ci.source_id == source_id)
            .map(|ci| ci.contact_id)
    }

    /// Finds or creates the contact_inbox; a source_id already used by another contact is refused.
    pub(super) fn ensure_contact_inbox(&mut self, contact_id: u64, source_id: &str) -> Result<(), Failure> {
        match self.contact_inbox_owner(source_id) {
            Some(owner) if owner == contact_id => Ok(()),
            Some(_) => Err(Failure::unprocessable(
                json!({ "error": "source_id should be unique" }),
            )),
            None => {
                let (id, inbox_id) = (self.next_contact_inbox_id, self.inbox_id);
                self.next_contact_inbox_id += 1;
                let mut pubsub_token = uuid::Uuid::new_v4().simple().to_string();
                pubsub_token.truncate(24);
                self.contact_inboxes.push(ContactInboxRow {
                    id,
                    contact_id,
                    inbox_id,
                    source_id: source_id.to_owned(),
                    pubsub_token,
                    created_at: now_f64(),
                });
                Ok(())
            }
        }
    }

    /// Phone format, then uniqueness of phone, email and identifier, joined like Rails does.
    pub(super) fn validate_contact(
        &self,
        phone: Option<&str>,
        email: Option<&str>,
        identifier: Option<&str>,
    ) -> Result<(), Failure> {
        let mut problems: Vec<(&str, &str)> = Vec::new();
        if let Some(phone) = phone {
            if !is_e164(phone) {
                problems.push(("phone_number", "Phone number should be in e164 format"));
            } else if self
                .contacts
                .values()
                .any(|c| c.phone_number.as_deref() == Some(phone))
            {
                problems.push(("phone_number", "Phone number has already been taken"));
            }
        }
        let email_taken = |e: &str| {
            self.contacts
                .values()
                .any(|c| c.email.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e)))
        };
        if email.is_some_and(email_taken) {
            problems.push(("email", "Email has already been taken"));
        }
        if identifier.is_some_and(|i| self.contact_by_identifier(i).is_some()) {
            problems.push(("identifier", "Identifier has already been taken"));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let message: Vec<&str> = problems.iter().map(|(_, m)| *m).collect();
        let attributes: Vec<&str> = problems.iter().map(|(a, _)| *a).collect();
        Err(Failure::unprocessable(
            json!({ "message": message.join(", "), "attributes": attributes }),
        ))
    }

    pub(super) fn insert_contact(
        &mut self,
        name: &str,
        phone: Option<String>,
        identifier: Option<String>,
        email: Option<String>,
    ) -> u64 {
        let id = self.next_contact_id;
        self.next_contact_id += 1;
        let row = ContactRow {
            id,
            name: name.to_owned(),
            email,
            phone_number: phone,
            identifier,
            custom_attributes: json!({}),
            additional_attributes: json!({}),
            created_at: now(),
            last_activity_at: None,
        };
        self.contacts.insert(id, row);
        id
    }
}
