//! The service on a manual clock: the queue runtime's own rounds (here the outbox sweep that resumes
//! mirroring after a Chatwoot outage) come when the test moves the clock. Everything the service sleeps
//! on the clock wakes through `advancing`, so the test holds however much of the service is on it: the
//! worker's debounce too (here the longest `DEBOUNCE_MS` allows, a minute, over in well under a second
//! of wall time; `core_turn::queueing`'s burst holds its debounce open until the test moves the
//! clock), and the hours' now (`time_and_memory::hours` stands the clock at a chosen local time).
//!
//! What still runs on wall time bounds the gain: the sweep's lock is a Redis key with a TTL of one
//! period, the mirror's breaker pauses on wall time after a failure, and envelopes are stamped at
//! accept by the wall clock (`Envelope::new`), so a manual clock under a debounce starts at the wall
//! now and only moves forward.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wa_agent::clock::{ManualClock, SharedClock};

use crate::support::app::{advancing, eventually, spawn_app_on, spawn_app_with};
use crate::support::redis::RedisServer;
use crate::support::stack::{fakes, no_keys, vars};
use crate::support::waha_hooks::message;

const CHAT: &str = "31641238876@c.us";
/// One outbox-sweep period of the runtime (`Tuning::outbox_sweep_every`).
const SWEEP: Duration = Duration::from_secs(5);
/// The longest debounce `DEBOUNCE_MS` allows; no test should wait it out on wall time.
const LONG_DEBOUNCE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn on_a_manual_clock_the_outbox_sweep_resumes_mirroring_after_a_chatwoot_outage() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let clock = ManualClock::starting_now();
    let shared: SharedClock = Arc::new(Arc::clone(&clock));
    let app = spawn_app_with(&vars(&redis, &f, &[]), shared).await;
    f.chatwoot.set_down(true);
    let resp = app
        .post("/webhooks/waha", message(CHAT, "CLOCK001", "Hallo?"), &[])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        advancing(&clock, Duration::from_millis(50), Duration::from_secs(10), || {
            f.waha.sent().len() == 1
        })
        .await,
        "answered while Chatwoot is down"
    );
    // The turn is over; its exchange waits in the outbox for Chatwoot.
    let waiting = eventually(Duration::from_secs(10), || {
        no_keys(&redis, "wa-agent:lease:*") && !no_keys(&redis, "wa-agent:outbox-chats")
    })
    .await;
    assert!(waiting, "the exchange waits in the outbox");
    let runtime = app.runtime.get().expect("workers run").clone();
    assert!(!runtime.is_idle().await, "an outbox waiting is work left");

    f.chatwoot.set_down(false);
    let back = Instant::now();
    let mirrored = advancing(&clock, SWEEP, Duration::from_secs(20), || {
        f.chatwoot
            .conversation_for_chat(CHAT)
            .is_some_and(|id| f.chatwoot.messages(id).len() >= 2)
    })
    .await;
    assert!(mirrored, "the sweep brought the outbox to Chatwoot");
    println!(
        "Chatwoot back -> exchange mirrored on the manual clock: {:?}",
        back.elapsed()
    );
    app.run_until_idle().await;
    assert!(no_keys(&redis, "wa-agent:outbox-chats"), "the outbox is empty");
    app.stop().await;
}

#[tokio::test]
async fn on_a_manual_clock_a_long_debounce_ends_when_the_clock_passes_it_not_on_wall_time() {
    let redis = RedisServer::start();
    let f = fakes().await;
    // Started at the wall now and only moved forward: envelopes are stamped at accept by the wall
    // clock, and the debounce ends at the newest stamp plus DEBOUNCE_MS by this clock.
    let clock = ManualClock::starting_now();
    let debounce_ms = LONG_DEBOUNCE.as_millis().to_string();
    let app = spawn_app_on(
        &vars(&redis, &f, &[("DEBOUNCE_MS", debounce_ms.as_str())]),
        &clock,
    )
    .await;
    let first = app
        .post(
            "/webhooks/waha",
            message(CHAT, "CLOCK010", "Hallo, ik zoek een auto."),
            &[],
        )
        .await;
    assert_eq!(first.status(), 200);
    assert!(
        eventually(Duration::from_secs(10), || !no_keys(&redis, "wa-agent:lease:*")).await,
        "the chat is taken; its holder waits out the debounce on the standing clock"
    );
    let second = app
        .post(
            "/webhooks/waha",
            message(CHAT, "CLOCK011", "Het liefst een BMW X5."),
            &[],
        )
        .await;
    assert_eq!(second.status(), 200);
    let moved = Instant::now();
    let answered = advancing(&clock, Duration::from_secs(5), Duration::from_secs(5), || {
        !f.waha.sent_to(CHAT).is_empty()
    })
    .await;
    assert!(answered, "the turn ran once the clock passed the debounce");
    assert!(
        moved.elapsed() < LONG_DEBOUNCE / 10,
        "it waited for the clock, not for wall time: {:?}",
        moved.elapsed()
    );
    app.run_until_idle().await;
    let sent = f.waha.sent_to(CHAT);
    assert_eq!(sent.len(), 1, "one reply for both messages: {sent:?}");
    assert!(
        sent[0].contains("ik zoek een auto") && sent[0].contains("BMW X5"),
        "the turn waited for the second message: {sent:?}"
    );
    app.stop().await;
}
