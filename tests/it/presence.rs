//! Read marks, typing and Cloud API sending against the fake gateways: the request bodies each gateway
//! documents, and failures classified so the queue knows what to retry.

use crate::support;

use std::time::Duration;

use crate::support::fake_meta::FakeMeta;
use crate::support::fake_waha::FakeWaha;
use secrecy::SecretString;
use serde_json::json;
use wa_agent::channel::meta::MetaClient;
use wa_agent::channel::waha::WahaClient;
use wa_agent::channel::{Channel, LogOnlyChannel};
use wa_agent::config::{MetaSettings, WahaSettings};
use wa_agent::domain::ChannelKind;
use wa_agent::outbound::OutboundError;

const TOKEN: &str = "EAAG-presence-token";
const PHONE_NUMBER_ID: &str = "618273645019283";
const CUSTOMER: &str = "31628471930";
const WAMID_1: &str = "wamid.HBgLMzE2Mjg0NzE5MzAVAgASGBQzQTlFMEI1MUQ3QzI0Rjg2QTNCMgA=";
const WAMID_2: &str = "wamid.HBgLMzE2Mjg0NzE5MzAVAgASGBQzQTBENkMyRTg0QjE5RjU3RTBBNgA=";

fn meta(fake: &FakeMeta, token: &str) -> MetaClient {
    let settings = MetaSettings {
        graph_base_url: fake.url(),
        access_token: Some(SecretString::from(token)),
        phone_number_id: Some(PHONE_NUMBER_ID.into()),
        app_secret: None,
        verify_token: None,
    };
    MetaClient::new(&settings, Duration::from_secs(2)).expect("configured")
}

fn waha(fake: &FakeWaha) -> WahaClient {
    let settings = WahaSettings {
        base_url: fake.url(),
        api_key: Some(SecretString::from("k")),
        session: "shop".into(),
    };
    WahaClient::new(&settings, Duration::from_secs(2))
}

#[tokio::test]
async fn waha_marks_read_and_types_with_the_documented_bodies() {
    let fake = FakeWaha::start("k").await;
    let client = waha(&fake);
    let chat = "31641238876@c.us";
    let ids = vec!["A5C1E0F7".to_owned(), "false_31641238876@c.us_B6D2".to_owned()];
    client.mark_read(chat, &ids).await.unwrap();
    client.mark_read(chat, &[]).await.unwrap();
    client.set_typing(chat, true).await.unwrap();
    client.set_typing(chat, false).await.unwrap();
    let calls = fake.presence();
    let actions: Vec<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["sendSeen", "sendSeen", "startTyping", "stopTyping"]);
    assert_eq!(
        calls[0].1,
        json!({"session": "shop", "chatId": chat,
               "messageIds": ["false_31641238876@c.us_A5C1E0F7", "false_31641238876@c.us_B6D2"]})
    );
    assert_eq!(calls[1].1, json!({"session": "shop", "chatId": chat}));
    assert_eq!(calls[2].1, json!({"session": "shop", "chatId": chat}));
    assert!(fake.sent().is_empty(), "presence is not a send");
}

#[tokio::test]
async fn waha_presence_failures_are_classified() {
    let fake = FakeWaha::start("other-key").await;
    let err = waha(&fake).set_typing("1@c.us", true).await.unwrap_err();
    assert!(!err.is_retryable(), "a wrong API key is fatal: {err}");
    assert!(err.to_string().contains("startTyping answered 401"), "{err}");
    assert!(!err.to_string().contains("other-key"));
    drop(fake);
    let settings = WahaSettings {
        base_url: "http://127.0.0.1:9".into(),
        api_key: None,
        session: "default".into(),
    };
    let err = WahaClient::new(&settings, Duration::from_secs(2))
        .mark_read("1@c.us", &["X".into()])
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "a connection error is retryable: {err}");
}

#[tokio::test]
async fn meta_sends_text_with_the_bearer_token_and_reads_the_wamid() {
    let fake = FakeMeta::start(TOKEN).await;
    let client = meta(&fake, TOKEN);
    assert_eq!(client.kind(), ChannelKind::Meta);
    let sent = client.send_text(CUSTOMER, "Zaterdag 11:00 kan!").await.unwrap();
    assert!(
        sent.id.as_deref().is_some_and(|id| id.starts_with("wamid.")),
        "{sent:?}"
    );
    let requests = fake.sent();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(requests[0].phone_number_id, PHONE_NUMBER_ID);
    assert_eq!(
        requests[0].body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
               "type": "text", "text": {"preview_url": false, "body": "Zaterdag 11:00 kan!"}})
    );
}

#[tokio::test]
async fn meta_marks_the_newest_message_read_and_types_on_it() {
    let fake = FakeMeta::start(TOKEN).await;
    let client = meta(&fake, TOKEN);
    // Typing before any message is known has nothing to attach to: a no-op.
    client.set_typing(CUSTOMER, true).await.unwrap();
    client.mark_read(CUSTOMER, &[]).await.unwrap();
    assert!(fake.presence().is_empty());

    client
        .mark_read(CUSTOMER, &[WAMID_1.to_owned(), WAMID_2.to_owned()])
        .await
        .unwrap();
    client.set_typing(CUSTOMER, true).await.unwrap();
    client.set_typing(CUSTOMER, false).await.unwrap();
    client.set_typing("31600000000", true).await.unwrap();
    let calls: Vec<_> = fake.presence().into_iter().map(|r| r.body).collect();
    assert_eq!(
        calls,
        vec![
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": WAMID_2}),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": WAMID_2,
                   "typing_indicator": {"type": "text"}}),
        ],
        "read mark, then typing on the newest message; stop and unknown chats are no-ops"
    );
    let fixture: serde_json::Value =
        serde_json::from_slice(&support::waha_hooks::fixture("meta/mark_read_request.json")).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&calls[1]),
        keys(&fixture),
        "the shape of mark_read_request.json"
    );
}

#[tokio::test]
async fn meta_failures_are_classified_and_never_show_the_token() {
    let fake = FakeMeta::start(TOKEN).await;
    let client = meta(&fake, TOKEN);
    for (status, retryable) in [(429, true), (500, true), (503, true), (400, false), (403, false)] {
        fake.set_fail(Some(status));
        let err = client.send_text(CUSTOMER, "x").await.unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{status}: {err}");
        assert!(err.to_string().contains(&format!("answered {status}")), "{err}");
    }
    fake.set_fail(Some(400));
    let err = client.send_text(CUSTOMER, "x").await.unwrap_err();
    assert!(
        err.to_string().contains("131030"),
        "the Graph code is named: {err}"
    );
    fake.set_fail(None);

    let wrong = meta(&fake, "EAAG-wrong-token");
    let err = wrong.send_text(CUSTOMER, "x").await.unwrap_err();
    assert!(
        matches!(err, OutboundError::Fatal { service: "meta", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("code 190"), "{err}");
    assert!(!err.to_string().contains("EAAG"), "{err}");
    assert!(!format!("{wrong:?}").contains("EAAG"));
    drop(fake);

    let settings = MetaSettings {
        graph_base_url: "http://127.0.0.1:9/v25.0".into(),
        access_token: Some(SecretString::from(TOKEN)),
        phone_number_id: Some(PHONE_NUMBER_ID.into()),
        app_secret: None,
        verify_token: None,
    };
    let err = MetaClient::new(&settings, Duration::from_secs(2))
        .unwrap()
        .send_text(CUSTOMER, "x")
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "a connection error is retryable: {err}");
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn the_log_only_stand_in_ignores_presence() {
    let gateway = LogOnlyChannel::new(ChannelKind::Waha);
    gateway.mark_read("1@c.us", &["X".into()]).await.unwrap();
    gateway.set_typing("1@c.us", true).await.unwrap();
}
