//! The summary beyond the window (`HISTORY_WINDOW=6`) on the system clock: the first car kept through
//! the summary, one summary per dropped block after that turn's reply, prefix stability, the summary
//! kept in Chatwoot and restored with the history after a cold cache; a failed summary retried; none
//! asked for when `HISTORY_SUMMARY=false`.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wa_agent::history::block_drop;

use super::{CHAT, WAIT, is_summary, messages, say, turns, world};
use crate::support;
use crate::support::app::eventually;
use crate::support::fake_llm::default_brain;
use crate::support::fake_waha::FakeWaha;

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
    let w = world(json!({}), &[("HISTORY_WINDOW", "6")], wa_agent::clock::system()).await;
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
    let w = world(json!({}), &[("HISTORY_WINDOW", "6")], wa_agent::clock::system()).await;
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
        wa_agent::clock::system(),
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
