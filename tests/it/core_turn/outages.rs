//! Outages in the turn: Redis down (503, not ready, then back), a cold cache read from Chatwoot, a
//! Redis error on the history read, and a history started while Chatwoot was down.

use super::*;

#[tokio::test]
async fn redis_down_means_503_and_not_ready_then_recovers() {
    let mut w = world(&[]).await;
    assert_eq!(w.app.get("/ready").await.status(), 200);
    w.redis.stop();
    let resp = w
        .app
        .post("/webhooks/waha", message(CHAT, "DOWN0001", "Hallo?"), &[])
        .await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let ready = w.app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(body["down"].to_string().contains("redis"), "{body}");

    w.redis.restart();
    let app = &w.app;
    let ok = eventually_async(Duration::from_secs(10), || async {
        app.get("/ready").await.status() == 200
    })
    .await;
    assert!(ok, "ready again once Redis is back");
    let resp = app
        .post("/webhooks/waha", message(CHAT, "DOWN0001", "Hallo?"), &[])
        .await;
    assert_eq!(resp.status(), 200, "the gateway's retry is accepted");
    assert!(
        w.waha.wait_for_sent(1, Duration::from_secs(15)).await,
        "and answered"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_cold_cache_reads_history_from_chatwoot_paging_back() {
    let w = world(&[("HISTORY_WINDOW", "20")]).await;
    let mut seed = Vec::new();
    for i in 0..30 {
        seed.push(SeedMessage::incoming(&format!("old customer line {i}")));
        if i % 5 == 0 {
            let mut note = SeedMessage::outgoing(&format!("private note {i}"));
            note.private = true;
            seed.push(note);
            seed.push(SeedMessage {
                content: format!("activity {i}"),
                message_type: 2,
                private: false,
                source_id: None,
                sender_type: None,
            });
        }
        seed.push(SeedMessage::outgoing(&format!("old reply {i}")));
    }
    w.chatwoot.seed_conversation(CHAT, "Sanne de Vries", seed);

    post_ok(&w.app, message(CHAT, "COLD0001", "Nog een vraag")).await;
    assert!(w.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let msgs = request_messages(&w.llm.requests()[0]);
    let history: Vec<&str> = msgs[1..msgs.len() - 1].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(history.len(), 20, "the window is full: {history:?}");
    assert_eq!(history[0], "old customer line 20");
    assert_eq!(history[19], "old reply 29");
    assert!(
        history
            .iter()
            .all(|c| !c.contains("private") && !c.contains("activity"))
    );
    let pages = w
        .chatwoot
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/messages"))
        .collect::<Vec<_>>();
    assert!(
        pages.len() >= 2 && pages.iter().any(|r| r.query.contains("before=")),
        "paged back: {pages:?}"
    );

    // The read-through filled the cache: the next turn reads it from Redis, not Chatwoot.
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    let lists_before = pages.len();
    post_ok(&w.app, message(CHAT, "COLD0002", "En nog een")).await;
    assert!(w.llm.wait_for_requests(2, Duration::from_secs(10)).await);
    let lists_after = w
        .chatwoot
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/messages"))
        .count();
    assert_eq!(lists_after, lists_before, "second turn served from the cache");
    let msgs = request_messages(&w.llm.requests()[1]);
    assert!(msgs.iter().any(|(_, c)| c == "Nog een vraag"));
    w.app.stop().await;
}

#[tokio::test]
async fn a_redis_error_on_the_history_read_falls_back_to_chatwoot_and_the_turn_goes_on() {
    let w = world(&[]).await;
    w.chatwoot.seed_conversation(
        CHAT,
        "Sanne",
        vec![
            SeedMessage::incoming("Ik zoek een BMW X5."),
            SeedMessage::outgoing("We hebben er twee op voorraad."),
        ],
    );
    // The history key holds the wrong type: every read of it fails inside Redis.
    let key = format!("test:history:{CHAT}");
    assert!(
        w.redis
            .command(&["SET", &key, "not a list"])
            .unwrap()
            .starts_with("+OK")
    );

    let series = r#"wa_agent_history_loads_total{source="chatwoot"}"#;
    let before = w.app.metric(series).await;
    post_ok(&w.app, message(CHAT, "RERR0001", WHICH)).await;
    assert!(
        w.waha.wait_for_sent(1, Duration::from_secs(10)).await,
        "the turn went on"
    );
    let msgs = request_messages(&w.llm.requests()[0]);
    assert_eq!(msgs[1].1, "Ik zoek een BMW X5.", "history read from Chatwoot");
    assert!(w.waha.sent_to(CHAT)[0].contains("BMW X5"));
    // The commit repaired the key: the next turn is served from the cache, in order.
    assert!(
        eventually(Duration::from_secs(5), || w.redis.list(&key).len() == 4).await,
        "{:?}",
        w.redis.list(&key)
    );
    // A delta: the recorder is process-wide, and other tests in this process count too.
    let after = w.app.metric(series).await;
    assert!(after >= before + 1.0, "{series}: {before} before, {after} after");
    w.app.stop().await;
}

#[tokio::test]
async fn a_history_started_while_chatwoot_was_down_is_completed_from_chatwoot_later() {
    let w = world(&[]).await;
    w.chatwoot.seed_conversation(
        CHAT,
        "Sanne",
        vec![
            SeedMessage::incoming("Ik zoek een BMW X5."),
            SeedMessage::outgoing("We hebben er twee op voorraad."),
        ],
    );
    w.chatwoot.set_down(true);
    post_ok(&w.app, message(CHAT, "DOWN1001", "Zijn ze nog beschikbaar?")).await;
    assert!(
        w.waha.wait_for_sent(1, Duration::from_secs(10)).await,
        "answered while Chatwoot is down"
    );
    let first = request_messages(&w.llm.requests()[0]);
    assert_eq!(first.len(), 2, "no history could be read: {first:?}");

    w.chatwoot.set_down(false);
    // Real wait: past the mirror breaker's first pause after the failure, which runs on wall time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    post_ok(&w.app, message(CHAT, "DOWN1002", WHICH)).await;
    assert!(w.waha.wait_for_sent(2, Duration::from_secs(10)).await);
    let second: Vec<String> = request_messages(&w.llm.requests()[1])
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let pos = |t: &str| second.iter().position(|c| c == t);
    let (old, mid, new) = (
        pos("Ik zoek een BMW X5."),
        pos("Zijn ze nog beschikbaar?"),
        pos(WHICH),
    );
    assert!(
        old.is_some() && old < mid && mid < new,
        "older Chatwoot messages filled in front: {second:?}"
    );
    assert!(w.waha.sent_to(CHAT)[1].contains("BMW X5"));
    w.app.stop().await;
}
