//! Behaviours 10 and 11 over HTTP with a real `redis-server`: working hours from a fake Chatwoot inbox
//! and `BOT_HOURS`, the out-of-office message, a handoff at night, the summary beyond the window
//! (`HISTORY_WINDOW=6`), a cold cache restored from Chatwoot, and prompts whose beginnings stay put.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_chatwoot::FakeChatwoot;
use crate::support::fake_llm::{FakeLlm, default_brain};
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::message;
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};
use wa_agent::agent::summary::SUMMARY_INSTRUCTIONS;
use wa_agent::history::block_drop;

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

/// The fakes and the app; `inbox` fields are set on the fake inbox before the app starts.
async fn world(inbox: Value, extra: &[(&str, &str)]) -> World {
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
    let app = spawn_app(&vars).await;
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

/// Chatwoot's `working_hours` with every day open all day.
fn open_all_week() -> Value {
    let days: Vec<Value> = (0..7)
        .map(|d| {
            json!({"day_of_week": d, "closed_all_day": false, "open_all_day": true,
            "open_hour": null, "open_minutes": null, "close_hour": null, "close_minutes": null})
        })
        .collect();
    json!({ "working_hours_enabled": true, "timezone": "UTC", "working_hours": days })
}

/// Closed now: open only 09:00-10:00 UTC on the day after tomorrow. Returns the inbox fields and
/// the phrase of the reopening (`Thursday 09:00`).
fn closed_now() -> (Value, String) {
    let day = Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(2.days())
        .unwrap();
    let dow = day.weekday().to_sunday_zero_offset();
    let days: Vec<Value> = (0..7)
        .map(|d| {
            if d == dow {
                json!({"day_of_week": d, "closed_all_day": false, "open_all_day": false,
                    "open_hour": 9, "open_minutes": 0, "close_hour": 10, "close_minutes": 0})
            } else {
                json!({"day_of_week": d, "closed_all_day": true, "open_all_day": false,
                    "open_hour": null, "open_minutes": null, "close_hour": null, "close_minutes": null})
            }
        })
        .collect();
    let phrase = format!("{} 09:00", day.strftime("%A"));
    (
        json!({ "working_hours_enabled": true, "timezone": "UTC", "working_hours": days,
            "out_of_office_message": "We are closed; we answer you as soon as we are back." }),
        phrase,
    )
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

#[tokio::test]
async fn outside_working_hours_mode_is_silent_while_the_team_works_and_answers_when_it_does_not() {
    let w = world(open_all_week(), &[("BOT_HOURS", "outside_working_hours")]).await;
    say(&w, "OWH1", "Is the showroom open?").await;
    assert!(
        remembered(&w, "Is the showroom open?").await,
        "mirrored and remembered"
    );
    w.app.run_until_idle().await;
    assert!(w.llm.requests().is_empty(), "the agent was not asked");
    assert!(
        w.waha.sent_to(CHAT).is_empty(),
        "humans answer during working hours"
    );

    let (closed, back) = closed_now();
    let w = world(closed, &[("BOT_HOURS", "outside_working_hours")]).await;
    say(&w, "OWH2", "Is the showroom open?").await;
    assert!(
        w.waha.wait_for_sent(1, WAIT).await,
        "the bot serves the closed hours"
    );
    let prompt = messages(&turns(&w.llm)[0]);
    let tail = &prompt[prompt.len() - 2];
    assert_eq!(
        tail.0, "system",
        "the changing tail sits just before the new message"
    );
    assert!(
        tail.1.contains("The team is not working now; it is back"),
        "{}",
        tail.1
    );
    assert!(tail.1.contains(&back), "{} names {back}", tail.1);
    assert!(
        !prompt[0].1.contains("It is now"),
        "the leading system message stays fixed"
    );
}

#[tokio::test]
async fn inside_working_hours_mode_answers_while_the_team_works() {
    let w = world(open_all_week(), &[("BOT_HOURS", "inside_working_hours")]).await;
    say(&w, "IWH1", "Do you have a BMW X5?").await;
    assert!(w.waha.wait_for_sent(1, WAIT).await);
    assert_eq!(w.waha.sent_to(CHAT), ["Antwoord op: Do you have a BMW X5?"]);
    let prompt = messages(&turns(&w.llm)[0]);
    assert!(
        prompt[prompt.len() - 2].1.contains("The team is working now"),
        "{prompt:?}"
    );
    assert!(prompt[prompt.len() - 2].1.contains("(UTC)"), "{prompt:?}");
}

#[tokio::test]
async fn out_of_office_goes_once_for_two_messages_when_nobody_answers() {
    let (closed, _) = closed_now();
    let w = world(closed, &[("BOT_HOURS", "inside_working_hours")]).await;
    say(&w, "OOO1", "Hello?").await;
    assert!(w.waha.wait_for_sent(1, WAIT).await);
    say(&w, "OOO2", "Anyone there?").await;
    assert!(remembered(&w, "Anyone there?").await);
    w.app.run_until_idle().await;
    assert_eq!(
        w.waha.sent_to(CHAT),
        ["We are closed; we answer you as soon as we are back."],
        "one out-of-office message per closed period"
    );
    assert!(
        w.llm.requests().is_empty(),
        "the agent does not answer outside its hours"
    );
}

#[tokio::test]
async fn always_mode_answers_at_night_and_a_handoff_names_the_reopening_time() {
    let (closed, back) = closed_now();
    let w = world(closed, &[]).await;
    w.llm.handoff_next("the customer wants a test drive");
    say(&w, "NIGHT1", "Can I book a test drive?").await;
    assert!(w.waha.wait_for_sent(1, WAIT).await);
    assert_eq!(
        w.waha.sent_to(CHAT),
        [format!("A colleague will take over. Our team is back {back}.")]
    );
}

/// A brain that answers turns like the default one and summarises like a careful model: the
/// previous summary plus every customer line that names a car.
fn summarising_brain(
    waha: Arc<FakeWaha>,
    sent_at_summary: Arc<Mutex<Vec<usize>>>,
) -> support::fake_llm::Brain {
    Arc::new(move |req: &Value| {
        if !is_summary(req) {
            return default_brain(req);
        }
        sent_at_summary.lock().unwrap().push(waha.sent_to(CHAT).len());
        let text = req["messages"][1]["content"].as_str().unwrap_or("");
        let mut out: Vec<&str> = Vec::new();
        if let Some(prev) = text.strip_prefix("Previous summary:\n") {
            out.push(prev.split("\n\nMessages:").next().unwrap_or(""));
        }
        out.extend(
            text.lines()
                .filter(|l| l.starts_with("Customer:") && l.contains("BMW")),
        );
        if out.is_empty() {
            "Nothing to note.".to_owned()
        } else {
            out.join("\n")
        }
    })
}

#[tokio::test]
async fn the_summary_keeps_the_first_car_beyond_the_window_and_survives_a_cold_cache() {
    let w = world(json!({}), &[("HISTORY_WINDOW", "6")]).await;
    let sent_at_summary = Arc::new(Mutex::new(Vec::new()));
    w.llm
        .set_brain(summarising_brain(w.waha.clone(), sent_at_summary.clone()));
    let texts: Vec<String> = (1..=12)
        .map(|n| match n {
            1 => "I am looking for a BMW X5 from 2021".to_owned(),
            n => format!("Question {n} about delivery"),
        })
        .collect();
    for (n, text) in texts.iter().enumerate() {
        say(&w, &format!("SUM{n:02}"), text).await;
        assert!(w.waha.wait_for_sent(n + 1, WAIT).await, "turn {} answered", n + 1);
    }
    w.app.run_until_idle().await;
    let prompts = turns(&w.llm);
    assert_eq!(prompts.len(), 12);
    let twelfth = serde_json::to_string(&prompts[11]).unwrap();
    assert!(
        twelfth.contains("BMW X5"),
        "the first message's car is in turn 12's prompt"
    );
    assert!(
        !messages(&prompts[11])
            .iter()
            .any(|(r, c)| r == "user" && c.contains("BMW X5")),
        "it is there through the summary, not the window"
    );

    // One summary per block, each after that turn's reply went out.
    let mut expected = Vec::new();
    let mut len = 0;
    for turn in 1..=12 {
        len += 2;
        let drop = block_drop(len, 6);
        if drop > 0 {
            expected.push(turn);
            len -= drop;
        }
    }
    assert_eq!(
        *sent_at_summary.lock().unwrap(),
        expected,
        "summaries after the replies of turns {expected:?}"
    );

    // Prefix stability: each prompt begins with the previous one minus its tail and new message,
    // except right after a block dropped.
    for t in 1..prompts.len() {
        let prev = messages(&prompts[t - 1]);
        let now = messages(&prompts[t]);
        let stable = &prev[..prev.len() - 2];
        let dropped = expected.contains(&t);
        assert_eq!(
            now.starts_with(stable),
            !dropped,
            "turn {} (block dropped before it: {dropped})",
            t + 1
        );
    }

    // Kept in Chatwoot, merged with the conversation's other attributes.
    let attributes = w.chatwoot.conversation_attributes(81);
    assert!(
        attributes["wa_agent_summary"]
            .as_str()
            .unwrap_or("")
            .contains("BMW X5"),
        "{attributes}"
    );
    assert!(
        attributes.as_object().unwrap().len() > 1,
        "other attributes kept: {attributes}"
    );

    // Cold cache: Redis flushed; the next prompt has the summary and the history back from Chatwoot.
    w.redis.command(&["FLUSHALL"]);
    say(&w, "SUM13", "Which car did I ask about?").await;
    assert!(w.waha.wait_for_sent(13, WAIT).await);
    let prompts = turns(&w.llm);
    let cold = messages(prompts.last().unwrap());
    assert!(
        cold.iter().any(|(r, c)| r == "system" && c.contains("BMW X5")),
        "summary restored: {cold:?}"
    );
    assert!(
        cold.iter().any(|(_, c)| c == "Question 12 about delivery"),
        "history restored: {cold:?}"
    );
}

#[tokio::test]
async fn a_failed_summary_keeps_the_block_and_is_tried_again_after_the_next_turn() {
    let w = world(json!({}), &[("HISTORY_WINDOW", "6")]).await;
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sent_at_summary = Arc::new(Mutex::new(Vec::new()));
    let inner = summarising_brain(w.waha.clone(), sent_at_summary.clone());
    let fail = failing.clone();
    // An empty answer is an unusable reply: the summary call fails.
    w.llm.set_brain(Arc::new(move |req: &Value| {
        let text = inner(req);
        if is_summary(req) && fail.load(std::sync::atomic::Ordering::SeqCst) {
            String::new()
        } else {
            text
        }
    }));
    let history = format!("wa-agent:history:{CHAT}");
    for n in 1..=5 {
        let text = if n == 1 {
            "I want the BMW X5".to_owned()
        } else {
            format!("Question {n}")
        };
        say(&w, &format!("FAIL{n}"), &text).await;
        assert!(w.waha.wait_for_sent(n, WAIT).await);
    }
    assert!(
        eventually(WAIT, || !sent_at_summary.lock().unwrap().is_empty()).await,
        "summary tried after turn 5"
    );
    w.app.run_until_idle().await;
    assert_eq!(
        w.redis.list(&history).len(),
        10,
        "the block stays while the summary fails"
    );
    assert!(
        w.chatwoot
            .conversation_attributes(81)
            .get("wa_agent_summary")
            .is_none()
    );

    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    say(&w, "FAIL6", "Question 6").await;
    assert!(w.waha.wait_for_sent(6, WAIT).await);
    assert!(
        eventually(WAIT, || w.redis.list(&history).len() == 6).await,
        "tried again after turn 6; the block left"
    );
    let attributes = w.chatwoot.conversation_attributes(81);
    assert!(
        attributes["wa_agent_summary"]
            .as_str()
            .unwrap_or("")
            .contains("BMW X5"),
        "{attributes}"
    );
}

#[tokio::test]
async fn without_history_summary_the_block_leaves_without_a_model_call() {
    let w = world(
        json!({}),
        &[("HISTORY_WINDOW", "6"), ("HISTORY_SUMMARY", "false")],
    )
    .await;
    for n in 1..=5 {
        say(&w, &format!("NOSUM{n}"), &format!("Question {n}")).await;
        assert!(w.waha.wait_for_sent(n, WAIT).await);
    }
    let history = format!("wa-agent:history:{CHAT}");
    assert!(
        eventually(WAIT, || w.redis.list(&history).len() == 6).await,
        "a whole block left after turn 5"
    );
    assert!(w.llm.requests().iter().all(|r| !is_summary(r)), "no summary call");
    assert_eq!(w.llm.requests().len(), 5);
}
