//! The core turn over HTTP: WAHA webhook → per-chat Redis history over Chatwoot → LLM → reply and
//! mirror. Redis is a real `redis-server`; Chatwoot, WAHA and the LLM are fakes built from the fixtures.

use std::time::Duration;

use crate::support::app::{TestApp, eventually, eventually_async, spawn_app};
use crate::support::fake_chatwoot::{FakeChatwoot, SeedMessage};
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::stack::no_keys;
use crate::support::waha_hooks::{fixture, message};
use serde_json::Value;

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
    let app = spawn_app(&vars).await;
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
/// tests in `time_and_memory.rs`.
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
async fn a_message_300ms_after_the_first_is_answered_in_the_same_turn() {
    let w = world(&[("DEBOUNCE_MS", "1000")]).await;
    w.llm.set_delay(Duration::from_secs(2));
    post_ok(&w.app, message(CHAT, "BURST001", "Hallo, ik zoek een auto.")).await;
    // The second message arrives while the chat's holder waits out the debounce.
    assert!(
        eventually(Duration::from_secs(5), || !no_keys(&w.redis, "test:lease:*")).await,
        "the chat is taken"
    );
    post_ok(&w.app, message(CHAT, "BURST002", "Het liefst een BMW X5.")).await;
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(10)).await);
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
