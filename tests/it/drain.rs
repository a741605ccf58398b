//! The drain at SIGTERM, at process level: `/ready` 503 at once while the listener keeps serving
//! `/health`, `/metrics` and (with Redis) the webhooks; running turns finish within
//! `SHUTDOWN_GRACE_SECS`; a turn cut off by the grace period is abandoned without sending and its chat
//! handed on at once; the process exits 0 holding no lease, pending signal or consumer name.

use std::time::{Duration, Instant};

use crate::support::app::{eventually, eventually_async, spawn_app};
use crate::support::proc::Instance;
use crate::support::redis::RedisServer;
use crate::support::stack::{fakes, no_keys, pending_signals, vars};
use crate::support::waha_hooks::message;

const CHAT: &str = "31641238876@c.us";
const OTHER: &str = "31655512345@c.us";

/// Nothing of the stopped process is left in Redis.
fn holds_nothing(redis: &RedisServer) {
    assert!(no_keys(redis, "wa-agent:lease:*"), "no lease left");
    assert!(no_keys(redis, "wa-agent:consumer:*"), "consumer name released");
    assert_eq!(pending_signals(redis), 0, "no pending signal left");
}

#[tokio::test]
async fn sigterm_keeps_serving_and_accepting_while_the_running_turn_finishes() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let settings = vars(&redis, &f, &[]);
    f.llm.set_delay(Duration::from_secs(4));
    let mut a = Instance::start(&vars(&redis, &f, &[("LLM_TIMEOUT_SECS", "10")]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    assert_eq!(
        a.post("/webhooks/waha", message(CHAT, "TERM0001", "Hallo?"))
            .await,
        200
    );
    assert!(f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    a.sigterm();
    let draining = eventually_async(Duration::from_secs(1), || async {
        a.get("/ready").await.0 == 503
    });
    assert!(draining.await, "/ready answers 503 at once");
    let (status, body) = a.get("/ready").await;
    assert_eq!(status, 503);
    assert!(
        body.contains(r#""status":"draining""#) && body.contains(r#""accepting_webhooks":true"#),
        "{body}"
    );
    assert_eq!(a.get("/health").await.0, 200, "alive while draining");
    let (status, metrics) = a.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("wa_agent_webhooks_total"), "{metrics}");
    // A message arriving during the drain is queued durably for whoever works next.
    let during = message(OTHER, "TERM0002", "Nog een vraag");
    assert_eq!(
        a.post("/webhooks/waha", during).await,
        200,
        "accepted while draining"
    );

    let status = a.wait_exit(Duration::from_secs(30)).await.expect("exits");
    assert_eq!(status.code(), Some(0), "{}", a.logs());
    assert_eq!(
        f.waha.sent_to(CHAT),
        ["Antwoord op: Hallo?"],
        "the running turn completed"
    );
    assert!(
        f.waha.sent_to(OTHER).is_empty(),
        "a draining instance takes no new chat"
    );
    assert_eq!(redis.list("wa-agent:history:31641238876@c.us").len(), 2);
    holds_nothing(&redis);

    f.llm.set_delay(Duration::ZERO);
    let again = Instance::start(&settings);
    assert!(
        f.waha.wait_for_sent(2, Duration::from_secs(10)).await,
        "the restarted instance answers what was accepted during the drain:\n{}",
        again.logs()
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(f.waha.sent_to(OTHER), ["Antwoord op: Nog een vraag"]);
    assert_eq!(f.waha.sent_to(CHAT).len(), 1, "nothing twice");
}

#[tokio::test]
async fn a_turn_cut_off_by_the_grace_period_sends_nothing_and_is_taken_over_at_once() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let settings = vars(
        &redis,
        &f,
        &[("LLM_TIMEOUT_SECS", "90"), ("SHUTDOWN_GRACE_SECS", "5")],
    );
    f.llm.set_delay(Duration::from_secs(60));
    let mut a = Instance::start(&settings);
    assert!(a.wait_up(Duration::from_secs(20)).await);
    assert_eq!(
        a.post("/webhooks/waha", message(CHAT, "CUT00001", "Bent u open?"))
            .await,
        200
    );
    assert!(f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let b = Instance::start(&settings);
    assert!(b.wait_up(Duration::from_secs(20)).await);
    f.llm.set_delay(Duration::ZERO);

    a.sigterm();
    let termed = Instant::now();
    // Watch both: the process's exit and the answer (which may come before the exit: the chat is
    // handed on before the process ends).
    let (mut exited, mut answered) = (None, None);
    while termed.elapsed() < Duration::from_secs(15) && (exited.is_none() || answered.is_none()) {
        if exited.is_none()
            && let Some(status) = a.wait_exit(Duration::from_millis(10)).await
        {
            exited = Some((termed.elapsed(), status));
        }
        if answered.is_none() && !f.waha.sent_to(CHAT).is_empty() {
            answered = Some(termed.elapsed());
        }
        // Once the process has exited nothing above awaits: without this the loop would hold the
        // test's runtime, and the fakes the other instance talks to (served on it) would time out.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (exit_after, status) = exited.expect("exits");
    println!("SIGTERM → exit with SHUTDOWN_GRACE_SECS=5: {exit_after:?}");
    assert_eq!(status.code(), Some(0), "{}", a.logs());
    assert!(exit_after < Duration::from_millis(6500), "{exit_after:?}");
    let answer_after = answered.unwrap_or_else(|| panic!("the other instance answers:\n{}", b.logs()));
    let after_exit = answer_after.saturating_sub(exit_after);
    println!("exit → answer by the other instance: {after_exit:?} (SIGTERM → answer: {answer_after:?})");
    assert!(after_exit < Duration::from_secs(5), "{answer_after:?}");
    assert!(
        answer_after > Duration::from_secs(4),
        "nothing is answered before the grace period ends: {answer_after:?}"
    );
    let logs = a.logs();
    assert!(logs.contains("turn abandoned"), "{logs}");
    assert!(
        !logs.contains("turn finished"),
        "the abandoned turn sent nothing:\n{logs}"
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(f.waha.sent_to(CHAT), ["Antwoord op: Bent u open?"], "once");
    assert!(
        b.logs().contains("turn finished"),
        "the other instance ran the turn:\n{}",
        b.logs()
    );
    assert_eq!(redis.list("wa-agent:history:31641238876@c.us").len(), 2);
    assert!(
        !b.logs().contains("reclaimed abandoned work"),
        "handed on, not reclaimed"
    );
}

#[tokio::test]
async fn a_chatwoot_human_reply_posted_during_the_drain_reaches_whatsapp_once() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let settings = vars(&redis, &f, &[("LLM_TIMEOUT_SECS", "10")]);
    let mut a = Instance::start(&settings);
    assert!(a.wait_up(Duration::from_secs(20)).await);
    f.chatwoot
        .set_webhook(&format!("{}/webhooks/chatwoot", a.url), None);
    assert_eq!(
        a.post("/webhooks/waha", message(CHAT, "HUM00001", "Goedemiddag"))
            .await,
        200
    );
    assert!(f.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    let mirrored = eventually(Duration::from_secs(10), || {
        f.chatwoot
            .conversation_for_chat(CHAT)
            .is_some_and(|c| f.chatwoot.messages(c).len() >= 2)
    })
    .await;
    assert!(mirrored, "{}", a.logs());
    let conv = f.chatwoot.conversation_for_chat(CHAT).unwrap();

    // A slow turn on another chat keeps the drain open.
    f.llm.set_delay(Duration::from_secs(4));
    assert_eq!(
        a.post("/webhooks/waha", message(OTHER, "HUM00002", "Hallo"))
            .await,
        200
    );
    assert!(f.llm.wait_for_requests(2, Duration::from_secs(10)).await);
    a.sigterm();
    let draining = eventually_async(Duration::from_secs(1), || async {
        a.get("/ready").await.0 == 503
    })
    .await;
    assert!(draining, "/ready answers 503 once the drain began");
    let deliveries_before = f.chatwoot.deliveries().len();
    f.chatwoot.human_reply(conv, "Uw auto staat klaar.");
    let delivered = eventually(Duration::from_secs(5), || {
        f.chatwoot.deliveries()[deliveries_before..]
            .iter()
            .any(|(event, status)| event == "message_created" && *status == 200)
    })
    .await;
    assert!(
        delivered,
        "the draining instance took the webhook: {:?}",
        f.chatwoot.deliveries()
    );
    let status = a.wait_exit(Duration::from_secs(30)).await.expect("exits");
    assert_eq!(status.code(), Some(0));
    assert_eq!(f.waha.sent_to(OTHER), ["Antwoord op: Hallo"]);

    f.llm.set_delay(Duration::ZERO);
    let again = Instance::start(&settings);
    let human = "Uw auto staat klaar.".to_owned();
    let arrived = eventually(Duration::from_secs(10), || f.waha.sent_to(CHAT).contains(&human)).await;
    assert!(arrived, "{:?}\n{}", f.waha.sent(), again.logs());
    redis.run_until_idle(Duration::from_secs(30)).await;
    let sent = f.waha.sent_to(CHAT);
    assert_eq!(sent.iter().filter(|t| **t == human).count(), 1, "once: {sent:?}");
}

#[tokio::test]
async fn without_redis_the_drain_refuses_webhooks_but_finishes_the_running_turn() {
    let f = fakes().await;
    f.llm.set_delay(Duration::from_secs(2));
    let app = spawn_app(&[
        ("WAHA_BASE_URL", f.waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("LLM_BASE_URL", f.llm.url()),
        ("DEBOUNCE_MS", "100".into()),
        ("SHUTDOWN_GRACE_SECS", "10".into()),
    ])
    .await;
    let resp = app
        .post("/webhooks/waha", message(CHAT, "MEM00001", "Hallo?"), &[])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    app.shutdown.cancel();
    let draining = eventually_async(Duration::from_secs(1), || async {
        app.get("/ready").await.status() == 503
    });
    assert!(draining.await, "/ready answers 503 at once");
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body = ready.text().await.unwrap();
    assert!(body.contains(r#""accepting_webhooks":false"#), "{body}");
    assert_eq!(app.get("/health").await.status(), 200);
    let refused = app
        .post("/webhooks/waha", message(OTHER, "MEM00002", "Nog iets"), &[])
        .await;
    assert_eq!(
        refused.status(),
        503,
        "the embedded queue dies with the process: refused"
    );
    let ended = tokio::time::timeout(Duration::from_secs(15), app.task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    assert_eq!(
        f.waha.sent_to(CHAT),
        ["Antwoord op: Hallo?"],
        "the running turn finished"
    );
    assert!(f.waha.sent_to(OTHER).is_empty());
}
