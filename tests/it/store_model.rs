//! The two stores proven alike: random sequences of every [`Store`] operation run against the Redis
//! store (a real `redis-server`, one per run, a fresh key prefix per case) and the embedded store,
//! comparing after every step what each answers and what each then holds: inboxes, histories,
//! intents, outboxes, values, markers, leases, dead letters, queue figures, event logs, and every
//! key's TTL (Redis's `PTTL` against the embedded store's expiry, within a tolerance).
//!
//! What may legitimately differ is normalised: stream and event ids become their rank among the ids
//! the case has seen (the same order means the same ranks), sets and hashes are sorted, ages and TTLs
//! are compared within [`TOLERANCE`]. The fixed sequences at the end are the differences this test
//! found, kept as regression cases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::redis::RedisServer;
use fred::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestCaseError, TestRunner};
use wa_agent::domain::{ChannelKind, ChatEvent, Envelope, HistoryEntry, InboundMessage, Role};
use wa_agent::store::keys::Keys;
use wa_agent::store::memory::MemoryStore;
use wa_agent::store::redis::RedisStore;
use wa_agent::store::{EventId, Marker, SendIntent, Signal, Store, StoreError, TurnCommit};

/// Cases per run and operations per case: enough to reach every operation many times, fast in CI.
const CASES: u32 = 48;
const MAX_OPS: usize = 40;
/// How far the two stores' ages and TTLs may be apart (they are read a moment apart).
const TOLERANCE: i64 = 150;
/// A TTL that runs out within a case, the wait that outlasts it, and a long one.
const SHORT: Duration = Duration::from_millis(700);
const WAIT: Duration = Duration::from_millis(900);
const LONG: Duration = Duration::from_secs(100);
/// Not whole seconds: Redis keeps the dedupe marker in seconds (`SET … EX`).
const ODD: Duration = Duration::from_millis(1_500);

const CHATS: [&str; 2] = ["c1", "c2"];
const HOLDERS: [&str; 3] = ["w1/1", "w1/2", "w2/1"];
const PREFIXES: [&str; 2] = ["w1/", "w2/"];
const CONSUMERS: [&str; 2] = ["w1", "w2"];
const LOCKS: [&str; 2] = ["sweep", "other"];
const INSTANCES: [&str; 2] = ["i1", "i2"];
const IDLE: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(400),
    Duration::from_secs(3600),
];

#[derive(Debug, Clone, Copy)]
enum Ttl {
    Short,
    Long,
    Odd,
}

impl Ttl {
    fn get(self) -> Duration {
        match self {
            Ttl::Short => SHORT,
            Ttl::Long => LONG,
            Ttl::Odd => ODD,
        }
    }
}

/// One operation, with small indexes into the names above so that operations meet.
#[derive(Debug, Clone)]
enum Op {
    Ping,
    Accept {
        chat: usize,
        msg: u8,
        ttl: Ttl,
    },
    NextSignals {
        consumer: usize,
        max: usize,
    },
    Ack {
        nth: usize,
    },
    Reclaim {
        consumer: usize,
        idle: usize,
        count: usize,
    },
    QueueStats,
    Signal {
        chat: usize,
    },
    TryLock {
        name: usize,
        holder: usize,
        ttl: Ttl,
    },
    AcquireLease {
        chat: usize,
        holder: usize,
        ttl: Ttl,
    },
    RenewLease {
        chat: usize,
        holder: usize,
        ttl: Ttl,
        nth: usize,
        consumer: usize,
    },
    ReleaseIfIdle {
        chat: usize,
        holder: usize,
    },
    ReleaseLease {
        chat: usize,
        holder: usize,
    },
    HoldsLease {
        chat: usize,
        holder: usize,
    },
    TakeLease {
        chat: usize,
        holder: usize,
        ttl: Ttl,
        prefix: usize,
        keep: usize,
    },
    OwnPending {
        consumer: usize,
        max: usize,
    },
    ClaimConsumer {
        instance: usize,
        ttl: Ttl,
    },
    RefreshConsumer {
        instance: usize,
        ttl: Ttl,
    },
    ReleaseConsumer {
        instance: usize,
    },
    Inbox {
        chat: usize,
    },
    Commit {
        chat: usize,
        consumed: usize,
        entries: Vec<u8>,
        window: usize,
        ttl: Ttl,
        jobs: Vec<u8>,
        dead: Option<u8>,
    },
    SendIntent {
        chat: usize,
    },
    RecordIntent {
        chat: usize,
        parts: usize,
        ttl: Ttl,
    },
    MarkIntent {
        chat: usize,
        part: usize,
        gateway: Option<u8>,
    },
    History {
        chat: usize,
    },
    Fill {
        chat: usize,
        entries: Vec<u8>,
        window: usize,
        ttl: Ttl,
    },
    DropFront {
        chat: usize,
        n: usize,
    },
    ChatState {
        chat: usize,
    },
    SaveChatState {
        chat: usize,
        value: u8,
        ttl: Ttl,
    },
    Summary {
        chat: usize,
    },
    SaveSummary {
        chat: usize,
        value: u8,
        ttl: Ttl,
    },
    HasMarker {
        marker: usize,
    },
    SetMarker {
        marker: usize,
        ttl: Ttl,
    },
    ClearMarker {
        marker: usize,
    },
    OutboxPeek {
        chat: usize,
        n: usize,
    },
    OutboxPop {
        chat: usize,
        job: u8,
    },
    OutboxReplace {
        chat: usize,
        old: u8,
        new: u8,
    },
    DeadLetters,
    Replay {
        dead: u8,
        chat: usize,
        envelopes: usize,
    },
    OutboxChats,
    AppendEvent {
        chat: usize,
        body: u8,
        cap: usize,
        ttl: Ttl,
    },
    EventsAfter {
        chat: usize,
        after: Option<usize>,
        max: usize,
    },
    Wait,
}

fn ttl() -> impl Strategy<Value = Ttl> {
    prop_oneof![4 => Just(Ttl::Long), 2 => Just(Ttl::Short), 1 => Just(Ttl::Odd)]
}

fn ids() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..6, 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CHATS.len();
    let h = 0..HOLDERS.len();
    prop_oneof![
        Just(Op::Ping),
        (c.clone(), 0u8..6, ttl()).prop_map(|(chat, msg, ttl)| Op::Accept { chat, msg, ttl }),
        (0..2usize, 0..3usize).prop_map(|(consumer, max)| Op::NextSignals { consumer, max }),
        (0..8usize).prop_map(|nth| Op::Ack { nth }),
        (0..2usize, 0..IDLE.len(), 0..3usize).prop_map(|(consumer, idle, count)| Op::Reclaim {
            consumer,
            idle,
            count
        }),
        Just(Op::QueueStats),
        c.clone().prop_map(|chat| Op::Signal { chat }),
        (0..2usize, h.clone(), ttl()).prop_map(|(name, holder, ttl)| Op::TryLock { name, holder, ttl }),
        (c.clone(), h.clone(), ttl()).prop_map(|(chat, holder, ttl)| Op::AcquireLease { chat, holder, ttl }),
        (c.clone(), h.clone(), ttl(), 0..8usize, 0..2usize).prop_map(|(chat, holder, ttl, nth, consumer)| {
            Op::RenewLease {
                chat,
                holder,
                ttl,
                nth,
                consumer,
            }
        }),
        (c.clone(), h.clone()).prop_map(|(chat, holder)| Op::ReleaseIfIdle { chat, holder }),
        (c.clone(), h.clone()).prop_map(|(chat, holder)| Op::ReleaseLease { chat, holder }),
        (c.clone(), h.clone()).prop_map(|(chat, holder)| Op::HoldsLease { chat, holder }),
        (c.clone(), h.clone(), ttl(), 0..2usize, 0..HOLDERS.len()).prop_map(
            |(chat, holder, ttl, prefix, keep)| Op::TakeLease {
                chat,
                holder,
                ttl,
                prefix,
                keep
            }
        ),
        (0..2usize, 0..3usize).prop_map(|(consumer, max)| Op::OwnPending { consumer, max }),
        (0..2usize, ttl()).prop_map(|(instance, ttl)| Op::ClaimConsumer { instance, ttl }),
        (0..2usize, ttl()).prop_map(|(instance, ttl)| Op::RefreshConsumer { instance, ttl }),
        (0..2usize).prop_map(|instance| Op::ReleaseConsumer { instance }),
        c.clone().prop_map(|chat| Op::Inbox { chat }),
        (
            c.clone(),
            0..3usize,
            ids(),
            0..5usize,
            ttl(),
            ids(),
            prop::option::of(0u8..3)
        )
            .prop_map(|(chat, consumed, entries, window, ttl, jobs, dead)| Op::Commit {
                chat,
                consumed,
                entries,
                window,
                ttl,
                jobs,
                dead
            }),
        c.clone().prop_map(|chat| Op::SendIntent { chat }),
        (c.clone(), 1..3usize, ttl()).prop_map(|(chat, parts, ttl)| Op::RecordIntent { chat, parts, ttl }),
        (c.clone(), 0..3usize, prop::option::of(0u8..3)).prop_map(|(chat, part, gateway)| Op::MarkIntent {
            chat,
            part,
            gateway
        }),
        c.clone().prop_map(|chat| Op::History { chat }),
        (c.clone(), ids(), 0..5usize, ttl()).prop_map(|(chat, entries, window, ttl)| Op::Fill {
            chat,
            entries,
            window,
            ttl
        }),
        (c.clone(), 0..4usize).prop_map(|(chat, n)| Op::DropFront { chat, n }),
        c.clone().prop_map(|chat| Op::ChatState { chat }),
        (c.clone(), 0u8..3, ttl()).prop_map(|(chat, value, ttl)| Op::SaveChatState { chat, value, ttl }),
        c.clone().prop_map(|chat| Op::Summary { chat }),
        (c.clone(), 0u8..3, ttl()).prop_map(|(chat, value, ttl)| Op::SaveSummary { chat, value, ttl }),
        (0..MARKERS).prop_map(|marker| Op::HasMarker { marker }),
        (0..MARKERS, ttl()).prop_map(|(marker, ttl)| Op::SetMarker { marker, ttl }),
        (0..MARKERS).prop_map(|marker| Op::ClearMarker { marker }),
        (c.clone(), 0..3usize).prop_map(|(chat, n)| Op::OutboxPeek { chat, n }),
        (c.clone(), 0u8..6).prop_map(|(chat, job)| Op::OutboxPop { chat, job }),
        (c.clone(), 0u8..6, 0u8..6).prop_map(|(chat, old, new)| Op::OutboxReplace { chat, old, new }),
        Just(Op::DeadLetters),
        (0u8..3, c.clone(), 0..3usize).prop_map(|(dead, chat, envelopes)| Op::Replay {
            dead,
            chat,
            envelopes
        }),
        Just(Op::OutboxChats),
        (c.clone(), 0u8..9, 0..4usize, ttl()).prop_map(|(chat, body, cap, ttl)| Op::AppendEvent {
            chat,
            body,
            cap,
            ttl
        }),
        (c, prop::option::of(0..6usize), 0..4usize).prop_map(|(chat, after, max)| Op::EventsAfter {
            chat,
            after,
            max
        }),
    ]
}

/// A case: up to [`MAX_OPS`] operations, a quarter of the cases with one wait somewhere (so that
/// short TTLs run out) and the rest without (so the run stays fast).
fn case() -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(op(), 1..MAX_OPS),
        prop::option::weighted(0.25, 0..MAX_OPS),
    )
        .prop_map(|(mut ops, wait)| {
            if let Some(at) = wait {
                ops.insert(at.min(ops.len()), Op::Wait);
            }
            ops
        })
}

const MARKERS: usize = 4;

fn marker(i: usize) -> Marker<'static> {
    match i {
        0 => Marker::HistoryIncomplete("c1"),
        1 => Marker::HumanReplyDelivered(1),
        2 => Marker::HumanReplyDelivered(2),
        _ => Marker::OutOfOfficeSent {
            chat: "c2",
            period: "p1",
        },
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

fn entries(ids: &[u8]) -> Vec<HistoryEntry> {
    ids.iter()
        .map(|i| HistoryEntry {
            id: format!("h{i}"),
            role: Role::Customer,
            text: format!("text h{i}"),
            at: 1,
        })
        .collect()
}

mod model;

#[test]
fn both_stores_answer_and_hold_the_same_on_random_sequences() {
    model::check_random_cases();
}

mod regressions;
