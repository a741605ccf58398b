//! Signals and consumers on both stores: reclaim after the deadline, batched reads, lease takeover
//! from an earlier incarnation, a consumer's own pending signals, and consumer-name registration.

use super::*;

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
