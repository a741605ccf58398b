//! The WhatsApp Cloud API over HTTP: the verification handshake, signed notifications (text, batched,
//! image, status-only, and the shared signature vectors), and a Cloud API chat answered through a fake
//! Graph API. Redis is a real `redis-server`; the LLM and the Graph API are fakes.

use crate::support;

use std::time::Duration;

use crate::support::app::{TestApp, error_of, spawn_app};
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_meta::FakeMeta;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::fixture;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The key of the Meta vectors in `signatures.json`, so they can be posted as they are.
const APP_SECRET: &str = "meta-test-secret";
const VERIFY_TOKEN: &str = "verify-me-7c1f";
const ACCESS_TOKEN: &str = "EAAG-test-access-token";
const PHONE_NUMBER_ID: &str = "618273645019283";
const CUSTOMER: &str = "31628471930";

struct World {
    _redis: RedisServer,
    llm: FakeLlm,
    graph: FakeMeta,
    app: TestApp,
}

async fn world(extra: &[(&str, &str)]) -> World {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let graph = FakeMeta::start(ACCESS_TOKEN).await;
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("REDIS_KEY_PREFIX", "meta-test:".into()),
        ("LLM_BASE_URL", llm.url()),
        ("META_GRAPH_BASE_URL", graph.url()),
        ("META_ACCESS_TOKEN", ACCESS_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", PHONE_NUMBER_ID.into()),
        ("META_APP_SECRET", APP_SECRET.into()),
        ("META_VERIFY_TOKEN", VERIFY_TOKEN.into()),
        ("DEBOUNCE_MS", "100".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v.to_string()));
    }
    vars.retain(|(_, v)| !v.is_empty());
    let app = spawn_app(&vars).await;
    World {
        _redis: redis,
        llm,
        graph,
        app,
    }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_signed(app: &TestApp, body: &[u8]) -> (u16, Value) {
    let sig = sign(body);
    let resp = app
        .post("/webhooks/meta", body.to_vec(), &[("X-Hub-Signature-256", &sig)])
        .await;
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON answer"))
}

/// `(status, code, message)` of a JSON error answer.
fn handshake(token: &str, mode: &str) -> String {
    format!("/webhooks/meta?hub.mode={mode}&hub.challenge=1158201444&hub.verify_token={token}")
}

fn mentions(request: &Value, text: &str) -> bool {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .any(|m| m["content"].as_str().unwrap_or_default().contains(text))
}

#[tokio::test]
async fn the_handshake_answers_the_challenge_only_for_the_verify_token() {
    let w = world(&[]).await;
    let resp = w.app.get(&handshake(VERIFY_TOKEN, "subscribe")).await;
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(resp.text().await.unwrap(), "1158201444");

    for path in [
        handshake("wrong-token", "subscribe"),
        handshake("verify-me-7c1", "subscribe"),
        handshake(VERIFY_TOKEN, "unsubscribe"),
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me-7c1f".into(),
        "/webhooks/meta".into(),
        "/webhooks/meta?hub.mode=subscribe&hub.verify_token=%zz&hub.challenge=1".into(),
    ] {
        let (status, code, _) = error_of(w.app.get(&path).await).await;
        assert_eq!((status, code.as_str()), (403, "forbidden"), "{path}");
    }
    w.app.stop().await;

    // Without META_VERIFY_TOKEN the handshake is never answered.
    let app = spawn_app(&[]).await;
    let (status, code, message) = error_of(app.get(&handshake(VERIFY_TOKEN, "subscribe")).await).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    assert!(message.contains("META_VERIFY_TOKEN"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn a_signed_text_message_is_answered_through_the_graph_api() {
    let w = world(&[]).await;
    let body = fixture("meta/webhook_text_message.json");
    let (status, ack) = post_signed(&w.app, &body).await;
    assert_eq!(status, 200);
    assert_eq!(ack, json!({"status": "accepted", "accepted": 1, "duplicates": 0}));

    assert!(
        w.graph.wait_for_sent(1, Duration::from_secs(10)).await,
        "the reply went out"
    );
    let sent = w.graph.sent();
    assert_eq!(sent[0].phone_number_id, PHONE_NUMBER_ID);
    assert_eq!(sent[0].authorization, format!("Bearer {ACCESS_TOKEN}"));
    let reply = sent[0].body["text"]["body"].as_str().unwrap().to_owned();
    assert!(reply.contains("BMW X5 xDrive50e"), "{reply}");
    let mut expected: Value = serde_json::from_slice(&fixture("meta/send_text_request.json")).unwrap();
    expected["text"]["body"] = json!(reply);
    assert_eq!(sent[0].body, expected, "the body of send_text_request.json");

    let requests = w.llm.requests();
    assert_eq!(requests.len(), 1);
    assert!(mentions(&requests[0], "geïnteresseerd in de BMW X5"));

    // Meta delivers again: dedupe on the wamid, no second turn.
    let (status, ack) = post_signed(&w.app, &body).await;
    assert_eq!(status, 200);
    assert_eq!(ack, json!({"status": "accepted", "accepted": 0, "duplicates": 1}));
    w.app.run_until_idle().await;
    assert_eq!(w.graph.sent_to(CUSTOMER).len(), 1, "answered once");
    assert_eq!(w.llm.requests().len(), 1);
    w.app.stop().await;
}

#[tokio::test]
async fn both_messages_of_a_batched_notification_are_answered() {
    let w = world(&[]).await;
    let (status, ack) = post_signed(&w.app, &fixture("meta/webhook_batched_two_messages.json")).await;
    assert_eq!(status, 200);
    assert_eq!(ack, json!({"status": "accepted", "accepted": 2, "duplicates": 0}));
    assert!(w.graph.wait_for_sent(1, Duration::from_secs(10)).await);
    let requests = w.llm.requests();
    assert!(mentions(&requests[0], "Nog een vraag:"), "{requests:?}");
    assert!(
        requests
            .iter()
            .any(|r| mentions(r, "afneembare trekhaak (3.500 kg)?")),
        "{requests:?}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn an_image_reaches_the_agent_as_a_placeholder_with_its_caption() {
    let w = world(&[]).await;
    let (status, ack) = post_signed(&w.app, &fixture("meta/webhook_image_message.json")).await;
    assert_eq!((status, ack["accepted"].as_u64()), (200, Some(1)));
    assert!(w.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    assert!(mentions(
        &w.llm.requests()[0],
        "[image] Mijn huidige Tesla Model 3 (2021) voor de inruil"
    ));
    assert!(w.graph.wait_for_sent(1, Duration::from_secs(10)).await);
    w.app.stop().await;
}

#[tokio::test]
async fn a_status_only_notification_is_counted_not_answered() {
    let w = world(&[]).await;
    let (status, ack) = post_signed(&w.app, &fixture("meta/webhook_status_delivered.json")).await;
    assert_eq!(status, 200);
    assert_eq!(ack, json!({"status": "ignored", "reason": "status updates only"}));
    let metrics = w.app.get("/metrics").await.text().await.unwrap();
    for needle in [
        r#"wa_agent_gateway_statuses_total{gateway="meta",status="delivered"}"#,
        r#"wa_agent_webhooks_total{route="meta",outcome="ignored"}"#,
    ] {
        assert!(metrics.contains(needle), "metrics lack {needle}:\n{metrics}");
    }
    w.app.run_until_idle().await;
    assert!(w.llm.requests().is_empty() && w.graph.sent().is_empty());
    w.app.stop().await;
}

#[tokio::test]
async fn the_shared_meta_signature_vectors_are_checked_over_http() {
    let w = world(&[]).await;
    let raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/signatures.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    let mut checked = 0;
    for vector in v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["sender"].as_str().unwrap().starts_with("Meta"))
    {
        assert_eq!(vector["key"], APP_SECRET);
        let body = vector["body"].as_str().unwrap().as_bytes().to_vec();
        let sig = vector["headers"]["X-Hub-Signature-256"].as_str().unwrap();
        let resp = w
            .app
            .post("/webhooks/meta", body, &[("X-Hub-Signature-256", sig)])
            .await;
        let expected = if vector["valid"] == true { 200 } else { 401 };
        assert_eq!(resp.status(), expected, "vector {}", vector["name"]);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} Meta vectors");
    w.app.stop().await;
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_refused_and_nothing_is_queued() {
    let w = world(&[]).await;
    let body = fixture("meta/webhook_text_message.json");
    let (status, code, message) = error_of(w.app.post("/webhooks/meta", body.clone(), &[]).await).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"));
    assert!(message.contains("X-Hub-Signature-256"), "{message}");

    let wrong = sign(b"another body");
    for sig in [wrong.as_str(), "sha256=zz", "sha1=00", ""] {
        let resp = w
            .app
            .post("/webhooks/meta", body.clone(), &[("X-Hub-Signature-256", sig)])
            .await;
        let (status, code, _) = error_of(resp).await;
        assert_eq!((status, code.as_str()), (401, "invalid_signature"), "{sig:?}");
    }
    w.app.run_until_idle().await;
    assert!(w.llm.requests().is_empty(), "nothing was queued");
    w.app.stop().await;
}

#[tokio::test]
async fn messages_for_another_phone_number_are_ignored() {
    let w = world(&[]).await;
    let mut v: Value = serde_json::from_slice(&fixture("meta/webhook_text_message.json")).unwrap();
    v["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999");
    let (status, ack) = post_signed(&w.app, &serde_json::to_vec(&v).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        ack,
        json!({"status": "ignored", "reason": "message for another phone number"})
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_a_business_account_notification_gets_a_clear_400() {
    let w = world(&[("META_APP_SECRET", "")]).await;
    let resp = w
        .app
        .post("/webhooks/meta", br#"{"object":"page","entry":[]}"#.to_vec(), &[])
        .await;
    let (status, code, message) = error_of(resp).await;
    assert_eq!((status, code.as_str()), (400, "invalid_payload"));
    assert!(message.starts_with("object:"), "{message}");
    let (status, code, _) = error_of(w.app.post("/webhooks/meta", b"{".to_vec(), &[]).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));
    // Without META_APP_SECRET an unsigned notification is taken.
    let resp = w
        .app
        .post("/webhooks/meta", fixture("meta/webhook_text_message.json"), &[])
        .await;
    assert_eq!(resp.status(), 200);
    w.app.stop().await;
}

#[tokio::test]
async fn a_cloud_api_chat_gets_read_marks_typing_and_its_human_replies_through_the_graph_api() {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let graph = FakeMeta::start(ACCESS_TOKEN).await;
    let cw = support::fake_chatwoot::FakeChatwoot::start(3, 7, "cw-token").await;
    let waha = support::fake_waha::FakeWaha::start("k").await;
    let vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("LLM_BASE_URL", llm.url()),
        ("META_GRAPH_BASE_URL", graph.url()),
        ("META_ACCESS_TOKEN", ACCESS_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", PHONE_NUMBER_ID.into()),
        ("META_APP_SECRET", APP_SECRET.into()),
        ("WAHA_BASE_URL", waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("CHATWOOT_BASE_URL", cw.url()),
        ("CHATWOOT_API_TOKEN", "cw-token".into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("DEBOUNCE_MS", "100".into()),
    ];
    let app = spawn_app(&vars).await;
    cw.set_webhook(&format!("{}/webhooks/chatwoot", app.url), None);
    llm.set_delay(Duration::from_millis(300));

    let (status, _) = post_signed(&app, &fixture("meta/webhook_text_message.json")).await;
    assert_eq!(status, 200);
    assert!(
        graph.wait_for_sent(1, Duration::from_secs(10)).await,
        "the agent's reply went out through Graph"
    );
    let presence = graph.presence();
    assert!(
        presence.iter().any(|r| r.body["status"] == "read"),
        "read mark: {presence:?}"
    );
    assert!(
        presence.iter().any(|r| r.body.get("typing_indicator").is_some()),
        "typing: {presence:?}"
    );

    let conv = support::app::eventually(Duration::from_secs(10), || {
        cw.conversation_for_chat(CUSTOMER).is_some()
    })
    .await;
    assert!(conv, "the Cloud API chat is mirrored");
    let conv = cw.conversation_for_chat(CUSTOMER).unwrap();
    assert_eq!(cw.conversations()[0]["custom_attributes"]["wa_gateway"], "meta");
    cw.human_reply(conv, "Hallo, Mark hier. Ik bel u morgen.");
    assert!(
        graph.wait_for_sent(2, Duration::from_secs(10)).await,
        "the human reply went out through Graph"
    );
    assert_eq!(graph.sent_to(CUSTOMER)[1], "Hallo, Mark hier. Ik bel u morgen.");
    assert!(waha.sent().is_empty(), "nothing went through WAHA");
    app.stop().await;
}
