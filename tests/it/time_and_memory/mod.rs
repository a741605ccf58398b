//! Behaviours 10 and 11 over HTTP with a real `redis-server`: `hours`, working hours from a fake
//! Chatwoot inbox and `BOT_HOURS` on a manual clock set to a chosen local time (the out-of-office
//! message, a handoff at night); `summary`, the summary beyond the window (`HISTORY_WINDOW=6`), a cold
//! cache restored from Chatwoot, and prompts whose beginnings stay put.
//!
//! Invariant: a scenario's "now" is its clock's: the hours tests stand still at an instant they chose
//! (never before the wall now, see `support::time`), the summary tests run on the system clock.

mod hours;
mod summary;

use std::sync::Arc;
use std::time::Duration;

use crate::support::app::{TestApp, eventually, spawn_app_with};
use crate::support::fake_chatwoot::FakeChatwoot;
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::message;
use serde_json::Value;
use wa_agent::agent::summary::SUMMARY_INSTRUCTIONS;
use wa_agent::clock::SharedClock;

const TOKEN: &str = "cw-test-token";
const CHAT: &str = "31612345678@c.us";
const WAIT: Duration = Duration::from_secs(10);

struct World {
    redis: RedisServer,
    llm: FakeLlm,
    waha: Arc<FakeWaha>,
    chatwoot: FakeChatwoot,
    app: TestApp,
}

/// The fakes and the app on `clock`; `inbox` fields are set on the fake inbox before the app starts.
async fn world(inbox: Value, extra: &[(&str, &str)], clock: SharedClock) -> World {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let waha = Arc::new(FakeWaha::start("k").await);
    let chatwoot = FakeChatwoot::start(3, 7, TOKEN).await;
    chatwoot.set_inbox(inbox);
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("WAHA_BASE_URL", waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("LLM_BASE_URL", llm.url()),
        ("CHATWOOT_BASE_URL", chatwoot.url()),
        ("CHATWOOT_API_TOKEN", TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("DEBOUNCE_MS", "100".into()),
        ("HANDOFF_MESSAGE", "A colleague will take over.".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v.to_string()));
    }
    let app = spawn_app_with(&vars, clock).await;
    let read = eventually(WAIT, || {
        chatwoot
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v1/accounts/3/inboxes/7")
    })
    .await;
    assert!(read, "the inbox's hours are read at start-up");
    World {
        redis,
        llm,
        waha,
        chatwoot,
        app,
    }
}

async fn say(w: &World, id: &str, text: &str) {
    let r = w.app.post("/webhooks/waha", message(CHAT, id, text), &[]).await;
    assert_eq!(r.status(), 200);
}

/// The messages of a request, as (role, content).
fn messages(req: &Value) -> Vec<(String, String)> {
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or("").to_owned(),
                m["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn is_summary(req: &Value) -> bool {
    req["messages"][0]["content"] == SUMMARY_INSTRUCTIONS
}

fn turns(llm: &FakeLlm) -> Vec<Value> {
    llm.requests().into_iter().filter(|r| !is_summary(r)).collect()
}

/// Whether the customer's message reached Chatwoot and the chat's history.
async fn remembered(w: &World, text: &str) -> bool {
    let text = text.to_owned();
    eventually(WAIT, || {
        w.chatwoot
            .requests()
            .iter()
            .any(|r| r.body["content"] == text.as_str())
            && w.redis
                .list(&format!("wa-agent:history:{CHAT}"))
                .iter()
                .any(|e| e.contains(&text))
    })
    .await
}
