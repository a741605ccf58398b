//! The queue in the turn: a burst answered in one turn, a draft superseded by a newer message, twenty
//! chats of eight messages in order, a webhook delivered three times, and events that get no reply.

use super::*;

use std::sync::Arc;

use crate::support::app::advancing;
use wa_agent::clock::ManualClock;

#[tokio::test]
async fn a_message_300ms_after_the_first_is_answered_in_the_same_turn() {
    // On a manual clock the debounce lasts until the test moves it: however long the second post
    // takes on wall time, it lands inside the window.
    let clock = ManualClock::starting_now();
    let w = world_on(&[("DEBOUNCE_MS", "1000")], Arc::new(Arc::clone(&clock))).await;
    w.llm.set_delay(Duration::from_secs(2));
    post_ok(&w.app, message(CHAT, "BURST001", "Hallo, ik zoek een auto.")).await;
    // The second message arrives while the chat's holder waits out the debounce.
    assert!(
        eventually(Duration::from_secs(5), || !no_keys(&w.redis, "test:lease:*")).await,
        "the chat is taken"
    );
    post_ok(&w.app, message(CHAT, "BURST002", "Het liefst een BMW X5.")).await;
    let sent = advancing(
        &clock,
        Duration::from_millis(250),
        Duration::from_secs(10),
        || !w.waha.sent_to(CHAT).is_empty(),
    );
    assert!(sent.await);
    w.app.run_until_idle().await;
    for req in w.llm.requests() {
        assert!(
            mentions(&req, "ik zoek een auto") && mentions(&req, "BMW X5"),
            "request lacks a message: {req}"
        );
    }
    let sent = w.waha.sent_to(CHAT);
    assert_eq!(sent.len(), 1, "one reply for the burst: {sent:?}");
    assert!(
        sent[0].contains("ik zoek een auto") && sent[0].contains("BMW X5"),
        "{sent:?}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_message_arriving_while_the_agent_thinks_supersedes_the_draft() {
    // Debounce shorter than the gap: the first turn starts before the second message arrives.
    let w = world(&[("DEBOUNCE_MS", "50")]).await;
    w.llm.set_delay(Duration::from_secs(2));
    post_ok(&w.app, message(CHAT, "SUPER001", "Hallo, ik zoek een auto.")).await;
    // The agent is thinking about the first message when the second arrives.
    assert!(w.llm.wait_for_requests(1, Duration::from_secs(5)).await);
    post_ok(&w.app, message(CHAT, "SUPER002", "Het liefst een BMW X5.")).await;
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(15)).await);
    w.app.run_until_idle().await;
    let sent = w.waha.sent_to(CHAT);
    assert_eq!(
        sent.len(),
        1,
        "the draft without the second message was never sent: {sent:?}"
    );
    assert!(
        sent[0].contains("ik zoek een auto") && sent[0].contains("BMW X5"),
        "{sent:?}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn twenty_chats_times_eight_messages_lose_nothing_and_keep_order() {
    let w = world(&[("DEBOUNCE_MS", "30")]).await;
    w.llm.set_delay(Duration::from_millis(150));
    let chats: Vec<String> = (0..20).map(|i| format!("3160000{i:04}@c.us")).collect();
    let mut tasks = Vec::new();
    for (ci, chat) in chats.iter().enumerate() {
        let (url, chat) = (w.app.url.clone(), chat.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for n in 0..8 {
                let body = message(&chat, &format!("C{ci:02}M{n}"), &format!("chat {ci} message {n}"));
                let resp = http
                    .post(format!("{url}/webhooks/waha"))
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("post");
                assert_eq!(resp.status(), 200);
                // Real wait, on purpose: the input's own rhythm (gaps of 0, 40 and 80 ms) mixes bursts
                // answered in one turn with messages that arrive while a turn runs.
                tokio::time::sleep(Duration::from_millis(40 * (n % 3) as u64)).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    // Every chat is answered until its last message has been part of a sent reply.
    let done = eventually(Duration::from_secs(60), || {
        chats.iter().enumerate().all(|(ci, chat)| {
            w.waha
                .sent_to(chat)
                .last()
                .is_some_and(|r| r.contains(&format!("chat {ci} message 7")))
        })
    })
    .await;
    assert!(done, "every chat got a reply covering its last message");
    w.app.run_until_idle().await;

    let requests = w.llm.requests();
    for (ci, chat) in chats.iter().enumerate() {
        let tag = format!("chat {ci} message ");
        // LLM requests: within each request the chat's messages appear in order; the last request
        // holds all eight (history + new), each exactly once.
        let mine: Vec<Vec<String>> = requests
            .iter()
            .map(|r| {
                request_messages(r)
                    .into_iter()
                    .filter(|(role, _)| role == "user")
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>()
            })
            .filter(|users| users.iter().any(|c| c.starts_with(&tag)))
            .collect();
        for users in &mine {
            let nums: Vec<usize> = users
                .iter()
                .map(|c| c[tag.len()..].parse().expect("num"))
                .collect();
            assert!(
                nums.windows(2).all(|p| p[0] < p[1]),
                "chat {ci} out of order or duplicated: {nums:?}"
            );
        }
        let last = mine.last().expect("requests");
        assert_eq!(
            last.len(),
            8,
            "chat {ci}: the final request holds all eight: {last:?}"
        );

        // Replies: no duplicates.
        let sent = w.waha.sent_to(chat);
        let mut uniq = sent.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), sent.len(), "chat {ci}: duplicate replies {sent:?}");

        // Chatwoot: the eight customer messages in order, each once; each reply once, after the
        // messages it answers.
        let conv = w.chatwoot.conversation_for_chat(chat).expect("conversation");
        assert!(
            w.chatwoot
                .wait_for_messages(conv, 8 + sent.len(), Duration::from_secs(10))
                .await
        );
        let stored = w.chatwoot.messages(conv);
        let incoming: Vec<String> = stored
            .iter()
            .filter(|m| m["message_type"] == 0)
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..8).map(|n| format!("chat {ci} message {n}")).collect();
        assert_eq!(incoming, expected, "chat {ci} in Chatwoot");
        let outgoing: Vec<&str> = stored
            .iter()
            .filter(|m| m["message_type"] == 1)
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            outgoing,
            sent.iter().map(String::as_str).collect::<Vec<_>>(),
            "chat {ci} replies mirrored once"
        );
        let mut seen_customer = 0;
        for m in &stored {
            let content = m["content"].as_str().unwrap();
            if m["message_type"] == 0 {
                seen_customer += 1;
            } else {
                let answered = content
                    .rsplit("message ")
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap();
                assert!(
                    answered < seen_customer,
                    "chat {ci}: reply {content:?} mirrored before its message"
                );
            }
        }
    }
    w.app.stop().await;
}

#[tokio::test]
async fn the_same_webhook_three_times_gets_one_reply() {
    let w = world(&[]).await;
    let body = message(CHAT, "DUP00001", "Hallo!");
    let first = post_ok(&w.app, body.clone()).await;
    assert_eq!(first["status"], "accepted");
    for _ in 0..2 {
        let again = post_ok(&w.app, body.clone()).await;
        assert_eq!(again["status"], "accepted");
        assert_eq!(again["duplicate"], true);
    }
    // The @lid twin of the same WhatsApp message is a duplicate too.
    let twin = post_ok(&w.app, message("183742059381207@lid", "DUP00001", "Hallo!")).await;
    assert_eq!(twin["duplicate"], true);
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    w.app.run_until_idle().await;
    assert_eq!(w.waha.sent().len(), 1);
    assert_eq!(w.llm.requests().len(), 1);
    w.app.stop().await;
}

#[tokio::test]
async fn own_messages_groups_statuses_and_other_events_get_no_reply() {
    let w = world(&[]).await;
    for name in [
        "waha/webhook_message_any_from_api.json",
        "waha/webhook_message_group.json",
        "waha/webhook_message_ack.json",
        "waha/webhook_session_status.json",
    ] {
        let v = post_ok(&w.app, fixture(name)).await;
        assert_eq!(v["status"], "ignored", "{name}");
        assert!(
            v["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{name} says why"
        );
    }
    let mut from_me: Value =
        serde_json::from_slice(&message(CHAT, "MINE0001", "typed on the phone")).unwrap();
    from_me["payload"]["fromMe"] = true.into();
    from_me["payload"]["id"] = format!("true_{CHAT}_MINE0001").into();
    let v = post_ok(&w.app, serde_json::to_vec(&from_me).unwrap()).await;
    assert_eq!(v["status"], "ignored");
    let mut status: Value =
        serde_json::from_slice(&message("status@broadcast", "STATUS01", "my status")).unwrap();
    status["payload"]["from"] = "status@broadcast".into();
    let v = post_ok(&w.app, serde_json::to_vec(&status).unwrap()).await;
    assert_eq!(v["status"], "ignored");
    w.app.run_until_idle().await;
    assert!(w.waha.sent().is_empty());
    assert!(w.llm.requests().is_empty());
    w.app.stop().await;
}
