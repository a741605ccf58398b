//! The differences the property test found, each kept as a fixed sequence (the embedded store was
//! fixed to match Redis, or Redis to match the trait's word where Redis broke it), and the expiry of
//! short TTLs on both.

use super::*;

/// Run fixed sequences as cases on one server.
fn regression(ops: &[Op]) {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(model::run_case(&server, ops)) {
        panic!("{e}");
    }
}

/// Redis keeps the dedupe marker in whole seconds (`SET … NX EX`); the embedded store kept the
/// exact TTL, so a 1.5 s window lasted half a second longer there.
#[test]
fn regression_the_dedupe_ttl_is_whole_seconds() {
    regression(&[Op::Accept {
        chat: 0,
        msg: 1,
        ttl: Ttl::Odd,
    }]);
}

/// The oldest age is the oldest unacknowledged signal's (the work stream's first entry); the
/// embedded store answered the oldest inbox entry's, so it differed once signals were acknowledged
/// with work still in the inbox, and when a signal came from `signal` alone.
#[test]
fn regression_the_oldest_age_is_the_oldest_signal() {
    regression(&[
        Op::Accept {
            chat: 0,
            msg: 1,
            ttl: Ttl::Long,
        },
        Op::NextSignals { consumer: 0, max: 1 },
        Op::Ack { nth: 0 },
        Op::QueueStats,
        Op::Signal { chat: 1 },
        Op::QueueStats,
    ]);
}

/// Reclaiming and resuming take the oldest pending signals first, as `XAUTOCLAIM` and
/// `XREADGROUP … 0` do; the embedded store took them in hash order; and a count of 0 reads one.
#[test]
fn regression_pending_signals_are_taken_oldest_first() {
    regression(&[
        Op::Signal { chat: 0 },
        Op::Signal { chat: 1 },
        Op::Signal { chat: 0 },
        Op::NextSignals { consumer: 0, max: 3 },
        Op::Reclaim {
            consumer: 1,
            idle: 0,
            count: 1,
        },
        Op::OwnPending { consumer: 0, max: 1 },
        Op::OwnPending { consumer: 0, max: 0 },
        Op::Reclaim {
            consumer: 0,
            idle: 0,
            count: 0,
        },
    ]);
}

/// Edge counts: a window of 0 is refused by both (Redis's script failed on `LTRIM key -0 -1`, the
/// embedded store emptied the history), a peek of 0 jobs answers none (`LRANGE 0 -1` answered all),
/// a read of 0 events reads one (`COUNT` is at least 1).
#[test]
fn regression_edge_counts_answer_alike() {
    regression(&[
        Op::Commit {
            chat: 0,
            consumed: 0,
            entries: vec![1, 2, 3],
            window: 0,
            ttl: Ttl::Long,
            jobs: vec![1, 2],
            dead: None,
        },
        Op::Fill {
            chat: 0,
            entries: vec![4],
            window: 0,
            ttl: Ttl::Long,
        },
        Op::OutboxPeek { chat: 0, n: 0 },
        Op::AppendEvent {
            chat: 0,
            body: 1,
            cap: 3,
            ttl: Ttl::Long,
        },
        Op::AppendEvent {
            chat: 0,
            body: 2,
            cap: 3,
            ttl: Ttl::Long,
        },
        Op::EventsAfter {
            chat: 0,
            after: None,
            max: 0,
        },
    ]);
}

/// Expiry on both: leases, locks, markers, values, intents and logs set with a short TTL are gone
/// after the wait, on Redis and on the embedded store alike.
#[test]
fn short_ttls_run_out_alike() {
    regression(&[
        Op::AcquireLease {
            chat: 0,
            holder: 0,
            ttl: Ttl::Short,
        },
        Op::TryLock {
            name: 0,
            holder: 0,
            ttl: Ttl::Short,
        },
        Op::SetMarker {
            marker: 3,
            ttl: Ttl::Short,
        },
        Op::SaveChatState {
            chat: 1,
            value: 1,
            ttl: Ttl::Short,
        },
        Op::RecordIntent {
            chat: 0,
            parts: 2,
            ttl: Ttl::Short,
        },
        Op::AppendEvent {
            chat: 1,
            body: 1,
            cap: 2,
            ttl: Ttl::Short,
        },
        Op::ClaimConsumer {
            instance: 0,
            ttl: Ttl::Short,
        },
        Op::Wait,
        Op::TryLock {
            name: 0,
            holder: 1,
            ttl: Ttl::Long,
        },
        Op::RefreshConsumer {
            instance: 1,
            ttl: Ttl::Long,
        },
        Op::AcquireLease {
            chat: 0,
            holder: 2,
            ttl: Ttl::Long,
        },
    ]);
}

/// A read that may not wait answers at once on both: Redis's `BLOCK 0` waited for ever (until the
/// command timed out), where the embedded store answered at once.
#[test]
fn regression_a_read_without_a_wait_answers_at_once() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let redis = RedisStore::connect(&server.url(), "zero:")
            .await
            .expect("connect");
        let stores: [Arc<dyn Store>; 2] = [Arc::new(redis), Arc::new(MemoryStore::new())];
        for store in stores {
            let started = std::time::Instant::now();
            let read = store.next_signals("w1", 1, Duration::ZERO).await.expect("read");
            assert!(read.is_empty(), "{} read {read:?}", store.kind());
            store.signal("c1").await.expect("signal");
            let read = store
                .next_signals("w1", 1, Duration::from_micros(300))
                .await
                .expect("read");
            assert_eq!(read.len(), 1, "{}", store.kind());
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "{} waited",
                store.kind()
            );
        }
    });
}
