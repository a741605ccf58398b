//! The profile, message status updates, and the webhooks the fake posts for what the client and a
//! human in the dashboard do.

use super::*;

const CHAT: &str = "31641238876@c.us";
const SECRET: &str = "chatwoot-test-secret";
const WAIT: Duration = Duration::from_secs(5);

/// A raw API call with any method and a path from the host.
async fn raw_call(
    fake: &FakeChatwoot,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.url()))
        .header("api_access_token", TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver that answers 200 and keeps every request's headers and raw body.
async fn webhook_receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route(
            "/hooks/chatwoot",
            axum::routing::post(
                |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    r.lock().unwrap().push((headers, body));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/chatwoot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// The parsed bodies received so far, after checking each one's signature over the raw bytes.
fn signed_bodies(received: &Received) -> Vec<Value> {
    let received = received.lock().unwrap();
    received
        .iter()
        .map(|(headers, body)| {
            let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
            assert_eq!(header("content-type"), "application/json");
            let timestamp = header("x-chatwoot-timestamp");
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(format!("{timestamp}.").as_bytes());
            mac.update(body);
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(header("x-chatwoot-signature"), expected);
            serde_json::from_slice(body).unwrap()
        })
        .collect()
}

fn events(bodies: &[Value]) -> Vec<&str> {
    bodies.iter().map(|b| b["event"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn profile_is_the_token_user() {
    let (fake, client) = setup().await;
    assert_eq!(client.profile_id().await.unwrap(), 21);
    let (status, profile) = raw_call(&fake, reqwest::Method::GET, "/api/v1/profile", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&profile["name"], &profile["role"], &profile["account_id"]),
        (
            &json!("wa-agent (AI-assistent)"),
            &json!("administrator"),
            &json!(ACCOUNT)
        )
    );
    assert_eq!(profile["available_name"], profile["name"]);
    assert!(profile["email"].as_str().unwrap().contains('@'));

    fake.set_profile_role("agent");
    let (_, profile) = raw_call(&fake, reqwest::Method::GET, "/api/v1/profile", None).await;
    assert_eq!(
        (&profile["role"], &profile["accounts"][0]["role"]),
        (&json!("agent"), &json!("agent"))
    );

    let err = client_for(&fake.url(), "wrong-token")
        .profile_id()
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.is_retryable()), (Some(401), false));
}

#[tokio::test]
async fn a_status_patch_updates_the_stored_message() {
    let (fake, client) = setup().await;
    let id = fake.seed_conversation(CHAT, "Sanne", vec![SeedMessage::incoming("hoi")]);
    let reply = fake.human_reply(id, "Hoi Sanne, Mark hier.");
    assert_eq!(fake.message(reply).unwrap()["status"], "sent");

    client
        .update_message_status(id, reply, "failed", Some("WAHA: session not ready"))
        .await
        .unwrap();
    let stored = fake.message(reply).unwrap();
    assert_eq!(
        (&stored["status"], &stored["content_attributes"]["external_error"]),
        (&json!("failed"), &json!("WAHA: session not ready"))
    );

    // The answer is the REST message; the error only sticks to `failed`.
    let path = format!("/api/v1/accounts/{ACCOUNT}/conversations/{id}/messages/{reply}");
    let body = json!({ "status": "read", "external_error": "ignored" });
    let (status, answer) = raw_call(&fake, reqwest::Method::PATCH, &path, Some(body)).await;
    assert_eq!(
        (status, &answer["id"], &answer["status"]),
        (200, &json!(reply), &json!("read"))
    );
    assert_eq!(answer["message_type"], 1);
    assert_eq!(answer["content_attributes"]["external_error"], Value::Null);
    // read → delivered and unknown statuses are ignored, as Chatwoot does.
    client
        .update_message_status(id, reply, "delivered", None)
        .await
        .unwrap();
    client
        .update_message_status(id, reply, "lost", None)
        .await
        .unwrap();
    assert_eq!(fake.message(reply).unwrap()["status"], "read");

    let err = client
        .update_message_status(id, 999_999, "failed", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(fake.message(999_999).is_none());
}

#[tokio::test]
async fn webhooks_echo_api_messages_and_announce_a_handoff_in_order() {
    let (fake, client) = setup().await;
    let (url, received) = webhook_receiver().await;
    let id = fake.seed_conversation(
        CHAT,
        "Sanne de Vries",
        vec![SeedMessage::incoming("Is de X5 er nog?")],
    );
    fake.set_webhook(&url, Some(SECRET));

    let text = "Ja, de X5 & de XC60 <zijn> er nog.";
    let reply = client
        .create_message(id, &new_message(text, MessageType::Outgoing, "wa-agent:out-7"))
        .await
        .unwrap();
    client.toggle_status(id, "open").await.unwrap();

    assert!(fake.wait_for_deliveries(4, WAIT).await, "{:?}", fake.deliveries());
    let bodies = signed_bodies(&received);
    assert_eq!(
        events(&bodies),
        [
            "message_created",
            "conversation_updated",
            "conversation_status_changed",
            "conversation_updated"
        ]
    );
    assert!(fake.deliveries().iter().all(|(_, status)| *status == 200));

    // The bridge's own reply comes back, compact, escaped like Rails, with its source_id.
    let raw = received.lock().unwrap()[0].1.clone();
    let raw = std::str::from_utf8(&raw).unwrap();
    assert!(!raw.contains('\n') && raw.contains(r"\u0026") && raw.contains(r"\u003czijn\u003e"));
    let echo = &bodies[0];
    assert_eq!((&echo["id"], &echo["content"]), (&json!(reply.id), &json!(text)));
    assert_eq!(
        (&echo["message_type"], &echo["source_id"], &echo["private"]),
        (&json!("outgoing"), &json!("wa-agent:out-7"), &json!(false))
    );
    assert_eq!(
        (&echo["sender"]["type"], &echo["sender"]["id"]),
        (&json!("user"), &json!(21))
    );
    assert_eq!(
        (&echo["inbox"]["id"], &echo["account"]["id"]),
        (&json!(INBOX), &json!(ACCOUNT))
    );
    let conversation = &echo["conversation"];
    assert_eq!(
        (&conversation["id"], &conversation["inbox_id"]),
        (&json!(id), &json!(INBOX))
    );
    assert_eq!(conversation["contact_inbox"]["source_id"], CHAT);
    assert_eq!(conversation["custom_attributes"]["wa_chat_id"], CHAT);
    assert_eq!(
        (&conversation["status"], &conversation["meta"]["assignee"]),
        (&json!("pending"), &Value::Null)
    );
    assert_eq!(conversation["messages"][0]["id"], json!(reply.id));
    assert!(echo["created_at"].as_str().unwrap().ends_with('Z'));
    let parsed = parse_webhook(raw.as_bytes(), ACCOUNT, INBOX).unwrap();
    assert!(matches!(parsed, ChatwootEvent::Ignored(_)), "{parsed:?}");

    // The first reply sets first_reply_created_at and clears waiting_since.
    let first_reply = &bodies[1]["changed_attributes"];
    assert_eq!(
        first_reply[0]["first_reply_created_at"]["previous_value"],
        Value::Null
    );
    assert_eq!(first_reply[1]["waiting_since"]["current_value"], Value::Null);

    // The hand-off: status_changed (changed_attributes null), then updated with the change.
    let changed = &bodies[2];
    assert_eq!(
        (&changed["status"], &changed["changed_attributes"]),
        (&json!("open"), &Value::Null)
    );
    assert_eq!(changed["id"], json!(id));
    let updated = &bodies[3];
    assert_eq!(
        updated["changed_attributes"][0]["status"],
        json!({ "previous_value": "pending", "current_value": "open" })
    );
    assert!(updated["changed_attributes"][1]["updated_at"].is_object());
    assert_eq!(updated["status"], "open");
    assert_eq!(
        updated["updated_at"], changed["updated_at"],
        "one save, two events"
    );
}

#[tokio::test]
async fn dashboard_helpers_fire_the_webhooks_a_human_causes() {
    let (fake, client) = setup().await;
    let (url, received) = webhook_receiver().await;
    let id = fake.seed_conversation(CHAT, "Sanne de Vries", vec![SeedMessage::incoming("hoi")]);
    fake.set_webhook(&url, Some(SECRET));
    fake.set_profile_role("agent");

    client.toggle_status(id, "open").await.unwrap(); // status_changed, updated, updated (self-assigned)
    let reply = fake.human_reply(id, "Hoi Sanne, Mark hier."); // created, updated (first reply)
    let note = fake.private_note(id, "Inruil eerst taxeren."); // created
    client
        .update_message_status(id, reply, "failed", Some("WAHA down"))
        .await
        .unwrap(); // message_updated
    fake.retry_message(reply); // message_updated
    fake.set_assignee(id, Some(14)); // updated
    fake.set_status(id, "resolved"); // status_changed, updated
    assert!(
        fake.wait_for_deliveries(11, WAIT).await,
        "{:?}",
        fake.deliveries()
    );
    let bodies = signed_bodies(&received);
    assert_eq!(
        events(&bodies),
        [
            "conversation_status_changed",
            "conversation_updated",
            "conversation_updated",
            "message_created",
            "conversation_updated",
            "message_created",
            "message_updated",
            "message_updated",
            "conversation_updated",
            "conversation_status_changed",
            "conversation_updated",
        ],
        "activity messages send nothing"
    );

    // An agent-role token that opens also takes the conversation.
    assert_eq!(
        bodies[2]["changed_attributes"][0]["assignee_id"]["current_value"],
        21
    );
    assert_eq!(bodies[2]["meta"]["assignee"]["id"], 21);

    // The human reply is what the service must forward to WhatsApp.
    let human = &bodies[3];
    assert_eq!((&human["id"], &human["source_id"]), (&json!(reply), &Value::Null));
    assert_eq!(
        (&human["sender"]["id"], &human["sender"]["type"]),
        (&json!(14), &json!("user"))
    );
    let raw = received.lock().unwrap()[3].1.clone();
    match parse_webhook(&raw, ACCOUNT, INBOX).unwrap() {
        ChatwootEvent::Queue {
            event: ChatEvent::HumanReply(r),
            ..
        } => assert_eq!(
            (r.chat_id.as_str(), r.conversation_id, r.message_id),
            (CHAT, id, reply)
        ),
        other => panic!("{other:?}"),
    }

    // The note is private and outgoing; the conversation's messages[0] stays the last public one.
    let private = &bodies[5];
    assert_eq!(
        (&private["id"], &private["private"]),
        (&json!(note), &json!(true))
    );
    assert_eq!(private["message_type"], "outgoing");
    assert_eq!(private["conversation"]["messages"][0]["id"], json!(reply));

    // The failure report and the Retry: no top-level status (v4.15.1); the error shows on the first.
    let (failed, retried) = (&bodies[6], &bodies[7]);
    assert_eq!((&failed["id"], &retried["id"]), (&json!(reply), &json!(reply)));
    assert!(failed.get("status").is_none() && retried.get("status").is_none());
    assert_eq!(failed["content_attributes"]["external_error"], "WAHA down");
    assert!(retried["content_attributes"].get("external_error").is_none());
    assert_eq!(fake.message(reply).unwrap()["status"], "sent");

    // A human takes over, then resolves.
    assert_eq!(
        bodies[8]["changed_attributes"][0]["assignee_id"]["previous_value"],
        21
    );
    assert_eq!(bodies[8]["meta"]["assignee"]["name"], "Mark Jansen");
    assert_eq!(
        bodies[10]["changed_attributes"][0]["status"]["current_value"],
        "resolved"
    );
}

#[tokio::test]
async fn webhooks_cover_new_conversations_reopening_and_failed_deliveries() {
    let (fake, client) = setup().await;
    let (url, received) = webhook_receiver().await;
    fake.set_webhook(&url, Some(SECRET));
    fake.set_message_status_in_webhooks(true);

    let contact = client.create_contact(CHAT, Some("Sanne de Vries")).await.unwrap();
    let conversation = client
        .create_conversation(contact.id, CHAT, "waha")
        .await
        .unwrap();
    client.toggle_status(conversation.id, "resolved").await.unwrap();
    let incoming = new_message("Nog een vraag", MessageType::Incoming, "wa-agent:in-9");
    client.create_message(conversation.id, &incoming).await.unwrap();
    assert!(fake.wait_for_deliveries(6, WAIT).await, "{:?}", fake.deliveries());
    let bodies = signed_bodies(&received);
    assert_eq!(
        events(&bodies),
        [
            "conversation_created",
            "conversation_status_changed",
            "conversation_updated",
            "conversation_status_changed",
            "conversation_updated",
            "message_created",
        ],
        "the reopening comes before the message"
    );
    assert_eq!(
        (&bodies[0]["status"], &bodies[0]["messages"]),
        (&json!("pending"), &json!([]))
    );
    assert!(bodies[0].get("changed_attributes").is_none());
    assert_eq!(
        bodies[4]["changed_attributes"][0]["status"]["current_value"],
        "open"
    );
    let customer = &bodies[5];
    assert_eq!(
        (
            &customer["message_type"],
            &customer["status"],
            &customer["sender"]["name"]
        ),
        (&json!("incoming"), &json!("sent"), &json!("Sanne de Vries"))
    );
    assert!(customer["sender"].get("type").is_none());

    // An unreachable receiver is tried once and recorded as 0; no secret means no signature.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hooks", dead.local_addr().unwrap());
    drop(dead);
    fake.set_webhook(&dead_url, None);
    fake.private_note(conversation.id, "niet bereikbaar");
    assert!(fake.wait_for_deliveries(7, WAIT).await);
    assert_eq!(fake.deliveries()[6], ("message_created".to_owned(), 0));
}
