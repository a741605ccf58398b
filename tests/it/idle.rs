//! `run_until_idle` itself: it returns only once the service has done all its work, a message waiting
//! out its debounce included, on the Redis store and on the embedded one (whose only view is the app's
//! idle probe).

use std::time::Duration;

use crate::support::app::spawn_app;
use crate::support::redis::RedisServer;
use crate::support::stack::{fakes, vars};
use crate::support::waha_hooks::message;

const CHAT: &str = "31641238876@c.us";

#[tokio::test]
async fn a_message_waiting_out_its_debounce_is_work_on_the_redis_store() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let app = spawn_app(&vars(&redis, &f, &[("DEBOUNCE_MS", "1000")])).await;
    let resp = app
        .post("/webhooks/waha", message(CHAT, "IDLE0001", "Hallo?"), &[])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(!redis.is_idle(), "accepted work is in Redis at once");
    app.run_until_idle().await;
    assert_eq!(
        f.waha.sent_to(CHAT),
        ["Antwoord op: Hallo?"],
        "answered before idle"
    );
    assert!(redis.is_idle(), "and Redis holds no work");
    app.stop().await;
}

#[tokio::test]
async fn a_message_waiting_out_its_debounce_is_work_on_the_embedded_store() {
    let f = fakes().await;
    let app = spawn_app(&[
        ("WAHA_BASE_URL", f.waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("LLM_BASE_URL", f.llm.url()),
        ("DEBOUNCE_MS", "1000".into()),
    ])
    .await;
    let resp = app
        .post("/webhooks/waha", message(CHAT, "IDLE0002", "Hallo?"), &[])
        .await;
    assert_eq!(resp.status(), 200);
    app.run_until_idle().await;
    assert_eq!(
        f.waha.sent_to(CHAT),
        ["Antwoord op: Hallo?"],
        "answered before idle"
    );
    let _ = tokio::time::timeout(Duration::from_secs(15), app.stop()).await;
}
