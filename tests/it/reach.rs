//! Reach over HTTP with real Redis: Evolution API chats, Chatwoot Agent Bot chats (any inbox, the
//! conversation is the channel), both beside WAHA mirror chats in one process, and chats accepted
//! before the channel layer.

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

// ---- Agent Bot ----

/// An Agent Bot `message_created` of the website-widget conversation `conv`.
fn bot_message(conv: u64, id: u64, text: &str, created_at: &str) -> Value {
    let mut v = fixture("chatwoot/agent_bot_message_created_web_widget.json");
    v["id"] = json!(id);
    v["content"] = json!(text);
    v["created_at"] = json!(created_at);
    v["conversation"]["id"] = json!(conv);
    v
}

fn history(w: &World, chat: &str) -> String {
    w.redis
        .command(&["LRANGE", &format!("test:history:{chat}"), "0", "-1"])
        .unwrap_or_default()
}

fn bot_replies(cw: &FakeChatwoot, conv: u64) -> Vec<String> {
    cw.messages(conv)
        .iter()
        .filter(|m| m["sender"]["type"] == "agent_bot" && m["private"] == false)
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn seed_scenario_through_a_website_widget_inbox_as_agent_bot() {
    let w = world().await;
    // The widget conversation exists in Chatwoot (the fake's ids); nothing of it is mirrored.
    let conv = w.cw.seed_conversation("widget-visitor", "Jeroen Bakker", vec![]);
    let chat = format!("cw:3:{conv}");
    let conversations_before = w.cw.conversations().len();

    let (status, ack) = post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48390, BMW, "2026-07-14T09:12:40.512Z"),
        &[],
    )
    .await;
    assert_eq!((status, ack["status"].as_str()), (200, Some("accepted")), "{ack}");
    assert!(
        eventually(Duration::from_secs(10), || bot_replies(&w.cw, conv).len() == 1).await,
        "first bot reply"
    );
    w.app.run_until_quiet(&w.cw).await;
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48397, WHICH, "2026-07-14T09:12:48.512Z"),
        &[],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || bot_replies(&w.cw, conv).len() == 2).await,
        "second bot reply"
    );
    let replies = bot_replies(&w.cw, conv);
    assert!(replies[1].contains("BMW X5"), "the bot remembers: {replies:?}");

    // Created with the bot token (so they show as the bot), through bot endpoints only; typing with
    // the user token; nothing to any gateway, nothing mirrored, no conversation created.
    let bot_posts: Vec<_> =
        w.cw.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/conversations/{conv}/messages")))
            .collect();
    assert_eq!(bot_posts.len(), 2, "{bot_posts:?}");
    assert!(
        w.cw.requests()
            .iter()
            .any(|r| r.path.ends_with("/toggle_typing_status"))
    );
    assert!(
        w.waha.sent().is_empty() && w.evo.sent().is_empty(),
        "nothing sent to a gateway"
    );
    assert_eq!(
        w.cw.conversations().len(),
        conversations_before,
        "no mirror conversation"
    );
    assert_eq!(
        w.cw.messages(conv)
            .iter()
            .filter(|m| m["message_type"] == 0)
            .count(),
        0,
        "customer messages not mirrored"
    );

    // The bot's own reply coming back is not answered.
    let mut echo = bot_message(conv, 48398, &replies[1], "2026-07-14T09:12:50.000Z");
    echo["message_type"] = json!("outgoing");
    echo["sender"] = json!({"id": 5, "name": "wa-agent bot", "type": "agent_bot"});
    let (_, body) = post(&w.app, "/webhooks/chatwoot", &echo, &[]).await;
    assert_eq!(body["status"], "ignored");

    // A human opens the conversation: silence, but the customer's message is remembered.
    let mut opened = fixture("chatwoot/webhook_conversation_status_changed_open.json");
    opened["event"] = json!("conversation_opened");
    opened["id"] = json!(conv);
    opened["inbox_id"] = json!(12);
    opened["updated_at"] = json!(4_102_444_800.0);
    let (_, body) = post(&w.app, "/webhooks/chatwoot", &opened, &[]).await;
    assert_eq!(body["status"], "accepted", "{body}");
    let mut human = bot_message(
        conv,
        48400,
        "Hoi Jeroen, Mark hier. Ik help je verder.",
        "2026-07-14T09:13:00.000Z",
    );
    human["message_type"] = json!("outgoing");
    human["sender"] = json!({"id": 9, "name": "Mark", "type": "user"});
    post(&w.app, "/webhooks/chatwoot", &human, &[]).await;
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(
            conv,
            48402,
            "Zaterdag om tien uur dan?",
            "2026-07-14T09:13:10.000Z",
        ),
        &[],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || history(&w, &chat)
            .contains("Zaterdag om tien uur"))
        .await,
        "remembered"
    );
    assert!(
        history(&w, &chat).contains("Mark hier"),
        "the human's reply is in the history"
    );
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(bot_replies(&w.cw, conv).len(), 2, "silent while a human owns it");
    assert_eq!(w.llm.requests().len(), 2);
    assert_eq!(
        w.cw.messages(conv)
            .iter()
            .filter(|m| m["sender"]["type"] == "user")
            .count(),
        0,
        "the human reply is not re-sent"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_handoff_opens_the_conversation_with_the_bot_token() {
    let w = world().await;
    let conv =
        w.cw.seed_conversation("widget-visitor-2", "Jeroen Bakker", vec![]);
    w.llm.handoff_next("customer asks for a test drive");
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48500, "Ik wil een proefrit", "2026-07-14T09:12:40.512Z"),
        &[],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || w
            .cw
            .conversations()
            .iter()
            .any(|c| c["id"] == conv && c["status"] == "open"))
        .await,
        "conversation open: {:?}",
        w.cw.requests()
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect::<Vec<_>>()
    );
    assert!(
        w.cw.messages(conv)
            .iter()
            .any(|m| m["private"] == true && m["sender"]["type"] == "agent_bot"),
        "private note by the bot"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_mirror_chat_and_an_agent_bot_chat_side_by_side_do_not_leak() {
    let w = world().await;
    let conv =
        w.cw.seed_conversation("widget-visitor-3", "Jeroen Bakker", vec![]);
    let wa_chat = "31639121747@c.us";
    let resp = w
        .app
        .post(
            "/webhooks/waha",
            message(wa_chat, "SIDE0001", "Ik zoek een Volvo XC60."),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 200);
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48600, "Ik zoek een Audi Q5.", "2026-07-14T09:12:40.512Z"),
        &[],
    )
    .await;
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    assert!(eventually(Duration::from_secs(10), || bot_replies(&w.cw, conv).len() == 1).await);
    w.app.run_until_quiet(&w.cw).await;
    let wa_reply = &w.waha.sent_to(wa_chat)[0];
    assert!(
        wa_reply.contains("Volvo") && !wa_reply.contains("Audi"),
        "{wa_reply}"
    );
    let bot_reply = &bot_replies(&w.cw, conv)[0];
    assert!(
        bot_reply.contains("Audi") && !bot_reply.contains("Volvo"),
        "{bot_reply}"
    );
    let mirror = w.cw.conversation_for_chat(wa_chat).expect("mirror conversation");
    let mirrored: Vec<String> =
        w.cw.messages(mirror)
            .iter()
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
    assert!(mirrored.iter().all(|t| !t.contains("Audi")), "{mirrored:?}");
    assert_eq!(w.waha.sent().len(), 1, "the bot chat sent nothing through WAHA");
    for req in w.llm.requests() {
        let text = req.to_string();
        assert!(
            !(text.contains("Volvo") && text.contains("Audi")),
            "one prompt saw both chats"
        );
    }
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
