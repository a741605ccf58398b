//! The store's guarantees, checked on the Redis store (a real `redis-server`) and on its embedded
//! twin with the same scenarios, so the two stay alike. Here: accept, leases, commits, fills, outboxes
//! and dead letters; `signals` (reclaim, batches, takeover, own pending work, consumer names) and
//! `chat_state` (event logs and send intents).

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

mod chat_state;
mod signals;
