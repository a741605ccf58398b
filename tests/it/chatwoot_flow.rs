//! Chatwoot both ways over HTTP: human replies, handoff, echoes, signed webhooks. The fake Chatwoot
//! posts its account webhook back to the service for everything that happens, as a real API inbox
//! does (the service's own messages included).

use std::time::Duration;

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_chatwoot::FakeChatwoot;
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::message;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

const TOKEN: &str = "cw-token";
const SECRET: &str = "chatwoot-test-secret";
const CHAT: &str = "31641238876@c.us";

struct World {
    _redis: RedisServer,
    llm: FakeLlm,
    waha: FakeWaha,
    cw: FakeChatwoot,
    app: TestApp,
}

async fn world(extra: &[(&str, &str)]) -> World {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let waha = FakeWaha::start("k").await;
    let cw = FakeChatwoot::start(3, 7, TOKEN).await;
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("WAHA_BASE_URL", waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("LLM_BASE_URL", llm.url()),
        ("CHATWOOT_BASE_URL", cw.url()),
        ("CHATWOOT_API_TOKEN", TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("CHATWOOT_WEBHOOK_SECRET", SECRET.into()),
        ("DEBOUNCE_MS", "100".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v.to_string()));
    }
    let app = spawn_app(&vars).await;
    cw.set_webhook(&format!("{}/webhooks/chatwoot", app.url), Some(SECRET));
    World {
        _redis: redis,
        llm,
        waha,
        cw,
        app,
    }
}

fn sign(ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn customer_says(w: &World, id: &str, text: &str) {
    let resp = w.app.post("/webhooks/waha", message(CHAT, id, text), &[]).await;
    assert_eq!(resp.status(), 200);
}

/// The first turn: the customer writes, the agent answers, the conversation exists.
async fn first_turn(w: &World) -> u64 {
    customer_says(w, "FIRST001", "Goedemiddag, is de X5 er nog?").await;
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    // The reply goes out before the exchange is mirrored: wait for the mirror.
    assert!(
        eventually(Duration::from_secs(10), || w
            .cw
            .conversation_for_chat(CHAT)
            .is_some())
        .await
    );
    let conv = w.cw.conversation_for_chat(CHAT).expect("conversation");
    assert!(w.cw.wait_for_messages(conv, 2, Duration::from_secs(5)).await);
    conv
}

fn public_texts(cw: &FakeChatwoot, conv: u64) -> Vec<(i64, String)> {
    cw.messages(conv)
        .iter()
        .filter(|m| m["private"] == false && m["message_type"] != 2)
        .map(|m| {
            (
                m["message_type"].as_i64().unwrap(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn bad_stale_and_missing_signatures_are_refused() {
    let w = world(&[]).await;
    let path = format!(
        "{}/tests/fixtures/chatwoot/webhook_message_created_outgoing_human.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body = serde_json::to_vec(&v).unwrap();
    let ts = now().to_string();
    let cases: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![], 401),
        (
            vec![
                ("X-Chatwoot-Timestamp", ts.clone()),
                ("X-Chatwoot-Signature", "sha256=00".into()),
            ],
            401,
        ),
        (
            vec![
                ("X-Chatwoot-Timestamp", ts.clone()),
                ("X-Chatwoot-Signature", sign(&ts, b"other")),
            ],
            401,
        ),
        {
            let stale = (now() - 301).to_string();
            (
                vec![
                    ("X-Chatwoot-Timestamp", stale.clone()),
                    ("X-Chatwoot-Signature", sign(&stale, &body)),
                ],
                401,
            )
        },
        (
            vec![
                ("X-Chatwoot-Timestamp", ts.clone()),
                ("X-Chatwoot-Signature", sign(&ts, &body)),
            ],
            200,
        ),
    ];
    for (headers, expected) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = w.app.post("/webhooks/chatwoot", body.clone(), &h).await;
        assert_eq!(resp.status().as_u16(), expected, "{headers:?}");
        if expected == 401 {
            let e: Value = resp.json().await.unwrap();
            assert_eq!(e["error"]["code"], "invalid_signature");
        }
    }
    w.app.stop().await;
}

#[tokio::test]
async fn a_human_reply_reaches_whatsapp_and_the_next_llm_request() {
    let w = world(&[]).await;
    let conv = first_turn(&w).await;
    let human = "Hoi Sanne, Mark hier. Proefrit & taxatie staan vast voor zaterdag.";
    w.cw.human_reply(conv, human);
    assert!(
        w.waha.wait_for_sent(2, Duration::from_secs(10)).await,
        "the human reply went out"
    );
    assert_eq!(w.waha.sent_to(CHAT)[1], human);

    // The human took the chat: hand it back to the bot, then the customer writes again.
    w.cw.set_status(conv, "pending");
    w.app.run_until_quiet(&w.cw).await;
    customer_says(&w, "AFTER001", "Top, tot zaterdag!").await;
    assert!(w.llm.wait_for_requests(2, Duration::from_secs(10)).await);
    let req = w.llm.requests().pop().unwrap();
    let msgs = req["messages"].as_array().unwrap();
    assert!(
        msgs.iter()
            .any(|m| m["role"] == "assistant" && m["content"] == human),
        "the agent knows what the human said: {req}"
    );
    // The human's message is in Chatwoot once (it was typed there), not mirrored again.
    let copies = public_texts(&w.cw, conv)
        .iter()
        .filter(|(_, t)| t == human)
        .count();
    assert_eq!(copies, 1);
    w.app.stop().await;
}

#[tokio::test]
async fn echoes_of_everything_the_service_creates_never_trigger_a_second_reply() {
    let w = world(&[]).await;
    first_turn(&w).await;
    assert!(
        w.cw.wait_for_deliveries(3, Duration::from_secs(5)).await,
        "the fake echoed the bridge's messages"
    );
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(w.waha.sent().len(), 1, "no second reply: {:?}", w.waha.sent());
    assert_eq!(w.llm.requests().len(), 1);
    let deliveries = w.cw.deliveries();
    assert!(
        deliveries.iter().all(|(_, status)| *status == 200),
        "every delivery acknowledged: {deliveries:?}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn an_open_conversation_silences_the_agent_but_keeps_mirroring_and_remembering() {
    let w = world(&[]).await;
    let conv = first_turn(&w).await;
    w.cw.set_status(conv, "open");
    w.app.run_until_quiet(&w.cw).await;
    customer_says(&w, "OPEN0001", "Hallo? Is daar iemand?").await;
    let mirrored = eventually(Duration::from_secs(10), || {
        public_texts(&w.cw, conv)
            .iter()
            .any(|(_, t)| t == "Hallo? Is daar iemand?")
    })
    .await;
    assert!(mirrored, "the customer's message is still mirrored");
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(w.waha.sent().len(), 1, "the agent stayed silent");
    assert_eq!(w.llm.requests().len(), 1, "the model was not even asked");

    // Back to pending and unassigned: the agent answers again, remembering the silent message.
    w.cw.set_status(conv, "pending");
    w.app.run_until_quiet(&w.cw).await;
    customer_says(&w, "OPEN0002", "Nog steeds interesse!").await;
    assert!(w.waha.wait_for_sent(2, Duration::from_secs(10)).await);
    let req = w.llm.requests().pop().unwrap();
    assert!(req.to_string().contains("Hallo? Is daar iemand?"), "{req}");
    w.app.stop().await;
}

#[tokio::test]
async fn a_human_assignee_silences_the_agent_even_while_pending() {
    let w = world(&[]).await;
    let conv = first_turn(&w).await;
    w.cw.set_assignee(conv, Some(14));
    w.app.run_until_quiet(&w.cw).await;
    customer_says(&w, "ASSG0001", "Mark, ben jij daar?").await;
    assert!(
        eventually(Duration::from_secs(10), || public_texts(&w.cw, conv)
            .iter()
            .any(|(_, t)| t == "Mark, ben jij daar?"))
        .await
    );
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(w.waha.sent().len(), 1, "silent while a human is assigned");
    w.cw.set_assignee(conv, None);
    w.app.run_until_quiet(&w.cw).await;
    customer_says(&w, "ASSG0002", "Hallo?").await;
    assert!(
        w.waha.wait_for_sent(2, Duration::from_secs(10)).await,
        "pending and unassigned: answering again"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_status_flip_while_the_llm_thinks_stops_that_reply() {
    let w = world(&[]).await;
    let conv = first_turn(&w).await;
    w.llm.set_delay(Duration::from_secs(2));
    customer_says(&w, "FLIP0001", "Kan ik morgen langskomen?").await;
    assert!(w.llm.wait_for_requests(2, Duration::from_secs(10)).await);
    w.cw.set_status(conv, "open");
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(
        w.waha.sent().len(),
        1,
        "the reply drafted before the handoff was not sent"
    );
    assert!(
        public_texts(&w.cw, conv)
            .iter()
            .any(|(_, t)| t == "Kan ik morgen langskomen?"),
        "still mirrored"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn the_handoff_tool_opens_the_conversation_with_a_note_and_says_only_the_handoff_message() {
    let w = world(&[("HANDOFF_MESSAGE", "Een collega neemt het gesprek over.")]).await;
    let conv = first_turn(&w).await;
    let offered = &w.llm.requests()[0]["tools"];
    assert!(
        offered.to_string().contains("handoff_to_human"),
        "the tool is offered: {offered}"
    );
    w.llm.handoff_next("trade_in");
    customer_says(&w, "TOOL0001", "Ik wil mijn Volvo inruilen.").await;
    assert!(w.waha.wait_for_sent(2, Duration::from_secs(10)).await);
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(w.waha.sent_to(CHAT)[1], "Een collega neemt het gesprek over.");
    assert_eq!(w.waha.sent().len(), 2, "nothing else reached the customer");
    assert!(
        eventually(Duration::from_secs(5), || w.cw.conversations()[0]["status"]
            == "open")
        .await
    );
    let notes: Vec<String> =
        w.cw.messages(conv)
            .iter()
            .filter(|m| m["private"] == true)
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
    assert!(
        notes.iter().any(|n| n.contains("trade_in")),
        "private note with the reason: {notes:?}"
    );
    // Silent from now on.
    customer_says(&w, "TOOL0002", "Hallo?").await;
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(w.waha.sent().len(), 2);
    w.app.stop().await;
}

#[tokio::test]
async fn a_human_reply_that_cannot_be_sent_is_reported_and_sent_on_retry() {
    let w = world(&[]).await;
    let conv = first_turn(&w).await;
    w.waha.set_fail(Some(401));
    let id = w.cw.human_reply(conv, "Uw auto is klaar.");
    let failed = eventually(Duration::from_secs(10), || {
        w.cw.message(id).is_some_and(|m| m["status"] == "failed")
    })
    .await;
    assert!(failed, "reported back as failed: {:?}", w.cw.message(id));
    w.waha.set_fail(None);
    w.cw.retry_message(id);
    assert!(
        w.waha.wait_for_sent(2, Duration::from_secs(10)).await,
        "sent after the agent pressed retry"
    );
    assert_eq!(w.waha.sent_to(CHAT)[1], "Uw auto is klaar.");
    w.cw.retry_message(id);
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(w.waha.sent().len(), 2, "a delivered message is not sent again");
    w.app.stop().await;
}

#[tokio::test]
async fn a_resolved_conversation_reopened_by_the_customer_is_the_agents_again() {
    let w = world(&[]).await;
    let old = first_turn(&w).await;
    w.cw.set_status(old, "resolved");
    w.app.run_until_quiet(&w.cw).await;
    customer_says(&w, "BACK0001", "Ik ben er weer, nog een vraag over de X5.").await;
    assert!(
        w.waha.wait_for_sent(2, Duration::from_secs(10)).await,
        "the agent answers the returning customer"
    );
    let fresh = eventually(Duration::from_secs(10), || {
        w.cw.conversations()
            .iter()
            .any(|c| c["id"].as_u64() != Some(old) && c["status"] == "pending")
    })
    .await;
    assert!(fresh, "a new pending conversation: {:?}", w.cw.conversations());
    let new_id =
        w.cw.conversations()
            .iter()
            .find_map(|c| c["id"].as_u64().filter(|id| *id != old))
            .unwrap();
    assert!(w.cw.wait_for_messages(new_id, 2, Duration::from_secs(5)).await);
    let texts = public_texts(&w.cw, new_id);
    assert_eq!(
        texts[0],
        (0, "Ik ben er weer, nog een vraag over de X5.".to_owned())
    );
    // And the memory spans both conversations.
    let req = w.llm.requests().pop().unwrap();
    assert!(req.to_string().contains("is de X5 er nog?"), "{req}");
    w.app.stop().await;
}
