//! The store's guarantees, checked on the Redis store (a real `redis-server`) and on its embedded
//! twin with the same scenarios, so the two stay alike.

use std::sync::Arc;
use std::time::Duration;

use crate::support::app::{eventually_async, eventually_some};
use crate::support::redis::RedisServer;

/// How long a key is given to expire once its TTL has passed (the stores' clocks, polled).
const EXPIRY: Duration = Duration::from_secs(5);
use wa_agent::domain::{ChannelKind, ChatEvent, Envelope, HistoryEntry, InboundMessage, Role};
use wa_agent::store::memory::MemoryStore;
use wa_agent::store::redis::RedisStore;
use wa_agent::store::{Accept, Release, SendIntent, Signal, Store, StoreError, TurnCommit};

const TTL: Duration = Duration::from_secs(3600);

/// One signal at a time, for scenarios that read the stream step by step.
trait NextSignal {
    async fn next_signal(&self, consumer: &str, block: Duration) -> Result<Option<Signal>, StoreError>;
}

impl NextSignal for Arc<dyn Store> {
    async fn next_signal(&self, consumer: &str, block: Duration) -> Result<Option<Signal>, StoreError> {
        Ok(self.next_signals(consumer, 1, block).await?.into_iter().next())
    }
}

fn env(chat: &str, id: &str) -> Envelope {
    Envelope::new(ChatEvent::Customer(InboundMessage {
        channel: ChannelKind::Waha,
        chat_id: chat.into(),
        message_id: id.into(),
        text: format!("text {id}"),
        sender_name: None,
        timestamp: 0,
        media: None,
    }))
}

fn entry(id: &str) -> HistoryEntry {
    HistoryEntry {
        id: id.into(),
        role: Role::Customer,
        text: format!("text {id}"),
        at: 1,
    }
}

fn ids(entries: &[HistoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.id.as_str()).collect()
}

fn commit<'a>(consumed: usize, entries: &'a [HistoryEntry], jobs: &'a [String]) -> TurnCommit<'a> {
    TurnCommit {
        consumed,
        entries,
        window: 4,
        ttl: TTL,
        mirror_jobs: jobs,
        dead_letter: None,
    }
}

async fn stores() -> (RedisServer, Vec<Arc<dyn Store>>) {
    let server = RedisServer::start();
    let redis = RedisStore::connect(&server.url(), "t:").await.expect("connect");
    (server, vec![Arc::new(redis), Arc::new(MemoryStore::new())])
}

#[tokio::test]
async fn accept_dedupes_and_queues_in_one_step() {
    let (_server, stores) = stores().await;
    for s in stores {
        assert_eq!(
            s.accept("waha:a", TTL, &env("c1", "a")).await.unwrap(),
            Accept::Accepted,
            "{}",
            s.kind()
        );
        assert_eq!(
            s.accept("waha:a", TTL, &env("c1", "a")).await.unwrap(),
            Accept::Duplicate
        );
        assert_eq!(
            s.accept("waha:b", TTL, &env("c1", "b")).await.unwrap(),
            Accept::Accepted
        );
        let inbox = s.inbox("c1").await.unwrap();
        assert_eq!(
            inbox
                .iter()
                .map(|e| e.customer().unwrap().message_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let first = s
            .next_signal("w1", Duration::from_millis(200))
            .await
            .unwrap()
            .expect("signal");
        assert_eq!(first.chat_id, "c1");
        assert!(
            s.next_signal("w1", Duration::from_millis(200))
                .await
                .unwrap()
                .is_some(),
            "one signal per accept"
        );
        assert!(
            s.next_signal("w1", Duration::from_millis(100))
                .await
                .unwrap()
                .is_none(),
            "{}",
            s.kind()
        );
    }
}

#[tokio::test]
async fn a_lease_is_released_only_with_an_empty_inbox() {
    let (_server, stores) = stores().await;
    for s in stores {
        assert!(s.acquire_lease("c1", "h1", TTL).await.unwrap());
        assert!(
            !s.acquire_lease("c1", "h2", TTL).await.unwrap(),
            "one holder at a time ({})",
            s.kind()
        );
        s.accept("waha:x", TTL, &env("c1", "x")).await.unwrap();
        assert_eq!(
            s.release_lease_if_idle("c1", "h1").await.unwrap(),
            Release::WorkWaiting
        );
        assert_eq!(s.release_lease_if_idle("c1", "h2").await.unwrap(), Release::Lost);
        s.commit_turn("c1", &commit(1, &[], &[])).await.unwrap();
        assert_eq!(
            s.release_lease_if_idle("c1", "h1").await.unwrap(),
            Release::Released
        );
        assert!(s.acquire_lease("c1", "h2", TTL).await.unwrap());
        assert!(
            s.acquire_lease("c2", "h1", Duration::from_millis(50))
                .await
                .unwrap()
        );
        // Taken as soon as it expired (polled: the expiry runs on the store's clock).
        assert!(
            eventually_async(EXPIRY, || async {
                s.acquire_lease("c2", "h3", TTL).await.unwrap()
            })
            .await,
            "an expired lease can be taken ({})",
            s.kind()
        );
    }
}

#[tokio::test]
async fn commits_append_once_trim_and_consume() {
    let (_server, stores) = stores().await;
    for s in stores {
        for id in ["a", "b", "c"] {
            s.accept(&format!("waha:{id}"), TTL, &env("c1", id))
                .await
                .unwrap();
        }
        let first = [entry("1"), entry("2"), entry("3")];
        s.commit_turn("c1", &commit(2, &first, &["job1".into()]))
            .await
            .unwrap();
        assert_eq!(
            s.inbox("c1").await.unwrap().len(),
            1,
            "two consumed ({})",
            s.kind()
        );
        // A replay of the same entries adds nothing; new ones push the oldest out of the window.
        let again = [entry("2"), entry("3"), entry("4"), entry("5")];
        s.commit_turn("c1", &commit(0, &again, &[])).await.unwrap();
        let h = s.history("c1").await.unwrap().unwrap();
        assert_eq!(ids(&h), ["2", "3", "4", "5"], "{}", s.kind());
        assert_eq!(s.outbox_peek("c1", 10).await.unwrap(), ["job1"]);
        assert_eq!(s.outbox_chats().await.unwrap(), ["c1"]);
    }
}

#[tokio::test]
async fn a_fill_never_clobbers_a_racing_append() {
    let (_server, stores) = stores().await;
    for s in stores {
        // An append landed first (a turn committed while the read-through was paging Chatwoot).
        s.commit_turn("c1", &commit(0, &[entry("new")], &[]))
            .await
            .unwrap();
        s.fill_history("c1", &[entry("old1"), entry("old2"), entry("new")], 4, TTL)
            .await
            .unwrap();
        let h = s.history("c1").await.unwrap().unwrap();
        assert_eq!(ids(&h), ["old1", "old2", "new"], "{}", s.kind());
        // A cold fill starts the list.
        s.fill_history("c2", &[entry("x"), entry("y")], 4, TTL)
            .await
            .unwrap();
        assert_eq!(ids(&s.history("c2").await.unwrap().unwrap()), ["x", "y"]);
        assert!(s.history("c3").await.unwrap().is_none(), "a miss is None");
    }
}

#[tokio::test]
async fn outbox_heads_are_replaced_and_popped_only_when_they_match() {
    let (_server, stores) = stores().await;
    for s in stores {
        s.commit_turn("c1", &commit(0, &[], &["a".into(), "b".into()]))
            .await
            .unwrap();
        s.outbox_replace_head("c1", "zz", "a2").await.unwrap();
        s.outbox_replace_head("c1", "a", "a2").await.unwrap();
        s.outbox_pop("c1", "a").await.unwrap();
        assert_eq!(
            s.outbox_peek("c1", 10).await.unwrap(),
            ["a2", "b"],
            "{}",
            s.kind()
        );
        s.outbox_pop("c1", "a2").await.unwrap();
        s.outbox_pop("c1", "b").await.unwrap();
        assert!(s.outbox_peek("c1", 10).await.unwrap().is_empty());
        assert!(
            s.outbox_chats().await.unwrap().is_empty(),
            "an empty outbox leaves the set ({})",
            s.kind()
        );
    }
}

#[tokio::test]
async fn dead_letters_replay_once() {
    let (_server, stores) = stores().await;
    for s in stores {
        let turn = TurnCommit {
            dead_letter: Some(("d1", r#"{"id":"d1"}"#)),
            ..commit(0, &[], &[])
        };
        s.commit_turn("c1", &turn).await.unwrap();
        assert_eq!(s.dead_letters().await.unwrap(), [r#"{"id":"d1"}"#.to_owned()]);
        assert_eq!(s.queue_stats().await.unwrap().dead_letters, 1);
        assert!(s.replay_dead_letter("d1", "c1", &[env("c1", "r")]).await.unwrap());
        assert!(
            !s.replay_dead_letter("d1", "c1", &[env("c1", "r")]).await.unwrap(),
            "only once ({})",
            s.kind()
        );
        assert_eq!(s.inbox("c1").await.unwrap().len(), 1);
        assert!(
            s.next_signal("w", Duration::from_millis(200))
                .await
                .unwrap()
                .is_some(),
            "replay signals"
        );
    }
}

#[tokio::test]
async fn unacknowledged_signals_are_reclaimed_after_the_deadline() {
    let (_server, stores) = stores().await;
    for s in stores {
        s.accept("waha:a", TTL, &env("c1", "a")).await.unwrap();
        let sig = s
            .next_signal("dead-worker", Duration::from_millis(200))
            .await
            .unwrap()
            .unwrap();
        assert!(
            s.reclaim_signals("w2", Duration::from_millis(300), 10)
                .await
                .unwrap()
                .is_empty(),
            "too early"
        );
        let got = eventually_some(EXPIRY, || async {
            let got = s
                .reclaim_signals("w2", Duration::from_millis(300), 10)
                .await
                .unwrap();
            (!got.is_empty()).then_some(got)
        })
        .await
        .unwrap_or_default();
        assert_eq!(got, vec![sig.clone()], "{}", s.kind());
        // Renewal by the new holder resets the idle time.
        assert!(s.acquire_lease("c1", "w2/1", TTL).await.unwrap());
        // Real waits, on purpose: the signal's idle time runs on Redis's wall clock, and the point is
        // that 350 ms after the reclaim (more than the 300 ms idle limit) the renewal kept it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(s.renew_lease("c1", "w2/1", TTL, &sig, "w2").await.unwrap());
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            s.reclaim_signals("w3", Duration::from_millis(300), 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            s.kind()
        );
        s.ack_signal(&sig).await.unwrap();
        assert_eq!(s.queue_stats().await.unwrap().pending_signals, 0, "{}", s.kind());
    }
}

#[tokio::test]
async fn signals_are_read_in_batches() {
    let (_server, stores) = stores().await;
    for s in stores {
        for i in 0..5 {
            s.accept(&format!("waha:{i}"), TTL, &env(&format!("c{i}"), &i.to_string()))
                .await
                .unwrap();
        }
        let batch = s.next_signals("w", 3, Duration::from_millis(200)).await.unwrap();
        assert_eq!(
            batch.iter().map(|s| s.chat_id.as_str()).collect::<Vec<_>>(),
            ["c0", "c1", "c2"],
            "{}",
            s.kind()
        );
        let rest = s.next_signals("w", 10, Duration::from_millis(200)).await.unwrap();
        assert_eq!(rest.len(), 2, "{}", s.kind());
        assert_eq!(
            s.queue_stats().await.unwrap().pending_signals,
            5,
            "read but not acknowledged"
        );
    }
}

#[tokio::test]
async fn a_lease_is_taken_over_only_from_an_earlier_incarnation_of_the_same_consumer() {
    let (_server, stores) = stores().await;
    for s in stores {
        let kind = s.kind();
        // An earlier incarnation of consumer "node-a" (instance "old") holds c1; consumer "node-b" holds c2.
        assert!(s.acquire_lease("c1", "node-a/old-0", TTL).await.unwrap());
        assert!(s.acquire_lease("c2", "node-b/x-0", TTL).await.unwrap());
        let take = |chat: &'static str, holder: &'static str| {
            let s = s.clone();
            async move {
                s.take_lease(chat, holder, TTL, "node-a/", "node-a/new")
                    .await
                    .unwrap()
            }
        };
        assert!(
            take("c1", "node-a/new-0").await,
            "own earlier lease taken at once ({kind})"
        );
        assert!(s.holds_lease("c1", "node-a/new-0").await.unwrap());
        assert!(
            !s.holds_lease("c1", "node-a/old-0").await.unwrap(),
            "the old holder lost it"
        );
        assert!(
            !take("c1", "node-a/new-1").await,
            "never from this incarnation itself ({kind})"
        );
        assert!(
            !take("c2", "node-a/new-2").await,
            "never from another consumer ({kind})"
        );
        assert!(s.holds_lease("c2", "node-b/x-0").await.unwrap());
        assert!(take("c3", "node-a/new-3").await, "a free lease is taken");
        // A name that only starts like ours is another consumer.
        assert!(s.acquire_lease("c4", "node-ab/y-0", TTL).await.unwrap());
        assert!(!take("c4", "node-a/new-4").await, "{kind}");
        // The old holder's renewal and compare-and-delete now fail.
        let sig = Signal {
            id: "1-0".into(),
            chat_id: "c1".into(),
        };
        assert!(
            !s.renew_lease("c1", "node-a/old-0", TTL, &sig, "node-a")
                .await
                .unwrap()
        );
        assert!(!s.release_lease("c1", "node-a/old-0").await.unwrap(), "{kind}");
        assert!(s.release_lease("c1", "node-a/new-0").await.unwrap(), "{kind}");
        assert!(!s.holds_lease("c1", "node-a/new-0").await.unwrap());
    }
}

#[tokio::test]
async fn own_pending_returns_this_consumers_unacknowledged_signals_only() {
    let (_server, stores) = stores().await;
    for s in stores {
        for (i, chat) in ["c1", "c2", "c3"].iter().enumerate() {
            s.accept(&format!("waha:{i}"), TTL, &env(chat, &i.to_string()))
                .await
                .unwrap();
        }
        let mine = s
            .next_signals("node-a", 2, Duration::from_millis(200))
            .await
            .unwrap();
        let theirs = s
            .next_signals("node-b", 1, Duration::from_millis(200))
            .await
            .unwrap();
        assert_eq!((mine.len(), theirs.len()), (2, 1), "{}", s.kind());
        s.ack_signal(&mine[0]).await.unwrap();
        let pending = s.own_pending("node-a", 100).await.unwrap();
        assert_eq!(pending, vec![mine[1].clone()], "{}", s.kind());
        assert_eq!(s.own_pending("node-b", 100).await.unwrap(), theirs);
        assert!(s.own_pending("node-c", 100).await.unwrap().is_empty());
        // Reading its own pending signals does not read new ones.
        s.accept("waha:9", TTL, &env("c9", "9")).await.unwrap();
        assert_eq!(
            s.own_pending("node-a", 100).await.unwrap().len(),
            1,
            "{}",
            s.kind()
        );
    }
}

#[tokio::test]
async fn a_consumer_name_is_registered_to_the_latest_instance() {
    let (_server, stores) = stores().await;
    let ttl = Duration::from_millis(400);
    for s in stores {
        let kind = s.kind();
        assert_eq!(
            s.claim_consumer("node-a", "i1", ttl).await.unwrap(),
            None,
            "{kind}"
        );
        assert!(s.refresh_consumer("node-a", "i1", ttl).await.unwrap());
        assert_eq!(
            s.claim_consumer("node-a", "i2", ttl).await.unwrap().as_deref(),
            Some("i1"),
            "the newcomer takes the name and learns from whom ({kind})"
        );
        assert!(
            !s.refresh_consumer("node-a", "i1", ttl).await.unwrap(),
            "the earlier one notices ({kind})"
        );
        assert!(s.refresh_consumer("node-a", "i2", ttl).await.unwrap());
        s.release_consumer("node-a", "i1").await.unwrap();
        assert!(
            s.refresh_consumer("node-a", "i2", ttl).await.unwrap(),
            "only its holder releases it"
        );
        // Another name is independent.
        assert_eq!(s.claim_consumer("node-b", "i3", ttl).await.unwrap(), None);
        s.release_consumer("node-a", "i2").await.unwrap();
        assert_eq!(
            s.claim_consumer("node-a", "i4", ttl).await.unwrap(),
            None,
            "released ({kind})"
        );
        // A registration that expired (no heartbeat) is nobody's: the heartbeat registers again.
        // Real wait, on purpose: expiry is only observable through claims and refreshes, which would
        // themselves register the name, so the test waits out the TTL on the store's clock.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(s.refresh_consumer("node-b", "i3", ttl).await.unwrap(), "{kind}");
        assert_eq!(
            s.claim_consumer("node-a", "i5", ttl).await.unwrap(),
            None,
            "expired ({kind})"
        );
    }
}

#[tokio::test]
async fn chat_event_logs_resume_after_an_id_keep_a_cap_and_expire() {
    let (server, stores) = stores().await;
    for s in stores {
        let kind = s.kind();
        let chat = "web:conformance1";
        let mut ids = Vec::new();
        for n in 0..5 {
            let id = s.append_chat_event(chat, &format!("e{n}"), 3, TTL).await.unwrap();
            ids.push(id);
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{kind}: ids increase: {ids:?}"
        );
        // Only the newest 3 are kept; all of them from the start, oldest first.
        let all = s.chat_events_after(chat, None, 10).await.unwrap();
        let bodies: Vec<&str> = all.iter().map(|e| e.body.as_str()).collect();
        assert_eq!(bodies, ["e2", "e3", "e4"], "{kind}");
        assert_eq!(all[0].id, ids[2], "{kind}");
        // Resuming after an id gives exactly the later ones; `max` bounds a read.
        let after = s.chat_events_after(chat, Some(ids[2]), 10).await.unwrap();
        assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), ids[3..], "{kind}");
        let one = s.chat_events_after(chat, Some(ids[2]), 1).await.unwrap();
        assert_eq!(one.len(), 1, "{kind}");
        assert!(
            s.chat_events_after(chat, Some(ids[4]), 10)
                .await
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        // Chats are separate; a chat without a log reads empty.
        assert!(
            s.chat_events_after("web:otherchat", None, 10)
                .await
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        // The log expires after its TTL, counted from its last event.
        let short = "web:expiring1";
        s.append_chat_event(short, "x", 10, Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(
            s.chat_events_after(short, None, 10).await.unwrap().len(),
            1,
            "{kind}"
        );
        assert!(
            eventually_async(EXPIRY, || async {
                s.chat_events_after(short, None, 10).await.unwrap().is_empty()
            })
            .await,
            "{kind}: expired"
        );
    }
    // In Redis the log is one stream under the prefix, with an expiry.
    let ttl = server
        .command(&["PTTL", "t:web-events:web:conformance1"])
        .unwrap();
    let ms: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
    assert!(ms > 0 && ms <= TTL.as_millis() as i64, "PTTL {ttl:?}");
}

#[tokio::test]
async fn a_send_intent_is_marked_per_part_and_deleted_by_the_commit() {
    let (server, stores) = stores().await;
    for s in stores {
        let kind = s.kind();
        assert_eq!(s.send_intent("c1").await.unwrap(), None, "{kind}");
        // Marking without an intent creates nothing.
        s.mark_intent_sent("c1", 0, Some("x")).await.unwrap();
        assert_eq!(s.send_intent("c1").await.unwrap(), None, "{kind}");

        let parts = ["part one".to_owned(), "part two".to_owned()];
        let intent = SendIntent::new(vec!["m1".into(), "m2".into()], None, &parts);
        s.record_send_intent("c1", &intent, TTL).await.unwrap();
        let read = s.send_intent("c1").await.unwrap().expect("recorded");
        assert_eq!(read, intent, "{kind}");
        assert!(read.parts.iter().all(|p| !p.sent), "{kind}");

        s.mark_intent_sent("c1", 0, Some("wamid.A")).await.unwrap();
        let read = s.send_intent("c1").await.unwrap().unwrap();
        assert!(read.parts[0].sent && !read.parts[1].sent, "{kind}");
        assert_eq!(read.parts[0].gateway_id.as_deref(), Some("wamid.A"), "{kind}");
        s.mark_intent_sent("c1", 1, None).await.unwrap();
        let read = s.send_intent("c1").await.unwrap().unwrap();
        assert!(read.parts[1].sent && read.parts[1].gateway_id.is_none(), "{kind}");
        assert_eq!(read.turn, ["m1", "m2"], "{kind}");

        // Another chat's intent is its own; recording again replaces the chat's intent.
        let other = SendIntent::new(vec!["o1".into()], Some("handoff".into()), &parts[..1]);
        s.record_send_intent("c2", &other, TTL).await.unwrap();
        let fresh = SendIntent::new(vec!["m3".into()], None, &parts[1..]);
        s.record_send_intent("c1", &fresh, TTL).await.unwrap();
        assert_eq!(s.send_intent("c1").await.unwrap(), Some(fresh), "{kind}");

        // The commit deletes the chat's intent with everything else, and only that chat's.
        s.accept("waha:m3", TTL, &env("c1", "m3")).await.unwrap();
        s.commit_turn("c1", &commit(1, &[entry("m3")], &[]))
            .await
            .unwrap();
        assert_eq!(s.send_intent("c1").await.unwrap(), None, "{kind}");
        assert_eq!(s.send_intent("c2").await.unwrap(), Some(other), "{kind}");

        // The TTL is a safety net.
        s.record_send_intent("c3", &intent, Duration::from_millis(50))
            .await
            .unwrap();
        assert!(
            eventually_async(EXPIRY, || async { s.send_intent("c3").await.unwrap().is_none() }).await,
            "{kind}"
        );
    }
    let ttl = server.command(&["PTTL", "t:intent:c2"]).unwrap();
    let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(
        ms > 0 && ms <= TTL.as_millis() as i64,
        "Redis intent has a TTL: {ttl}"
    );
}
