//! The test's handle on the fake: start (the router), the knobs, seeding, the human in the dashboard
//! and what was recorded (requests, messages, webhook deliveries).

use super::*;

impl FakeChatwoot {
    /// Starts the fake on `127.0.0.1:0` for `account_id`, with one API inbox, accepting `token`.
    pub async fn start(account_id: u64, inbox_id: u64, token: &str) -> FakeChatwoot {
        let names: Value = serde_json::from_str(WEBHOOK_INCOMING).expect("webhook fixture");
        let (outbox, queue) = mpsc::unbounded_channel();
        let db = Arc::new(Mutex::new(Db {
            account_id,
            account_name: names["account"]["name"]
                .as_str()
                .expect("account name")
                .to_owned(),
            inbox_id,
            inbox_name: names["inbox"]["name"].as_str().expect("inbox name").to_owned(),
            token: token.to_owned(),
            bot_token: None,
            profile_role: "administrator".to_owned(),
            down: false,
            list_lag: Duration::ZERO,
            next_contact_id: 301,
            next_contact_inbox_id: 451,
            next_conversation_id: 81,
            next_message_id: 48_201,
            contacts: BTreeMap::new(),
            contact_inboxes: Vec::new(),
            conversations: BTreeMap::new(),
            messages: Vec::new(),
            requests: Vec::new(),
            webhook: None,
            status_in_message_webhooks: false,
            outbox,
            deliveries: Vec::new(),
            queued: Default::default(),
            inbox: {
                let mut inbox: Value = serde_json::from_str(INBOX).expect("inbox fixture");
                inbox["id"] = json!(inbox_id);
                inbox["working_hours_enabled"] = json!(false);
                inbox["out_of_office_message"] = Value::Null;
                inbox
            },
            files: HashMap::new(),
        }));
        let base = "/api/v1/accounts/{account_id}";
        let app = Router::new()
            .route("/api/v1/profile", get(profile))
            .route(&format!("{base}/contacts/search"), get(search_contacts))
            .route(&format!("{base}/contacts"), post(create_contact))
            .route(&format!("{base}/contacts/{{id}}"), put(profile::update_contact))
            .route(
                &format!("{base}/conversations/{{id}}/labels"),
                get(profile::list_labels).post(profile::replace_labels),
            )
            .route(
                &format!("{base}/contacts/{{id}}/conversations"),
                get(contact_conversations),
            )
            .route(&format!("{base}/conversations"), post(create_conversation))
            .route(&format!("{base}/conversations/{{id}}"), get(show_conversation))
            .route(
                &format!("{base}/conversations/{{id}}/messages"),
                get(list_messages).post(create_message),
            )
            .route(
                &format!("{base}/conversations/{{id}}/messages/{{message_id}}"),
                patch(update_message),
            )
            .route(
                &format!("{base}/conversations/{{id}}/toggle_status"),
                post(toggle_status),
            )
            .route(
                &format!("{base}/conversations/{{id}}/toggle_typing_status"),
                post(toggle_typing_status),
            )
            .route(
                &format!("{base}/conversations/{{id}}/custom_attributes"),
                post(set_custom_attributes),
            )
            .route(&format!("{base}/inboxes/{{id}}"), get(show_inbox))
            .layer(middleware::from_fn_with_state(db.clone(), gatekeeper))
            .with_state(db.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Chatwoot");
        let addr = listener.local_addr().expect("fake Chatwoot address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Chatwoot server");
        });
        let deliverer = tokio::spawn(deliver(db.clone(), queue));
        FakeChatwoot {
            addr,
            db,
            task,
            deliverer,
        }
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Listing messages only shows messages written more than `lag` ago (seeded ones always show).
    pub fn set_list_lag(&self, lag: Duration) {
        self.db().list_lag = lag;
    }

    /// Also accept `token` as an Agent Bot's access token (bot endpoints only).
    pub fn set_agent_bot_token(&self, token: &str) {
        self.db.lock().expect("fake Chatwoot state").bot_token = Some(token.to_owned());
    }

    /// Changes the inbox's fields (`working_hours_enabled`, `working_hours`, `timezone`,
    /// `out_of_office_message`, …): each key of `fields` replaces the inbox's.
    pub fn set_inbox(&self, fields: Value) {
        let mut db = self.db();
        for (k, v) in fields.as_object().expect("inbox fields are an object") {
            db.inbox[k] = v.clone();
        }
    }

    /// A conversation's `custom_attributes`.
    pub fn conversation_attributes(&self, id: u64) -> Value {
        self.db().conversations[&id].custom_attributes.clone()
    }

    /// While down, every request answers 503.
    pub fn set_down(&self, down: bool) {
        self.db().down = down;
    }

    /// The token user's role in the account, `administrator` (the default) or `agent`. With `agent`,
    /// `toggle_status` to `open` also assigns the conversation to that user, as Chatwoot does.
    pub fn set_profile_role(&self, role: &str) {
        assert!(
            matches!(role, "administrator" | "agent"),
            "Chatwoot roles are administrator and agent, not {role}"
        );
        self.db().profile_role = role.to_owned();
    }

    /// Configures the account webhook: from now on every event is POSTed to `url`, signed when a
    /// `secret` is given.
    pub fn set_webhook(&self, url: &str, secret: Option<&str>) {
        self.db().webhook = Some(Webhook {
            url: url.to_owned(),
            secret: secret.map(str::to_owned),
        });
    }

    /// Adds a top-level `status` to `message_created`/`message_updated`, as Chatwoot would with the
    /// unmerged chatwoot/chatwoot#15908. Off by default: v4.15.1 sends no message status in webhooks.
    pub fn set_message_status_in_webhooks(&self, on: bool) {
        self.db().status_in_message_webhooks = on;
    }

    /// Every finished webhook delivery in order: the event and the HTTP status (0 when no answer came).
    pub fn deliveries(&self) -> Vec<(String, u16)> {
        self.db().deliveries.clone()
    }

    /// Waits until at least `n` webhook deliveries have finished; false on timeout.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.db().deliveries.len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.db().deliveries.len() >= n
    }

    /// Whether a queued webhook has not finished its delivery yet.
    pub fn webhooks_in_flight(&self) -> bool {
        let db = self.db();
        db.deliveries.len() < db.queued.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until every webhook queued so far has been delivered; false on timeout.
    pub async fn wait_for_webhooks(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.webhooks_in_flight() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// A contact (identifier and contact_inbox source_id = `chat_id`, phone for phone chats), a pending
    /// conversation in the inbox and its messages, oldest first. Returns the conversation's display id.
    pub fn seed_conversation(&self, chat_id: &str, name: &str, messages: Vec<SeedMessage>) -> u64 {
        let mut db = self.db();
        let contact_id = match db.contact_by_identifier(chat_id) {
            Some(id) => id,
            None => db.insert_contact(name, phone_of(chat_id), Some(chat_id.to_owned()), None),
        };
        let inbox_id = db.inbox_id;
        db.ensure_contact_inbox(contact_id, chat_id)
            .expect("seeded source_id belongs to another contact");
        let gateway = if chat_id.contains('@') { "waha" } else { "meta" };
        let attributes = json!({ "wa_gateway": gateway, "wa_chat_id": chat_id });
        let conversation_id = db.insert_conversation(contact_id, inbox_id, chat_id, "pending", attributes);
        let count = messages.len() as i64;
        for (i, seed) in messages.into_iter().enumerate() {
            let draft = db.draft(conversation_id, seed);
            db.push_message(conversation_id, draft, now() - count + i as i64, None);
        }
        conversation_id
    }

    /// A human agent (user 14, "Mark Jansen") replies in the dashboard: an outgoing, non-private message
    /// without `source_id`. Returns its id.
    pub fn human_reply(&self, conversation_id: u64, text: &str) -> u64 {
        let draft = Draft::typed_by(HUMAN_USER_ID, text, false);
        self.db().write_message(conversation_id, draft)
    }

    /// A human agent (user 14) writes a private note. Returns its id.
    pub fn private_note(&self, conversation_id: u64, text: &str) -> u64 {
        let draft = Draft::typed_by(HUMAN_USER_ID, text, true);
        self.db().write_message(conversation_id, draft)
    }

    /// A human agent presses Retry on a message: a failed one goes back to `sent` without its
    /// `external_error`, and `message_updated` fires (Chatwoot only offers Retry on failed messages; the
    /// helper fires for any message, so a test can replay a lost delivery).
    pub fn retry_message(&self, message_id: u64) {
        self.db().retry_message(message_id);
    }

    /// The files posted with message `id` (multipart `attachments[]`), in order.
    pub fn attachments(&self, id: u64) -> Vec<PostedFile> {
        self.db().files.get(&id).cloned().unwrap_or_default()
    }

    /// One stored message in the REST shape, wherever it is.
    pub fn message(&self, id: u64) -> Option<Value> {
        let db = self.db();
        db.messages
            .iter()
            .find(|m| m.id == id)
            .map(|m| db.render_message(m))
    }

    /// Every stored message of the conversation, ascending, in the REST shape (ignores the list lag).
    pub fn messages(&self, conversation_id: u64) -> Vec<Value> {
        let db = self.db();
        db.messages
            .iter()
            .filter(|m| m.conversation_id == conversation_id)
            .map(|m| db.render_message(m))
            .collect()
    }

    /// Every conversation, by display id, in the REST shape.
    pub fn conversations(&self) -> Vec<Value> {
        let db = self.db();
        db.conversations
            .values()
            .map(|c| db.render_conversation(c))
            .collect()
    }

    /// Every contact, by id, in the search shape.
    pub fn contacts(&self) -> Vec<Value> {
        let db = self.db();
        db.contacts.values().map(|c| db.render_contact(c)).collect()
    }

    /// The newest conversation whose contact_inbox source_id or `wa_chat_id` is `chat_id`.
    pub fn conversation_for_chat(&self, chat_id: &str) -> Option<u64> {
        let db = self.db();
        db.conversations
            .values()
            .rev()
            .find(|c| c.source_id == chat_id || c.custom_attributes["wa_chat_id"] == chat_id)
            .map(|c| c.id)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.db().requests.clone()
    }

    /// Sets a conversation's status as a human (user 14) in the dashboard would, with its activity
    /// message and webhooks; setting the current status changes nothing.
    pub fn set_status(&self, conversation_id: u64, status: &str) {
        let mut db = self.db();
        db.change_status(conversation_id, status, &user_name(HUMAN_USER_ID));
    }

    /// Assigns the conversation to a user (or unassigns it) as a human (user 14) in the dashboard would,
    /// with its activity message and webhook; the current assignee changes nothing.
    pub fn set_assignee(&self, conversation_id: u64, assignee_id: Option<u64>) {
        let mut db = self.db();
        db.change_assignee(conversation_id, assignee_id, HUMAN_USER_ID);
    }

    /// Waits until the conversation holds at least `n` messages; false on timeout.
    pub async fn wait_for_messages(&self, conversation_id: u64, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.messages(conversation_id).len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.messages(conversation_id).len() >= n
    }

    pub(super) fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().expect("fake Chatwoot state")
    }
}
