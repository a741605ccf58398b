//! `ChatwootClient` against the fake Chatwoot: contacts here; `conversations` (conversations, messages,
//! paging and errors) and `webhooks` (the profile, message status and the webhooks the fake posts).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::fake_chatwoot::{FakeChatwoot, SeedMessage};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
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

mod conversations;
mod webhooks;
