//! The embedded store on a manual clock: its expiries follow the store's clock, as Redis's follow
//! Redis's, with the same granularity.

use std::sync::Arc;
use std::time::Duration;

use super::MemoryStore;
use crate::clock::{ManualClock, SharedClock};
use crate::domain::{ChannelKind, ChatEvent, Envelope, InboundMessage};
use crate::store::{Accept, Marker, Store};

fn store() -> (Arc<ManualClock>, MemoryStore) {
    let clock = ManualClock::new(1_000_000);
    let shared: SharedClock = Arc::new(Arc::clone(&clock));
    (clock, MemoryStore::with_clock(shared))
}

fn env(id: &str) -> Envelope {
    Envelope::new(ChatEvent::Customer(InboundMessage {
        channel: ChannelKind::Waha,
        chat_id: "c1".into(),
        message_id: id.into(),
        text: "hi".into(),
        sender_name: None,
        timestamp: 0,
        media: None,
    }))
}

#[tokio::test]
async fn leases_locks_and_markers_expire_on_the_store_clock() {
    let (clock, s) = store();
    let ttl = Duration::from_secs(10);
    assert!(s.acquire_lease("c1", "w1", ttl).await.unwrap());
    assert!(s.try_lock("sweep", "w1", ttl).await.unwrap());
    s.set_marker(Marker::HistoryIncomplete("c1"), ttl).await.unwrap();
    assert_eq!(s.ttl("lease:c1"), Some(ttl));
    clock.advance(Duration::from_millis(9_999));
    assert!(s.holds_lease("c1", "w1").await.unwrap());
    assert!(!s.try_lock("sweep", "w2", ttl).await.unwrap());
    assert!(s.has_marker(Marker::HistoryIncomplete("c1")).await.unwrap());
    assert_eq!(s.ttl("history-incomplete:c1"), Some(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    assert!(!s.holds_lease("c1", "w1").await.unwrap());
    assert!(s.try_lock("sweep", "w2", ttl).await.unwrap());
    assert!(!s.has_marker(Marker::HistoryIncomplete("c1")).await.unwrap());
    assert_eq!(s.ttl("lease:c1"), None);
}

#[tokio::test]
async fn the_dedupe_window_is_kept_in_whole_seconds_as_redis_keeps_it() {
    let (clock, s) = store();
    let e = env("m1");
    let ttl = Duration::from_millis(1_500);
    assert_eq!(s.accept("waha:m1", ttl, &e).await.unwrap(), Accept::Accepted);
    assert_eq!(s.ttl("seen:waha:m1"), Some(Duration::from_secs(1)));
    clock.advance(Duration::from_millis(999));
    assert_eq!(s.accept("waha:m1", ttl, &e).await.unwrap(), Accept::Duplicate);
    clock.advance(Duration::from_millis(1));
    assert_eq!(s.accept("waha:m1", ttl, &e).await.unwrap(), Accept::Accepted);
    let sub_second = Duration::from_millis(10);
    assert_eq!(
        s.accept("waha:m2", sub_second, &env("m2")).await.unwrap(),
        Accept::Accepted
    );
    assert_eq!(s.ttl("seen:waha:m2"), Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn signal_ids_are_stream_ids_and_the_oldest_age_is_the_oldest_signal() {
    let (clock, s) = store();
    s.signal("a").await.unwrap();
    s.signal("b").await.unwrap();
    clock.advance(Duration::from_millis(5));
    s.signal("c").await.unwrap();
    let read = s.next_signals("w", 10, Duration::ZERO).await.unwrap();
    let ids: Vec<&str> = read.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["1000000-0", "1000000-1", "1000005-0"]);
    clock.advance(Duration::from_millis(20));
    let stats = s.queue_stats().await.unwrap();
    assert_eq!((stats.pending_signals, stats.oldest_age_ms), (3, Some(25)));
    s.ack_signal(&read[0]).await.unwrap();
    s.ack_signal(&read[1]).await.unwrap();
    assert_eq!(s.queue_stats().await.unwrap().oldest_age_ms, Some(20));
}

#[tokio::test]
async fn an_event_log_expires_its_ttl_after_the_last_event() {
    let (clock, s) = store();
    let ttl = Duration::from_secs(60);
    s.append_chat_event("web:1", "a", 2, ttl).await.unwrap();
    clock.advance(Duration::from_secs(30));
    s.append_chat_event("web:1", "b", 2, ttl).await.unwrap();
    s.append_chat_event("web:1", "c", 2, ttl).await.unwrap();
    let bodies = |v: Vec<crate::store::LoggedEvent>| v.into_iter().map(|e| e.body).collect::<Vec<_>>();
    assert_eq!(
        bodies(s.chat_events_after("web:1", None, 10).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(s.ttl("web-events:web:1"), Some(ttl));
    clock.advance(ttl);
    assert!(s.chat_events_after("web:1", None, 10).await.unwrap().is_empty());
}

#[test]
fn the_work_stream_keeps_its_cap_dropping_the_oldest() {
    let mut s = super::state::State::default();
    for (i, chat) in ["a", "b", "c", "d"].into_iter().enumerate() {
        s.xadd_capped(chat, 1_000 + i as i64, 3);
    }
    let chats: Vec<&str> = s.stream.values().map(|e| e.chat.as_str()).collect();
    assert_eq!(chats, ["b", "c", "d"]);
    assert_eq!(s.stream.keys().next(), Some(&(1_001, 0)));
}
