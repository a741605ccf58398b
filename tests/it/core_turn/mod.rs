//! The core turn over HTTP: WAHA webhook → per-chat Redis history over Chatwoot → LLM → reply and
//! mirror. Redis is a real `redis-server`; Chatwoot, WAHA and the LLM are fakes built from the fixtures.
//! Here: the seed scenario, media placeholders, presence and long replies; `queueing` (debounce,
//! superseded drafts, many chats, duplicates, ignored events) and `outages` (Redis and Chatwoot down,
//! cold caches).

use std::time::Duration;

use crate::support::app::{TestApp, eventually, eventually_async, spawn_app_with};
use crate::support::fake_chatwoot::{FakeChatwoot, SeedMessage};
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::stack::no_keys;
use crate::support::waha_hooks::{fixture, message};
use serde_json::Value;
use wa_agent::clock::SharedClock;

const TOKEN: &str = "cw-test-token";
const WAHA_KEY: &str = "waha-test-key";

struct World {
    redis: RedisServer,
    llm: FakeLlm,
    waha: FakeWaha,
    chatwoot: FakeChatwoot,
    app: TestApp,
}

async fn world(extra: &[(&str, &str)]) -> World {
    world_on(extra, wa_agent::clock::system()).await
}

/// [`world`] with the worker and queue runtime on `clock`.
async fn world_on(extra: &[(&str, &str)], clock: SharedClock) -> World {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let waha = FakeWaha::start(WAHA_KEY).await;
    let chatwoot = FakeChatwoot::start(3, 7, TOKEN).await;
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("REDIS_KEY_PREFIX", "test:".into()),
        ("WAHA_BASE_URL", waha.url()),
        ("WAHA_API_KEY", WAHA_KEY.into()),
        ("LLM_BASE_URL", llm.url()),
        ("LLM_MODEL", "gpt-4o-mini".into()),
        ("CHATWOOT_BASE_URL", chatwoot.url()),
        ("CHATWOOT_API_TOKEN", TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("DEBOUNCE_MS", "100".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v.to_string()));
    }
    let app = spawn_app_with(&vars, clock).await;
    World {
        redis,
        llm,
        waha,
        chatwoot,
        app,
    }
}

/// The `content` of every message of an LLM request, with its role.
/// The changing tail (a later `system` message: time, hours, summary) is left out; it has its own
/// tests in `time_and_memory`.
fn request_messages(req: &Value) -> Vec<(String, String)> {
    req["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .enumerate()
        .filter(|(i, m)| *i == 0 || m["role"] != "system")
        .map(|(_, m)| m)
        .map(|m| {
            (
                m["role"].as_str().unwrap_or("").to_owned(),
                m["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn mentions(req: &Value, text: &str) -> bool {
    request_messages(req).iter().any(|(_, c)| c.contains(text))
}

async fn post_ok(app: &TestApp, body: Vec<u8>) -> Value {
    let resp = app.post("/webhooks/waha", body, &[]).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

const BMW: &str = "Ik ben geïnteresseerd in een BMW X5. Wat heeft jullie op voorraad?";
const WHICH: &str = "Weet je nog welke auto ik net vroeg?";
const CHAT: &str = "31639121747@c.us";

#[tokio::test]
async fn seed_scenario_remembers_the_bmw_while_chatwoot_lags() {
    let w = world(&[]).await;
    w.chatwoot.set_list_lag(Duration::from_secs(30));

    let ack = post_ok(&w.app, message(CHAT, "SEED0001", BMW)).await;
    assert_eq!(ack["status"], "accepted");
    assert!(
        w.waha.wait_for_sent(1, Duration::from_secs(10)).await,
        "first reply sent"
    );
    let first_reply = w.waha.sent_to(CHAT)[0].clone();

    post_ok(&w.app, message(CHAT, "SEED0002", WHICH)).await;
    assert!(
        w.waha.wait_for_sent(2, Duration::from_secs(10)).await,
        "second reply sent"
    );

    let requests = w.llm.requests();
    assert_eq!(requests.len(), 2, "one LLM request per turn");
    let second = request_messages(&requests[1]);
    assert_eq!(second[0].0, "system");
    assert_eq!(
        second[1],
        ("user".into(), BMW.into()),
        "history holds the BMW question, oldest first"
    );
    assert_eq!(
        second[2],
        ("assistant".into(), first_reply.clone()),
        "and the first reply"
    );
    assert_eq!(second[3], ("user".into(), WHICH.into()));
    assert_eq!(second.len(), 4);

    let replies = w.waha.sent_to(CHAT);
    assert!(
        replies[1].contains("BMW X5"),
        "the agent remembers: {:?}",
        replies[1]
    );

    // Chatwoot got all four messages, in order, each once, with wa-agent source ids.
    let conv = w
        .chatwoot
        .conversation_for_chat(CHAT)
        .expect("conversation created");
    assert!(
        w.chatwoot
            .wait_for_messages(conv, 4, Duration::from_secs(5))
            .await
    );
    let stored = w.chatwoot.messages(conv);
    let texts: Vec<(i64, &str)> = stored
        .iter()
        .map(|m| {
            (
                m["message_type"].as_i64().unwrap(),
                m["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            (0, BMW),
            (1, first_reply.as_str()),
            (0, WHICH),
            (1, replies[1].as_str())
        ]
    );
    assert!(
        stored
            .iter()
            .all(|m| m["source_id"].as_str().unwrap().starts_with("wa-agent:"))
    );
    let convs = w.chatwoot.conversations();
    assert_eq!(convs.len(), 1);
    // Only the chat's lasting keys remain once the worker let go: no lease or inbox left behind.
    let clean = eventually(Duration::from_secs(5), || {
        let keys = w.redis.command(&["KEYS", "test:*"]).unwrap();
        !keys.contains(":lease:") && !keys.contains(":inbox:")
    })
    .await;
    assert!(clean, "{:?}", w.redis.command(&["KEYS", "test:*"]));
    assert_eq!(convs[0]["status"], "pending", "created pending: the bot owns it");
    w.app.stop().await;
}

#[tokio::test]
async fn a_media_message_reaches_the_agent_as_a_placeholder_with_its_caption() {
    let w = world(&[]).await;
    let v = post_ok(&w.app, fixture("waha/webhook_message_media.json")).await;
    assert_eq!(v["status"], "accepted");
    assert!(w.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let req = &w.llm.requests()[0];
    let last = request_messages(req).pop().unwrap();
    assert!(
        last.1.starts_with("[image]") && last.1.contains("XC60 voor de taxatie"),
        "{last:?}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn read_marks_and_typing_happen_around_a_turn() {
    let w = world(&[]).await;
    w.llm.set_delay(Duration::from_millis(400));
    post_ok(&w.app, message(CHAT, "PRES0001", "Hallo!")).await;
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    let stopped = eventually(Duration::from_secs(5), || {
        w.waha.presence().iter().any(|(a, _)| a == "stopTyping")
    })
    .await;
    assert!(stopped, "{:?}", w.waha.presence());
    let actions: Vec<String> = w.waha.presence().into_iter().map(|(a, _)| a).collect();
    assert_eq!(actions, ["sendSeen", "startTyping", "stopTyping"]);
    for (_, body) in w.waha.presence() {
        assert_eq!(body["chatId"], CHAT);
    }
    w.app.stop().await;

    let quiet = world(&[("SEND_PRESENCE", "false")]).await;
    post_ok(&quiet.app, message(CHAT, "PRES0002", "Hallo!")).await;
    assert!(quiet.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    quiet.app.run_until_idle().await;
    assert!(
        quiet.waha.presence().is_empty(),
        "SEND_PRESENCE=false: {:?}",
        quiet.waha.presence()
    );
    quiet.app.stop().await;
}

#[tokio::test]
async fn a_2500_character_reply_arrives_as_ordered_parts_and_is_remembered_as_seen() {
    let w = world(&[]).await;
    let paragraph = |n: usize| {
        format!(
            "Paragraaf {n}. {}",
            "De BMW X5 is een ruime en zuinige auto. ".repeat(16)
        )
    };
    let long: String = (0..4).map(paragraph).collect::<Vec<_>>().join("\n\n");
    assert!(long.chars().count() >= 2500, "{}", long.chars().count());
    let reply = long.clone();
    w.llm.set_brain(std::sync::Arc::new(move |_| reply.clone()));
    post_ok(&w.app, message(CHAT, "LONG0001", "Vertel me alles over de X5.")).await;
    assert!(w.waha.wait_for_sent(3, Duration::from_secs(10)).await);
    w.app.run_until_idle().await;
    let parts = w.waha.sent_to(CHAT);
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert!(
        parts.iter().all(|p| p.chars().count() <= 1000),
        "every part fits REPLY_MAX_CHARS"
    );
    assert!(
        parts[0].starts_with("Paragraaf 0.") && parts.last().unwrap().contains("Paragraaf 3."),
        "in order"
    );
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(
        squash(&parts.join(" ")),
        squash(&long),
        "nothing lost or repeated"
    );
    // History and Chatwoot keep the parts as the customer saw them.
    let key = format!("test:history:{CHAT}");
    assert!(
        eventually(Duration::from_secs(5), || w.redis.list(&key).len()
            == 1 + parts.len())
        .await
    );
    assert!(
        eventually(Duration::from_secs(5), || w
            .chatwoot
            .conversation_for_chat(CHAT)
            .is_some())
        .await
    );
    let conv = w.chatwoot.conversation_for_chat(CHAT).unwrap();
    assert!(
        w.chatwoot
            .wait_for_messages(conv, 1 + parts.len(), Duration::from_secs(5))
            .await
    );
    let outgoing: Vec<String> = w
        .chatwoot
        .messages(conv)
        .iter()
        .filter(|m| m["message_type"] == 1)
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outgoing, parts);
    w.app.stop().await;
}

mod outages;
mod queueing;
