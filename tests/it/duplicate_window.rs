//! The duplicate window, over the built binary with real Redis: a worker killed after the gateway
//! accepted a reply but before the turn's commit leaves a send intent; the instance that takes the
//! chat over finishes that reply from it without asking the model again. WAHA and Evolution API can
//! read the chat back, so nothing reaches the customer twice; the Cloud API cannot, so the part is sent
//! again and counted.

use std::time::Duration;

use crate::support::app::eventually;
use crate::support::fake_chatwoot::FakeChatwoot;
use crate::support::fake_evolution::FakeEvolution;
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_meta::FakeMeta;
use crate::support::fake_waha::FakeWaha;
use crate::support::proc::Instance;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::{fixture, message};
use serde_json::Value;

const TOKEN: &str = "cw-token";
const GRAPH_TOKEN: &str = "EAAG-intent-token";
const CHAT: &str = "31641238876@c.us";
const CLOUD_CHAT: &str = "31628471930";
const EVO_KEY: &str = "B6D7F1E2A3C44E5F9A0B1C2D3E4F5A6B";
const EVO_CHAT: &str = "31611987345@s.whatsapp.net";

struct Fakes {
    llm: FakeLlm,
    waha: FakeWaha,
    graph: FakeMeta,
    evo: FakeEvolution,
    chatwoot: FakeChatwoot,
}

async fn fakes() -> Fakes {
    Fakes {
        llm: FakeLlm::start().await,
        waha: FakeWaha::start("k").await,
        graph: FakeMeta::start(GRAPH_TOKEN).await,
        evo: FakeEvolution::start(EVO_KEY, "vandermeer-verkoop").await,
        chatwoot: FakeChatwoot::start(3, 7, TOKEN).await,
    }
}

/// The instance that dies waits long on the gateway (so a held answer never makes it retry); the
/// one taking over runs with the shortest timeouts, so its reclaim deadline is 3 × (1 + 2 × 1) + 10
/// = 19 s.
fn vars(redis: &RedisServer, f: &Fakes, dies: bool, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let http_timeout = if dies { "30" } else { "1" };
    let mut v: Vec<(&'static str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("WAHA_BASE_URL", f.waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("META_GRAPH_BASE_URL", f.graph.url()),
        ("META_ACCESS_TOKEN", GRAPH_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", "618273645019283".into()),
        ("EVOLUTION_BASE_URL", f.evo.url()),
        ("EVOLUTION_API_KEY", EVO_KEY.into()),
        ("EVOLUTION_INSTANCE", "vandermeer-verkoop".into()),
        ("LLM_BASE_URL", f.llm.url()),
        ("CHATWOOT_BASE_URL", f.chatwoot.url()),
        ("CHATWOOT_API_TOKEN", TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("DEBOUNCE_MS", "100".into()),
        ("SEND_PRESENCE", "false".into()),
        ("LLM_TIMEOUT_SECS", "1".into()),
        ("HTTP_TIMEOUT_SECS", http_timeout.into()),
    ];
    for (k, val) in extra {
        v.retain(|(name, _)| name != k);
        let key: &'static str = Box::leak(k.to_string().into_boxed_str());
        v.push((key, val.to_string()));
    }
    v
}

fn intent_exists(redis: &RedisServer, chat: &str) -> bool {
    redis
        .command(&["EXISTS", &format!("wa-agent:intent:{chat}")])
        .is_some_and(|r| r.starts_with(":1"))
}

/// The value of `wa_agent_possible_duplicate_replies_total{gateway="…"}` (0 when absent).
async fn possible_duplicates(instance: &Instance, gateway: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", instance.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("wa_agent_possible_duplicate_replies_total{{gateway=\"{gateway}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// The customer's and the agent's messages in the chat's Chatwoot conversation, as `(incoming, text)`.
fn mirrored(f: &Fakes, chat: &str) -> Vec<(bool, String)> {
    let Some(id) = f.chatwoot.conversation_for_chat(chat) else {
        return Vec::new();
    };
    f.chatwoot
        .messages(id)
        .iter()
        .filter(|m| m["message_type"] != 2 && m["private"] != true)
        .map(|m| {
            (
                m["message_type"] == 0,
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Kill `a` while the fake gateway holds what it just accepted, start a new instance and wait until
/// it committed the turn (`history_len` entries).
async fn take_over(
    redis: &RedisServer,
    f: &Fakes,
    mut a: Instance,
    chat: &str,
    history_len: usize,
    extra: &[(&str, &str)],
) -> Instance {
    assert!(
        intent_exists(redis, chat),
        "the intent is recorded before the send"
    );
    a.kill9();
    f.waha.release();
    f.graph.release();
    f.evo.release();
    let b = Instance::start(&vars(redis, f, false, extra));
    assert!(b.wait_up(Duration::from_secs(20)).await);
    let key = format!("wa-agent:history:{chat}");
    let committed = eventually(Duration::from_secs(60), || redis.list(&key).len() >= history_len).await;
    assert!(
        committed,
        "the new instance takes over and commits:\n{}",
        b.logs()
    );
    // Anything else it would send goes out right after the commit's mirror: wait until it has done all.
    redis.run_until_idle(Duration::from_secs(30)).await;
    b
}

#[tokio::test]
async fn waha_takeover_after_the_send_was_accepted_sends_nothing_again() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.waha.hold_answer_of(1);
    let a = Instance::start(&vars(&redis, &f, true, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let body = message(CHAT, "DUPW0001", "Hebben jullie een BMW X5?");
    assert_eq!(a.post("/webhooks/waha", body).await, 200);
    assert!(
        f.waha.wait_for_held(Duration::from_secs(10)).await,
        "{}",
        a.logs()
    );

    let b = take_over(&redis, &f, a, CHAT, 2, &[]).await;
    let reply = "Antwoord op: Hebben jullie een BMW X5?".to_owned();
    assert_eq!(
        f.waha.sent_to(CHAT),
        vec![reply.clone()],
        "the customer got it once"
    );
    assert!(f.waha.reads() >= 1, "the chat was read back");
    assert_eq!(f.llm.requests().len(), 1, "the model was asked once");
    let history = redis.list(&format!("wa-agent:history:{CHAT}"));
    assert_eq!(history.len(), 2, "the exchange once: {history:?}");
    assert!(history[1].contains("r-DUPW0001") && history[1].contains(&reply));
    assert!(!intent_exists(&redis, CHAT), "the commit deleted the intent");
    assert_eq!(possible_duplicates(&b, "waha").await, 0.0);
    let mirrored_once = eventually(Duration::from_secs(10), || mirrored(&f, CHAT).len() >= 2).await;
    assert!(mirrored_once, "{}", b.logs());
    assert_eq!(
        mirrored(&f, CHAT),
        vec![(true, "Hebben jullie een BMW X5?".to_owned()), (false, reply)],
        "Chatwoot shows the exchange once"
    );
    assert!(
        b.logs().contains("reply part already in the chat"),
        "{}",
        b.logs()
    );
}

#[tokio::test]
async fn evolution_takeover_after_the_send_was_accepted_sends_nothing_again() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.evo.hold_answer_of(1);
    let a = Instance::start(&vars(&redis, &f, true, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    // The body's own `apikey` field carries the key.
    let body = fixture("evolution/webhook_messages_upsert_pn_twin.json");
    assert_eq!(a.post("/webhooks/evolution", body).await, 200);
    assert!(f.evo.wait_for_held(Duration::from_secs(10)).await, "{}", a.logs());

    let b = take_over(&redis, &f, a, EVO_CHAT, 2, &[]).await;
    let sent = f.evo.sent_to("31611987345");
    assert_eq!(sent.len(), 1, "the customer got it once: {sent:?}");
    let reads = f.evo.reads();
    assert!(!reads.is_empty(), "the chat was read back");
    assert_eq!(reads[0]["where"]["key"]["remoteJid"], EVO_CHAT);
    assert_eq!(f.llm.requests().len(), 1, "the model was asked once");
    let history = redis.list(&format!("wa-agent:history:{EVO_CHAT}"));
    assert_eq!(history.len(), 2, "the exchange once: {history:?}");
    assert!(history[1].contains(&sent[0]), "{history:?}");
    assert!(!intent_exists(&redis, EVO_CHAT), "the commit deleted the intent");
    assert_eq!(possible_duplicates(&b, "evolution").await, 0.0);
    assert!(
        b.logs().contains("reply part already in the chat"),
        "{}",
        b.logs()
    );
}

#[tokio::test]
async fn cloud_api_takeover_sends_again_and_counts_a_possible_duplicate() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.graph.hold_answer_of(1);
    let a = Instance::start(&vars(&redis, &f, true, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let body = fixture("meta/webhook_text_message.json");
    assert_eq!(a.post("/webhooks/meta", body).await, 200);
    assert!(
        f.graph.wait_for_held(Duration::from_secs(10)).await,
        "{}",
        a.logs()
    );

    let b = take_over(&redis, &f, a, CLOUD_CHAT, 2, &[]).await;
    let sent = f.graph.sent_to(CLOUD_CHAT);
    assert_eq!(sent.len(), 2, "sent again: no way to tell it arrived: {sent:?}");
    assert_eq!(sent[0], sent[1], "the same reply, not a new one");
    assert_eq!(f.llm.requests().len(), 1, "the model was asked once");
    assert_eq!(possible_duplicates(&b, "meta").await, 1.0);
    let history = redis.list(&format!("wa-agent:history:{CLOUD_CHAT}"));
    assert_eq!(history.len(), 2, "the reply is recorded once: {history:?}");
    assert!(!intent_exists(&redis, CLOUD_CHAT));
}

#[tokio::test]
async fn a_multi_part_reply_killed_after_part_one_sends_only_part_two() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let p1 = "Ja, de BMW X5 xDrive50e staat nog bij ons in de showroom en is direct beschikbaar.";
    let p2 = "Een proefrit kan zaterdag tussen tien en vier uur; neem gerust uw rijbewijs mee.";
    let text = format!("{p1}\n\n{p2}");
    f.llm
        .set_brain(std::sync::Arc::new(move |_: &Value| text.clone()));
    f.waha.hold_after(1);
    let extra = [("REPLY_MAX_CHARS", "100")];
    let a = Instance::start(&vars(&redis, &f, true, &extra));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let body = message(CHAT, "DUPM0001", "Is de X5 er nog? Proefrit zaterdag?");
    assert_eq!(a.post("/webhooks/waha", body).await, 200);
    assert!(
        f.waha.wait_for_held(Duration::from_secs(10)).await,
        "{}",
        a.logs()
    );
    assert_eq!(
        f.waha.sent_to(CHAT),
        vec![p1.to_owned()],
        "part 1 went out, part 2 is held"
    );

    let _b = take_over(&redis, &f, a, CHAT, 3, &extra).await;
    assert_eq!(
        f.waha.sent_to(CHAT),
        vec![p1.to_owned(), p2.to_owned()],
        "part 2 only"
    );
    assert_eq!(f.llm.requests().len(), 1, "the model was asked once");
    let history = redis.list(&format!("wa-agent:history:{CHAT}"));
    assert_eq!(history.len(), 3, "question and both parts, once: {history:?}");
    assert!(history[1].contains("r-DUPM0001\"") && history[2].contains("r-DUPM0001-1"));
}

#[tokio::test]
async fn a_failed_waha_read_back_sends_again_and_counts_a_possible_duplicate() {
    let redis = RedisServer::start();
    let f = fakes().await;
    f.waha.hold_answer_of(1);
    f.waha.set_read_fail(Some(500));
    let a = Instance::start(&vars(&redis, &f, true, &[]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let body = message(CHAT, "DUPR0001", "Wat kost de X5?");
    assert_eq!(a.post("/webhooks/waha", body).await, 200);
    assert!(
        f.waha.wait_for_held(Duration::from_secs(10)).await,
        "{}",
        a.logs()
    );

    let b = take_over(&redis, &f, a, CHAT, 2, &[]).await;
    let reply = "Antwoord op: Wat kost de X5?".to_owned();
    assert_eq!(f.waha.sent_to(CHAT), vec![reply.clone(), reply]);
    assert!(f.waha.reads() >= 1, "the read back was tried");
    assert_eq!(possible_duplicates(&b, "waha").await, 1.0);
    assert_eq!(f.llm.requests().len(), 1);
    assert_eq!(redis.list(&format!("wa-agent:history:{CHAT}")).len(), 2);
}

#[tokio::test]
async fn a_normal_turn_leaves_no_intent_behind() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let p1 = "Ja, de BMW X5 xDrive50e staat nog bij ons in de showroom en is direct beschikbaar.";
    let p2 = "Een proefrit kan zaterdag tussen tien en vier uur; neem gerust uw rijbewijs mee.";
    let text = format!("{p1}\n\n{p2}");
    f.llm
        .set_brain(std::sync::Arc::new(move |_: &Value| text.clone()));
    let a = Instance::start(&vars(&redis, &f, false, &[("REPLY_MAX_CHARS", "100")]));
    assert!(a.wait_up(Duration::from_secs(20)).await);
    assert_eq!(
        a.post("/webhooks/waha", message(CHAT, "NORM0001", "Is de X5 er nog?"))
            .await,
        200
    );
    let key = format!("wa-agent:history:{CHAT}");
    assert!(eventually(Duration::from_secs(10), || redis.list(&key).len() == 3).await);
    assert_eq!(f.waha.sent_to(CHAT), vec![p1.to_owned(), p2.to_owned()]);
    let keys = redis.command(&["KEYS", "wa-agent:intent:*"]).unwrap();
    assert!(keys.starts_with("*0"), "no intent left: {keys:?}");
    assert_eq!(f.waha.reads(), 0, "a normal turn reads nothing back");
    assert_eq!(possible_duplicates(&a, "waha").await, 0.0);
}
