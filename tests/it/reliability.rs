//! Nothing lost, nothing twice, at process level: the built binary is killed, stopped and run twice
//! against a real `redis-server`, with fakes of Chatwoot, WAHA and the LLM.

use std::time::{Duration, Instant};

use crate::support::app::{eventually, eventually_async};
use crate::support::proc::{Instance, run_command};
use crate::support::redis::RedisServer;
use crate::support::stack::{fakes, no_keys, pending_signals, vars};
use crate::support::waha_hooks::message;

const CHAT: &str = "31641238876@c.us";

#[tokio::test]
async fn a_worker_killed_mid_turn_is_replaced_and_the_turn_completes_once() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.llm.set_delay(Duration::from_millis(1500));
    let mut a = Instance::start(&vars(&redis, &f, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    assert_eq!(
        a.post(
            "/webhooks/waha",
            message(CHAT, "KILL0001", "Hebben jullie een BMW X5?")
        )
        .await,
        200
    );
    assert!(
        f.llm.wait_for_requests(1, Duration::from_secs(10)).await,
        "turn started"
    );
    a.kill9();
    assert!(f.waha.sent().is_empty(), "killed before it could answer");

    // Another instance (another CONSUMER_NAME) reclaims the dead one's work once its signal is idle
    // for RECLAIM_AFTER_SECS (12 s): the 10 s lease has expired by then.
    let b = Instance::start(&vars(&redis, &f, &[]));
    assert!(b.wait_up(Duration::from_secs(20)).await);
    assert!(
        f.waha.wait_for_sent(1, Duration::from_secs(20)).await,
        "the new instance reclaims and answers:\n{}",
        b.logs()
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(f.waha.sent().len(), 1, "exactly one reply");
    let history = redis.list("wa-agent:history:31641238876@c.us");
    assert_eq!(history.len(), 2, "the exchange once: {history:?}");
    assert!(history[0].contains("KILL0001") && history[1].contains("r-KILL0001"));
    // The log is read from the child's pipe by another thread: wait for the line, do not race it.
    assert!(
        b.wait_log("reclaimed abandoned work", Duration::from_secs(5))
            .await,
        "{}",
        b.logs()
    );
}

#[tokio::test]
async fn two_instances_sharing_one_chat_answer_in_order_once_per_turn() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.llm.set_delay(Duration::from_millis(200));
    let a = Instance::start(&vars(&redis, &f, &[]));
    let b = Instance::start(&vars(&redis, &f, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await && b.wait_up(Duration::from_secs(20)).await);
    for i in 0..6 {
        let target = if i % 2 == 0 { &a } else { &b };
        let body = message(CHAT, &format!("ALT{i:05}"), &format!("vraag {i}"));
        assert_eq!(target.post("/webhooks/waha", body).await, 200);
        // Each message is its own turn: the next one arrives once this one is answered.
        assert!(
            f.waha.wait_for_sent(i + 1, Duration::from_secs(20)).await,
            "{:?}",
            f.waha.sent_to(CHAT)
        );
    }
    assert!(
        f.waha.wait_for_sent(6, Duration::from_secs(20)).await,
        "{:?}",
        f.waha.sent_to(CHAT)
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    let sent = f.waha.sent_to(CHAT);
    let expected: Vec<String> = (0..6).map(|i| format!("Antwoord op: vraag {i}")).collect();
    assert_eq!(sent, expected, "one reply per turn, in order");
    // Each request saw every earlier exchange, whichever instance ran it.
    let last = f.llm.requests().pop().unwrap();
    // System prompt, ten earlier entries, the changing tail (time and hours), the new message.
    assert_eq!(last["messages"].as_array().unwrap().len(), 1 + 10 + 1 + 1);
}

#[tokio::test]
async fn chatwoot_down_for_20_s_delays_only_the_mirror() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let a = Instance::start(&vars(&redis, &f, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    f.chatwoot.set_down(true);
    let down_at = Instant::now();
    let chats = ["31600000001@c.us", "31600000002@c.us"];
    let mut n = 0;
    for round in 0..3 {
        for chat in chats {
            let sent_before = f.waha.sent().len();
            let asked = Instant::now();
            let body = message(
                chat,
                &format!("CWD{round}{n:04}"),
                &format!("{chat} bericht {round}"),
            );
            assert_eq!(a.post("/webhooks/waha", body).await, 200);
            assert!(
                f.waha
                    .wait_for_sent(sent_before + 1, Duration::from_secs(5))
                    .await,
                "answered while Chatwoot is down"
            );
            assert!(
                asked.elapsed() < Duration::from_secs(4),
                "no customer waited for Chatwoot"
            );
            n += 1;
        }
    }
    // Real wait, on purpose: the outage lasts its full 20 s (the scenario), however fast the turns went.
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(down_at.elapsed())).await;
    f.chatwoot.set_down(false);
    let all_there = eventually(Duration::from_secs(30), || {
        chats.iter().all(|c| {
            f.chatwoot
                .conversation_for_chat(c)
                .is_some_and(|id| f.chatwoot.messages(id).len() >= 6)
        })
    })
    .await;
    assert!(
        all_there,
        "the outbox reached Chatwoot once it was back:\n{}",
        a.logs()
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    for chat in chats {
        let id = f.chatwoot.conversation_for_chat(chat).unwrap();
        let texts: Vec<String> = f
            .chatwoot
            .messages(id)
            .iter()
            .filter(|m| m["message_type"] != 2)
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..3)
            .flat_map(|r| {
                [
                    format!("{chat} bericht {r}"),
                    format!("Antwoord op: {chat} bericht {r}"),
                ]
            })
            .collect();
        assert_eq!(texts, expected, "in order, none twice");
    }
}

#[tokio::test]
async fn redis_stopped_and_started_again_loses_nothing_accepted() {
    let mut redis = RedisServer::start_persistent();
    let f = fakes().await;
    let a = Instance::start(&vars(&redis, &f, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for i in 0..12 {
        if i == 4 {
            redis.stop();
        }
        if i == 8 {
            redis.restart();
            // Readiness returns once Redis answers again.
            let http = reqwest::Client::new();
            let ready = eventually_async(Duration::from_secs(10), || async {
                http.get(format!("{}/ready", a.url))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            });
            assert!(ready.await, "ready again");
        }
        let chat = format!("3161000{:04}@c.us", i % 3);
        let id = format!("RDS{i:05}");
        let status = a
            .post("/webhooks/waha", message(&chat, &id, &format!("bericht {i}")))
            .await;
        match status {
            200 => accepted.push((chat, i)),
            503 => refused.push((chat, id, i)),
            other => panic!("unexpected status {other}"),
        }
        if (4..8).contains(&i) {
            assert_eq!(status, 503, "503 while Redis is down");
        }
    }
    // The gateway retries what got 503.
    for (chat, id, i) in &refused {
        assert_eq!(
            a.post("/webhooks/waha", message(chat, id, &format!("bericht {i}")))
                .await,
            200
        );
        accepted.push((chat.clone(), *i));
    }
    let answered = eventually(Duration::from_secs(40), || {
        accepted.iter().all(|(chat, i)| {
            f.waha
                .sent_to(chat)
                .iter()
                .any(|r| r.contains(&format!("bericht {i}")))
        })
    })
    .await;
    assert!(
        answered,
        "every accepted message answered:\n{:?}\n{}",
        f.waha.sent(),
        a.logs()
    );
}

#[tokio::test]
async fn sigterm_during_a_turn_finishes_it_and_exits_0() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.llm.set_delay(Duration::from_millis(1500));
    let mut a = Instance::start(&vars(&redis, &f, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    assert_eq!(
        a.post("/webhooks/waha", message(CHAT, "TERM0001", "Hallo?"))
            .await,
        200
    );
    assert!(f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    a.sigterm();
    let status = a.wait_exit(Duration::from_secs(30)).await.expect("exits");
    assert_eq!(status.code(), Some(0), "{}", a.logs());
    assert_eq!(
        f.waha.sent_to(CHAT),
        vec!["Antwoord op: Hallo?".to_owned()],
        "the turn completed"
    );
    assert_eq!(redis.list("wa-agent:history:31641238876@c.us").len(), 2);
    assert!(no_keys(&redis, "wa-agent:lease:*"), "lease released");
    assert!(no_keys(&redis, "wa-agent:consumer:*"), "consumer name released");
    assert_eq!(pending_signals(&redis), 0, "no pending signal left");
}

#[tokio::test]
async fn a_failing_llm_dead_letters_hands_over_and_replays_once_it_works() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.llm.set_always_fail(Some(500));
    let a = Instance::start(&vars(&redis, &f, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    assert_eq!(
        a.post("/webhooks/waha", message(CHAT, "DLQ00001", "Wat kost de X5?"))
            .await,
        200
    );
    let settings = vars(&redis, &f, &[]);
    let dead = eventually(Duration::from_secs(20), || {
        run_command(&["dlq", "list"], &settings)
            .1
            .contains("1 dead letter(s)")
    })
    .await;
    assert!(dead, "{}", a.logs());
    assert_eq!(f.llm.requests().len(), 3, "three attempts");
    assert!(f.waha.sent().is_empty(), "no error text to the customer");
    // The dead letter is recorded in the turn's commit; the mirror to Chatwoot follows it.
    let mirrored = eventually(Duration::from_secs(10), || {
        f.chatwoot.conversation_for_chat(CHAT).is_some()
    })
    .await;
    assert!(mirrored, "the turn was mirrored");
    let conv = f.chatwoot.conversation_for_chat(CHAT).expect("conversation");
    assert!(
        eventually(Duration::from_secs(10), || f
            .chatwoot
            .conversations()
            .iter()
            .any(|c| c["status"] == "open"))
        .await
    );
    let notes: Vec<String> = f
        .chatwoot
        .messages(conv)
        .iter()
        .filter(|m| m["private"] == true)
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("the agent failed")),
        "handoff note: {notes:?}"
    );
    let (code, out) = run_command(&["dlq", "list"], &settings);
    assert_eq!(code, 0);
    assert!(out.contains(CHAT) && out.contains("LLM answered 500"), "{out}");

    f.llm.set_always_fail(None);
    let (code, out) = run_command(&["dlq", "replay", "--all"], &settings);
    assert_eq!((code, out.contains("replayed 1")), (0, true), "{out}");
    assert!(
        f.waha.wait_for_sent(1, Duration::from_secs(10)).await,
        "answered after the replay"
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(
        f.waha.sent_to(CHAT),
        vec!["Antwoord op: Wat kost de X5?".to_owned()]
    );
    let (_, out) = run_command(&["dlq", "list"], &settings);
    assert!(out.contains("0 dead letter(s)"), "{out}");
    let incoming = f
        .chatwoot
        .messages(conv)
        .iter()
        .filter(|m| m["message_type"] == 0)
        .count();
    assert_eq!(incoming, 1, "the customer's message is in Chatwoot once");
    assert_eq!(redis.list("wa-agent:history:31641238876@c.us").len(), 2);
}
