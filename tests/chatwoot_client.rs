//! `ChatwootClient` against the fake Chatwoot: contacts, conversations, messages, paging and errors.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use support::fake_chatwoot::{FakeChatwoot, SeedMessage};
use wa_agent::chatwoot::events::{ChatwootEvent, parse_webhook};
use wa_agent::chatwoot::{ChatwootClient, MessageType, NewMessage};
use wa_agent::config::ChatwootSettings;
use wa_agent::domain::ChatEvent;
use wa_agent::outbound::OutboundError;

const ACCOUNT: u64 = 3;
const INBOX: u64 = 7;
const TOKEN: &str = "test-token-cw";

async fn setup() -> (FakeChatwoot, ChatwootClient) {
    let fake = FakeChatwoot::start(ACCOUNT, INBOX, TOKEN).await;
    let client = client_for(&fake.url(), TOKEN);
    (fake, client)
}

fn client_for(url: &str, token: &str) -> ChatwootClient {
    let settings = ChatwootSettings {
        base_url: url.to_owned(),
        api_token: SecretString::from(token),
        account_id: ACCOUNT,
        inbox_id: INBOX,
    };
    ChatwootClient::new(&settings, Duration::from_secs(5))
}

/// A raw API call, for setting up what the client itself never creates.
async fn raw_post(fake: &FakeChatwoot, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/accounts/{ACCOUNT}/{path}", fake.url()))
        .header("api_access_token", TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn new_message(content: &str, message_type: MessageType, source_id: &str) -> NewMessage {
    NewMessage {
        content: content.into(),
        message_type,
        private: false,
        source_id: Some(source_id.into()),
    }
}

#[tokio::test]
async fn phone_chat_contact_is_found_or_created_once() {
    let (fake, client) = setup().await;
    let chat = "31641238876@c.us";
    assert_eq!(client.find_contact(chat).await.unwrap(), None);

    let created = client.create_contact(chat, Some("Sanne de Vries")).await.unwrap();
    assert_eq!(created.name.as_deref(), Some("Sanne de Vries"));
    assert_eq!(created.identifier.as_deref(), Some(chat));
    assert_eq!(created.phone_number.as_deref(), Some("+31641238876"));

    assert_eq!(client.find_contact(chat).await.unwrap(), Some(created.clone()));
    // A second create hits "already been taken" and falls back to the existing contact.
    assert_eq!(client.create_contact(chat, None).await.unwrap(), created);
    assert_eq!(fake.contacts().len(), 1);
    assert_eq!(fake.contacts()[0]["contact_inboxes"][0]["source_id"], chat);

    let searches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/contacts/search"))
        .collect();
    assert!(
        searches.iter().all(|r| r.query == "q=31641238876"),
        "{searches:?}"
    );
}

#[tokio::test]
async fn lid_chat_contact_has_no_phone_and_is_found_by_identifier() {
    let (fake, client) = setup().await;
    let chat = "183742059381207@lid";
    let created = client.create_contact(chat, None).await.unwrap();
    assert_eq!(created.name.as_deref(), Some(chat));
    assert_eq!(created.phone_number, None);
    assert_eq!(client.find_contact(chat).await.unwrap(), Some(created));

    let posted = fake.requests().into_iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(
        posted.body,
        json!({ "inbox_id": INBOX, "name": chat, "identifier": chat, "source_id": chat, "custom_attributes": {} })
    );
    let search = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/contacts/search"))
        .unwrap();
    assert_eq!(search.query, "q=183742059381207%40lid");
}

#[tokio::test]
async fn legacy_contact_is_found_by_phone() {
    let (fake, client) = setup().await;
    let legacy = json!({ "name": "Sanne", "identifier": "31641238876", "phone_number": "+31641238876" });
    let (status, body) = raw_post(&fake, "contacts", legacy).await;
    assert_eq!(status, 200);
    let found = client.find_contact("31641238876@c.us").await.unwrap().unwrap();
    assert_eq!(found.id, body["payload"]["contact"]["id"].as_u64().unwrap());
    // Creating instead would collide on the phone number; the client falls back to the same contact.
    assert_eq!(
        client.create_contact("31641238876@c.us", None).await.unwrap(),
        found
    );
}

#[tokio::test]
async fn search_pages_through_has_more() {
    let (fake, client) = setup().await;
    for i in 0..16 {
        let lead = json!({ "name": format!("Lead 31655500001 #{i}"), "identifier": format!("lead-{i}") });
        assert_eq!(raw_post(&fake, "contacts", lead).await.0, 200);
    }
    let created = client
        .create_contact("31655500001@c.us", Some("Piet"))
        .await
        .unwrap();
    assert_eq!(
        client.find_contact("31655500001@c.us").await.unwrap(),
        Some(created)
    );
    let queries: Vec<String> = fake.requests().into_iter().map(|r| r.query).collect();
    assert!(
        queries.contains(&"q=31655500001&page=2".to_owned()),
        "{queries:?}"
    );
}

#[tokio::test]
async fn fake_search_matches_like_chatwoot() {
    let (fake, client) = setup().await;
    let contact = client
        .create_contact("31641238876@lid", Some("Sanne de Vries"))
        .await
        .unwrap();
    let search = |q: String, token: Option<&'static str>| {
        let url = format!("{}/api/v1/accounts/{ACCOUNT}/contacts/search?q={q}", fake.url());
        async move {
            let mut request = reqwest::Client::new().get(url);
            if let Some(token) = token {
                request = request.header("api_access_token", token);
            }
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let hits = |body: &Value| body["payload"].as_array().map_or(0, Vec::len);
    assert_eq!(
        hits(&search("sanne".into(), Some(TOKEN)).await.1),
        1,
        "names match case-insensitively"
    );
    assert_eq!(hits(&search("41238876%40lid".into(), Some(TOKEN)).await.1), 1);
    assert_eq!(
        hits(&search("41238876%40LID".into(), Some(TOKEN)).await.1),
        0,
        "identifiers are case-sensitive"
    );
    assert_eq!(
        hits(&search(contact.id.to_string(), Some(TOKEN)).await.1),
        1,
        "all digits also match the id"
    );
    // A raw `+` decodes to a space.
    assert_eq!(hits(&search("Sanne+de".into(), Some(TOKEN)).await.1), 1);
    assert_eq!(hits(&search("Sanne%2Bde".into(), Some(TOKEN)).await.1), 0);
    let (status, empty) = search(String::new(), Some(TOKEN)).await;
    assert_eq!((status, &empty["meta"]["has_more"]), (200, &Value::Null));
    let (status, denied) = search("sanne".into(), None).await;
    assert_eq!(status, 401);
    assert_eq!(
        denied["errors"][0],
        "You need to sign in or sign up before continuing."
    );
}

#[tokio::test]
async fn open_conversation_is_reused_and_resolved_one_is_not() {
    let (fake, client) = setup().await;
    let chat = "31641238876@c.us";
    let contact = client.create_contact(chat, Some("Sanne")).await.unwrap();
    assert_eq!(client.find_conversation(contact.id).await.unwrap(), None);

    let first = client
        .create_conversation(contact.id, chat, "waha")
        .await
        .unwrap();
    assert_eq!(
        (first.inbox_id, first.status.as_str(), first.assignee_id),
        (INBOX, "pending", None)
    );
    assert_eq!(
        client.find_conversation(contact.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(client.get_conversation(first.id).await.unwrap(), first);
    assert_eq!(fake.conversation_for_chat(chat), Some(first.id));
    let stored = &fake.conversations()[0];
    assert_eq!(
        stored["custom_attributes"],
        json!({ "wa_gateway": "waha", "wa_chat_id": chat })
    );

    client.toggle_status(first.id, "resolved").await.unwrap();
    assert_eq!(
        client.get_conversation(first.id).await.unwrap().status,
        "resolved"
    );
    assert_eq!(client.find_conversation(contact.id).await.unwrap(), None);

    let second = client
        .create_conversation(contact.id, chat, "waha")
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(
        client.find_conversation(contact.id).await.unwrap().map(|c| c.id),
        Some(second.id)
    );
    assert_eq!(fake.conversation_for_chat(chat), Some(second.id));

    // A human hand-off in the dashboard: open and assigned.
    fake.set_status(second.id, "open");
    fake.set_assignee(second.id, Some(14));
    let handed_off = client.find_conversation(contact.id).await.unwrap().unwrap();
    assert_eq!(
        (handed_off.status.as_str(), handed_off.assignee_id),
        ("open", Some(14))
    );
}

#[tokio::test]
async fn messages_keep_their_direction_sender_and_source_id() {
    let (fake, client) = setup().await;
    let chat = "31641238876@c.us";
    let contact = client.create_contact(chat, Some("Sanne")).await.unwrap();
    let conversation = client
        .create_conversation(contact.id, chat, "waha")
        .await
        .unwrap();

    let incoming = new_message(
        "Is de BMW nog beschikbaar?",
        MessageType::Incoming,
        "wa-agent:in-1",
    );
    let customer = client.create_message(conversation.id, &incoming).await.unwrap();
    assert_eq!(
        (customer.message_type, customer.sender_type.as_deref()),
        (0, Some("contact"))
    );
    assert_eq!(customer.source_id.as_deref(), Some("wa-agent:in-1"));
    assert_eq!(customer.content.as_deref(), Some("Is de BMW nog beschikbaar?"));

    let outgoing = new_message("Ja, hij staat er nog.", MessageType::Outgoing, "wa-agent:out-1");
    let reply = client.create_message(conversation.id, &outgoing).await.unwrap();
    assert_eq!(
        (reply.message_type, reply.sender_type.as_deref()),
        (1, Some("user"))
    );
    assert!(reply.id > customer.id);

    let note = NewMessage {
        content: "LLM failed".into(),
        message_type: MessageType::Outgoing,
        private: true,
        source_id: None,
    };
    assert!(
        client
            .create_message(conversation.id, &note)
            .await
            .unwrap()
            .private
    );

    let listed = client.list_messages(conversation.id, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        fake.messages(conversation.id)
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(listed[..2], [customer, reply]);
    let posted = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/messages") && r.method == "POST")
        .unwrap();
    assert_eq!(posted.body["message_type"], "outgoing");
    assert_eq!(posted.body["content_type"], "text");
}

#[tokio::test]
async fn incoming_message_reopens_a_resolved_conversation() {
    let (fake, client) = setup().await;
    let id = fake.seed_conversation("31641238876@c.us", "Sanne", vec![SeedMessage::incoming("hoi")]);
    client.toggle_status(id, "resolved").await.unwrap();
    let again = new_message("nog een vraag", MessageType::Incoming, "wa-agent:in-2");
    client.create_message(id, &again).await.unwrap();
    assert_eq!(client.get_conversation(id).await.unwrap().status, "open");
    let activities = fake
        .messages(id)
        .into_iter()
        .filter(|m| m["message_type"] == 2)
        .count();
    assert_eq!(activities, 2, "one activity per status change");
}

#[tokio::test]
async fn list_pages_back_over_sixty_messages() {
    let (fake, client) = setup().await;
    let seeds: Vec<SeedMessage> = (0..60)
        .map(|i| match i % 2 {
            0 => SeedMessage::incoming(&format!("vraag {i}")).with_source_id(&format!("wa-agent:in-{i}")),
            _ => SeedMessage::outgoing(&format!("antwoord {i}")).with_source_id(&format!("wa-agent:out-{i}")),
        })
        .collect();
    let id = fake.seed_conversation("31641238876@c.us", "Sanne", seeds);

    let latest = client.list_messages(id, None).await.unwrap();
    assert_eq!(latest.len(), 20);
    assert_eq!(latest.last().unwrap().content.as_deref(), Some("antwoord 59"));

    let mut all = latest;
    loop {
        let before = all.first().unwrap().id;
        let page = client.list_messages(id, Some(before)).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 20 && page.last().unwrap().id < before);
        all.splice(0..0, page);
    }
    assert_eq!(all.len(), 60);
    assert!(
        all.windows(2)
            .all(|w| w[0].id < w[1].id && w[0].created_at <= w[1].created_at)
    );
    let texts: Vec<_> = all.iter().map(|m| m.content.clone().unwrap()).collect();
    assert_eq!(
        (texts[0].as_str(), texts[59].as_str()),
        ("vraag 0", "antwoord 59")
    );
    assert_eq!(all[1].sender_type.as_deref(), Some("user"));
}

#[tokio::test]
async fn a_lagging_list_hides_fresh_messages() {
    let (fake, client) = setup().await;
    let id = fake.seed_conversation(
        "183742059381207@lid",
        "Daan",
        vec![SeedMessage::incoming("hallo")],
    );
    fake.set_list_lag(Duration::from_secs(30));
    let fresh = new_message("net verstuurd", MessageType::Outgoing, "wa-agent:out-9");
    client.create_message(id, &fresh).await.unwrap();
    assert_eq!(client.list_messages(id, None).await.unwrap().len(), 1);
    assert_eq!(fake.messages(id).len(), 2);
}

#[tokio::test]
async fn a_bad_token_is_fatal_and_not_echoed() {
    let (fake, _) = setup().await;
    let client = client_for(&fake.url(), "wrong-token-xyz");
    let err = client.find_contact("31641238876@c.us").await.unwrap_err();
    assert!(
        matches!(
            err,
            OutboundError::Fatal {
                service: "chatwoot",
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.contains("Invalid Access Token") && !text.contains("wrong-token-xyz"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_conversation_is_fatal_404() {
    let (_fake, client) = setup().await;
    let err = client.get_conversation(999).await.unwrap_err();
    assert_eq!((err.status(), err.is_retryable()), (Some(404), false));
    assert!(err.to_string().contains("Resource could not be found"));
}

#[tokio::test]
async fn down_is_retryable_until_it_comes_back() {
    let (fake, client) = setup().await;
    let id = fake.seed_conversation("31641238876@c.us", "Sanne", vec![]);
    fake.set_down(true);
    let err = client.get_conversation(id).await.unwrap_err();
    assert!(
        matches!(
            err,
            OutboundError::Retryable {
                service: "chatwoot",
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    fake.set_down(false);
    assert_eq!(client.get_conversation(id).await.unwrap().status, "pending");
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client_for(&url, TOKEN).get_conversation(1).await.unwrap_err();
    assert!(
        matches!(err, OutboundError::Retryable { status: None, .. }),
        "{err:?}"
    );
}

// ---- profile, message status and webhooks ----

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
