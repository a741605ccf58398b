//! Reach over HTTP with real Redis: Evolution API chats (here), Chatwoot Agent Bot chats (any inbox,
//! the conversation is the channel; `agent_bot`), both beside WAHA mirror chats in one process, and
//! chats accepted before the channel layer.

use std::time::Duration;

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_chatwoot::{FakeChatwoot, SeedMessage};
use crate::support::fake_evolution::FakeEvolution;
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::{fixture_json as fixture, message};
use serde_json::{Value, json};

const TOKEN: &str = "cw-user-token";
const BOT_TOKEN: &str = "cw-bot-token";
const EVO_KEY: &str = "B6D7F1E2A3C44E5F9A0B1C2D3E4F5A6B";
const INSTANCE: &str = "vandermeer-verkoop";
const BMW: &str = "Ik ben geïnteresseerd in een BMW X5. Wat heeft jullie op voorraad?";
const WHICH: &str = "Weet je nog welke auto ik net vroeg?";

struct World {
    redis: RedisServer,
    llm: FakeLlm,
    waha: FakeWaha,
    evo: FakeEvolution,
    cw: FakeChatwoot,
    app: TestApp,
}

async fn world() -> World {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let waha = FakeWaha::start("waha-key").await;
    let evo = FakeEvolution::start(EVO_KEY, INSTANCE).await;
    let cw = FakeChatwoot::start(3, 7, TOKEN).await;
    cw.set_agent_bot_token(BOT_TOKEN);
    let vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("REDIS_KEY_PREFIX", "test:".into()),
        ("WAHA_BASE_URL", waha.url()),
        ("WAHA_API_KEY", "waha-key".into()),
        ("EVOLUTION_BASE_URL", evo.url()),
        ("EVOLUTION_API_KEY", EVO_KEY.into()),
        ("EVOLUTION_INSTANCE", INSTANCE.into()),
        ("LLM_BASE_URL", llm.url()),
        ("CHATWOOT_BASE_URL", cw.url()),
        ("CHATWOOT_API_TOKEN", TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("CHATWOOT_AGENT_BOT_TOKEN", BOT_TOKEN.into()),
        ("DEBOUNCE_MS", "100".into()),
    ];
    let app = spawn_app(&vars).await;
    World {
        redis,
        llm,
        waha,
        evo,
        cw,
        app,
    }
}

async fn post(app: &TestApp, route: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let resp = app.post(route, serde_json::to_vec(body).unwrap(), headers).await;
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

// ---- Evolution ----

#[tokio::test]
async fn evolution_answers_once_ignores_echoes_and_groups_and_mirrors() {
    let w = world().await;
    let key = [("apikey", EVO_KEY)];
    let first = fixture("evolution/webhook_messages_upsert.json");
    let (status, body) = post(&w.app, "/webhooks/evolution", &first, &key).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("accepted")));
    // The same message again, and its phone-JID twin: one turn.
    post(&w.app, "/webhooks/evolution", &first, &key).await;
    let (_, twin) = post(
        &w.app,
        "/webhooks/evolution",
        &fixture("evolution/webhook_messages_upsert_pn_twin.json"),
        &key,
    )
    .await;
    assert_eq!(twin["duplicate"], true, "{twin}");
    for (name, reason) in [
        ("from_me", "sent by us"),
        ("group", "group chat"),
        ("status", "status update"),
    ] {
        let (status, body) = post(
            &w.app,
            "/webhooks/evolution",
            &fixture(&format!("evolution/webhook_messages_upsert_{name}.json")),
            &key,
        )
        .await;
        assert_eq!(
            (status, body["status"].as_str(), body["reason"].as_str()),
            (200, Some("ignored"), Some(reason))
        );
    }
    assert!(
        w.evo.wait_for_sent(1, Duration::from_secs(10)).await,
        "reply sent"
    );
    w.app.run_until_quiet(&w.cw).await;
    let sent = w.evo.sent();
    assert_eq!(sent.len(), 1, "exactly one sendText: {sent:?}");
    assert_eq!(sent[0]["number"], "31611987345");
    assert!(w.waha.sent().is_empty(), "nothing went through WAHA");
    let chat = "31611987345@s.whatsapp.net";
    assert!(
        eventually(Duration::from_secs(10), || w
            .cw
            .conversation_for_chat(chat)
            .is_some_and(|c| w
                .cw
                .messages(c)
                .iter()
                .filter(|m| m["message_type"] != 2)
                .count()
                >= 2))
        .await,
        "customer message and reply mirrored"
    );
    let conv = w.cw.conversation_for_chat(chat).unwrap();
    let texts: Vec<String> =
        w.cw.messages(conv)
            .iter()
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
    assert!(
        texts.iter().any(|t| t.contains("BMW X5 met trekhaak")),
        "{texts:?}"
    );
    assert!(w.llm.requests().len() == 1, "one LLM request");
    w.app.stop().await;
}

#[tokio::test]
async fn evolution_webhooks_need_the_api_key_and_a_readable_body() {
    let w = world().await;
    let body = fixture("evolution/webhook_messages_upsert.json");
    let mut no_key = body.clone();
    no_key.as_object_mut().unwrap().remove("apikey");
    let (status, e) = post(&w.app, "/webhooks/evolution", &no_key, &[]).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (401, Some("invalid_signature"))
    );
    let (status, _) = post(&w.app, "/webhooks/evolution", &body, &[("apikey", "wrong")]).await;
    assert_eq!(status, 401);
    // Evolution's own body field carries the key when no header is configured.
    let (status, _) = post(&w.app, "/webhooks/evolution", &body, &[]).await;
    assert_eq!(status, 200);
    let (status, e) = post(
        &w.app,
        "/webhooks/evolution",
        &json!({"event": "messages.upsert", "apikey": EVO_KEY}),
        &[],
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("invalid_payload"))
    );
    let (status, e) = post(
        &w.app,
        "/webhooks/evolution",
        &json!({"event": "connection.update", "apikey": EVO_KEY}),
        &[],
    )
    .await;
    assert_eq!((status, e["status"].as_str()), (200, Some("ignored")));
    w.app.stop().await;
}

// ---- Upgrade ----

#[tokio::test]
async fn chats_accepted_before_the_channel_layer_still_answer() {
    let w = world().await;
    // A chat state as the service wrote it before the channel layer (`gateway`, not `channel`).
    let chat = "31641238876@c.us";
    let conv =
        w.cw.seed_conversation(chat, "Sanne de Vries", vec![SeedMessage::incoming("Hallo")]);
    let old =
        json!({"gateway": "waha", "name": "Sanne de Vries", "conversation_id": conv, "status": "pending"});
    w.redis
        .command(&["SET", &format!("test:chat:{chat}"), &old.to_string()])
        .unwrap();
    // A human's Chatwoot reply goes out through the chat's recorded gateway.
    let mut reply = fixture("chatwoot/webhook_message_created_outgoing_human.json");
    reply["conversation"]["id"] = json!(conv);
    let (_, body) = post(&w.app, "/webhooks/chatwoot", &reply, &[]).await;
    assert_eq!(body["status"], "accepted", "{body}");
    assert!(
        w.waha.wait_for_sent(1, Duration::from_secs(10)).await,
        "reply reached WAHA"
    );
    // The customer writes again: the turn answers through WAHA as before.
    w.app
        .post("/webhooks/waha", message(chat, "UPGR0001", "Dank je!"), &[])
        .await;
    assert!(
        w.waha.wait_for_sent(2, Duration::from_secs(10)).await,
        "the agent answers"
    );
    let state = w.redis.command(&["GET", &format!("test:chat:{chat}")]).unwrap();
    assert!(
        state.contains(r#""gateway":"waha""#),
        "stored shape kept: {state}"
    );
    // A state that recorded no channel at all (written before even `gateway` existed) still answers
    // through its legacy channel.
    let bare = "31655500011@c.us";
    w.redis
        .command(&["SET", &format!("test:chat:{bare}"), r#"{"name":"Piet"}"#])
        .unwrap();
    w.app
        .post("/webhooks/waha", message(bare, "UPGR0002", "Hallo?"), &[])
        .await;
    assert!(
        w.waha.wait_for_sent(3, Duration::from_secs(10)).await,
        "the legacy chat answers"
    );
    assert_eq!(w.waha.sent_to(bare).len(), 1);
    w.app.stop().await;
}

mod agent_bot;
