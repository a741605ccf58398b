//! Crash recovery in seconds (INTERFACE behaviour 14), at process level: the built binary is killed
//! mid-turn and restarted under its `CONSUMER_NAME`, replaced by another instance, or duplicated under
//! one name, against a real `redis-server` with fakes of Chatwoot, WAHA and the LLM.

use std::time::{Duration, Instant};

use crate::support::proc::Instance;
use crate::support::redis::RedisServer;
use crate::support::stack::{fakes, no_keys, pending_signals, vars};
use crate::support::waha_hooks::message;

const CHAT: &str = "31641238876@c.us";
const HISTORY: &str = "wa-agent:history:31641238876@c.us";

#[tokio::test]
async fn killed_mid_turn_and_restarted_under_its_name_answers_once_within_20_s() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let settings = vars(
        &redis,
        &f,
        &[("LLM_TIMEOUT_SECS", "30"), ("CONSUMER_NAME", "node-a")],
    );
    // The model hangs on the first call: the turn is in the middle of it when the process dies.
    f.llm.set_delay(Duration::from_secs(60));
    let mut a = Instance::start(&settings);
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let body = message(CHAT, "KILL0001", "Hebben jullie een BMW X5?");
    assert_eq!(a.post("/webhooks/waha", body).await, 200);
    assert!(
        f.llm.wait_for_requests(1, Duration::from_secs(10)).await,
        "turn started"
    );
    a.kill9();
    let killed = Instant::now();
    f.llm.set_delay(Duration::ZERO);
    assert!(f.waha.sent().is_empty(), "killed before it could answer");

    let again = Instance::start(&settings);
    assert!(
        f.waha.wait_for_sent(1, Duration::from_secs(20)).await,
        "the restarted instance resumes its own work:\n{}",
        again.logs()
    );
    let took = killed.elapsed();
    println!("kill -9 → answer, restarted under the same CONSUMER_NAME: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    // The log is read from the child's pipe by another thread: wait for the line, do not race it.
    assert!(
        again
            .wait_log("resumed this consumer's unfinished work", Duration::from_secs(5))
            .await,
        "{}",
        again.logs()
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(f.waha.sent_to(CHAT), ["Antwoord op: Hebben jullie een BMW X5?"]);
    let history = redis.list(HISTORY);
    assert_eq!(history.len(), 2, "the exchange once: {history:?}");
    assert_eq!(pending_signals(&redis), 0, "nothing left pending");
}

#[tokio::test]
async fn killed_mid_turn_for_good_its_chat_is_taken_over_by_another_instance_within_20_s() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let settings = vars(&redis, &f, &[("LLM_TIMEOUT_SECS", "30")]);
    f.llm.set_delay(Duration::from_secs(60));
    let mut a = Instance::start(&settings);
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let body = message(CHAT, "KILL0002", "Is de X5 nog te koop?");
    assert_eq!(a.post("/webhooks/waha", body).await, 200);
    assert!(
        f.llm.wait_for_requests(1, Duration::from_secs(10)).await,
        "turn started on a"
    );
    // The other instance (its own default name, host:port) runs while the first dies.
    let b = Instance::start(&settings);
    assert!(b.wait_up(Duration::from_secs(20)).await);
    assert!(
        b.wait_log("workers started", Duration::from_secs(10)).await,
        "{}",
        b.logs()
    );
    a.kill9();
    let killed = Instant::now();
    f.llm.set_delay(Duration::ZERO);

    assert!(
        f.waha.wait_for_sent(1, Duration::from_secs(20)).await,
        "the other instance takes the chat over:\n{}",
        b.logs()
    );
    let took = killed.elapsed();
    println!("kill -9 → answer by another instance: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    // The log is read from the child's pipe by another thread: wait for the line, do not race it.
    assert!(
        b.wait_log("reclaimed abandoned work", Duration::from_secs(5))
            .await,
        "{}",
        b.logs()
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(f.waha.sent_to(CHAT), ["Antwoord op: Is de X5 nog te koop?"]);
    assert_eq!(redis.list(HISTORY).len(), 2);
    assert!(no_keys(&redis, "wa-agent:lease:*"), "lease released");
}

#[tokio::test]
async fn a_live_turn_with_a_40_s_model_is_never_taken_over() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let settings = vars(&redis, &f, &[("LLM_TIMEOUT_SECS", "60")]);
    f.llm.set_delay(Duration::from_secs(40));
    let a = Instance::start(&settings);
    assert!(a.wait_up(Duration::from_secs(20)).await);
    let body = message(CHAT, "SLOW0001", "Wat kost de X5?");
    assert_eq!(a.post("/webhooks/waha", body).await, 200);
    assert!(f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let b = Instance::start(&settings);
    assert!(b.wait_up(Duration::from_secs(20)).await);
    assert!(
        f.waha.wait_for_sent(1, Duration::from_secs(50)).await,
        "{}",
        a.logs()
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(f.waha.sent_to(CHAT), ["Antwoord op: Wat kost de X5?"]);
    assert_eq!(f.llm.requests().len(), 1, "the model was asked once: no takeover");
    assert!(!b.logs().contains("reclaimed abandoned work"), "{}", b.logs());
}

#[tokio::test]
async fn a_second_live_instance_under_one_name_takes_it_and_the_first_stops_working() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let settings = vars(&redis, &f, &[("CONSUMER_NAME", "twin")]);
    f.llm.set_delay(Duration::from_secs(3));
    let a = Instance::start(&settings);
    assert!(a.wait_up(Duration::from_secs(20)).await);
    // A turn of the first instance is running when the second one starts under the same name.
    let body = message(CHAT, "TWIN0001", "Hallo, ik zoek een auto");
    assert_eq!(a.post("/webhooks/waha", body).await, 200);
    assert!(f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let b = Instance::start(&settings);
    assert!(b.wait_up(Duration::from_secs(20)).await);
    assert!(
        a.wait_log("took the name over", Duration::from_secs(5)).await,
        "the first instance says why it stops:\n{}",
        a.logs()
    );
    assert!(a.logs().contains("stops taking work"));
    assert!(
        b.logs().contains("registered by an earlier instance"),
        "{}",
        b.logs()
    );

    // Whichever instance the webhooks reach, only the newcomer works.
    f.llm.set_delay(Duration::ZERO);
    let chats: Vec<String> = (0..4).map(|i| format!("3160000100{i}@c.us")).collect();
    for (i, chat) in chats.iter().enumerate() {
        let target = if i % 2 == 0 { &a } else { &b };
        let body = message(chat, &format!("TWIN100{i}"), &format!("vraag {i}"));
        assert_eq!(target.post("/webhooks/waha", body).await, 200);
    }
    assert!(
        f.waha.wait_for_sent(5, Duration::from_secs(20)).await,
        "{:?}\n{}",
        f.waha.sent(),
        b.logs()
    );
    redis.run_until_idle(Duration::from_secs(30)).await;
    assert_eq!(
        f.waha.sent_to(CHAT),
        ["Antwoord op: Hallo, ik zoek een auto"],
        "the running turn answered once, by the newcomer"
    );
    for (i, chat) in chats.iter().enumerate() {
        assert_eq!(f.waha.sent_to(chat), [format!("Antwoord op: vraag {i}")]);
    }
    assert!(
        !a.logs().contains("turn finished"),
        "the first instance finished no turn:\n{}",
        a.logs()
    );
    // The log is read from the child's pipe by another thread: wait for the line, do not race it.
    assert!(
        b.wait_log("resumed this consumer's unfinished work", Duration::from_secs(5))
            .await,
        "{}",
        b.logs()
    );
}
