//! What send intents add to a turn, measured on wa-agent's own Redis store against a real Redis:
//! the store calls of a turn that replies with one part, with and without the intent, interleaved
//! iteration by iteration so both see the same machine.
//!
//! - without: read the inbox, commit the turn (customer message + reply, inbox consumed);
//! - with: the same plus reading the chat's intent (every turn does, to know whether it reruns one),
//!   recording it before the send and marking the part sent after it; the commit deletes it.
//!
//! Each iteration first accepts one customer message (untimed), over `--chats` chats in turn, with a
//! history window of 20.

use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::json;
use wa_agent::domain::{ChannelKind, ChatEvent, Envelope, HistoryEntry, InboundMessage, Role};
use wa_agent::store::redis::RedisStore;
use wa_agent::store::{SendIntent, Store, TurnCommit};

use crate::args::Args;
use crate::stats;

const TTL: Duration = Duration::from_secs(3600);

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let us = |ns: f64| (ns / 10.0).round() / 100.0;
    json!({
        "mean_us": us(h.mean()),
        "p50_us": us(h.value_at_quantile(0.50) as f64),
        "p99_us": us(h.value_at_quantile(0.99) as f64),
        "max_us": us(h.max() as f64),
    })
}

fn record(h: &mut Histogram<u64>, since: Instant) {
    h.saturating_record(since.elapsed().as_nanos().clamp(1, 60_000_000_000) as u64);
}

fn envelope(chat: &str, id: &str, text: &str) -> Envelope {
    Envelope::new(ChatEvent::Customer(InboundMessage {
        channel: ChannelKind::Waha,
        chat_id: chat.to_owned(),
        message_id: id.to_owned(),
        text: text.to_owned(),
        sender_name: Some("Bench Customer".into()),
        timestamp: 0,
        media: None,
    }))
}

fn entries(id: &str, text: &str, reply: &str) -> [HistoryEntry; 2] {
    [
        HistoryEntry {
            id: id.to_owned(),
            role: Role::Customer,
            text: text.to_owned(),
            at: 1,
        },
        HistoryEntry {
            id: format!("r-{id}"),
            role: Role::Agent,
            text: reply.to_owned(),
            at: 2,
        },
    ]
}

/// One turn's store calls; `intent` adds the intent's. Returns (turn time, intent calls' time).
async fn turn(store: &RedisStore, chat: &str, id: &str, intent: bool) -> anyhow::Result<(Instant, Duration)> {
    let text = "Hallo, is de BMW X5 xDrive50e nog beschikbaar? Kan ik zaterdag een proefrit maken?";
    let reply = "Ja, de BMW X5 staat nog in de showroom. Zaterdag tussen tien en vier uur kan een proefrit.";
    store
        .accept(&format!("waha:{id}"), TTL, &envelope(chat, id, text))
        .await?;
    let started = Instant::now();
    let mut in_intent = Duration::ZERO;
    let inbox = store.inbox(chat).await?;
    if intent {
        let t = Instant::now();
        let found = store.send_intent(chat).await?;
        anyhow::ensure!(found.is_none(), "an intent outlived its commit");
        let parts = [reply.to_owned()];
        let intent = SendIntent::new(vec![id.to_owned()], None, &parts);
        store.record_send_intent(chat, &intent, TTL).await?;
        // (the gateway send happens here)
        store
            .mark_intent_sent(chat, 0, Some("true_chat_3EB0BENCH"))
            .await?;
        in_intent = t.elapsed();
    }
    let history = entries(id, text, reply);
    let commit = TurnCommit {
        consumed: inbox.len(),
        entries: &history,
        window: 20,
        ttl: TTL,
        mirror_jobs: &[],
        dead_letter: None,
    };
    store.commit_turn(chat, &commit).await?;
    Ok((started, in_intent))
}

/// `intent`: prints the per-turn cost with and without send intents.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let url = args.required("redis")?;
    let iterations: usize = args.get("iterations", 5000)?;
    let chats: usize = args.get("chats", 50)?;
    anyhow::ensure!(
        iterations >= 100 && chats >= 1,
        "--iterations ≥ 100 and --chats ≥ 1"
    );
    let store = RedisStore::connect(&url, "bench-intent:")
        .await
        .context("connect to Redis")?;
    store.ping().await.context("Redis answers")?;
    let (mut without, mut with, mut ops) = (histogram(), histogram(), histogram());
    let warmup = iterations / 10;
    for i in 0..warmup + iterations {
        let chat = i % chats;
        // Alternate which variant goes first, so neither always follows the other.
        let order = if i % 2 == 0 { [false, true] } else { [true, false] };
        for intent in order {
            let chat_id = format!("{}-{chat}@c.us", if intent { "with" } else { "without" });
            let id = format!("M{i:08}{}", u8::from(intent));
            let (started, in_intent) = turn(&store, &chat_id, &id, intent).await?;
            if i < warmup {
                continue;
            }
            if intent {
                record(&mut with, started);
                ops.saturating_record(in_intent.as_nanos().max(1) as u64);
            } else {
                record(&mut without, started);
            }
        }
    }
    let added_mean_us = ((with.mean() - without.mean()) / 10.0).round() / 100.0;
    let added_p99_us =
        ((with.value_at_quantile(0.99) as f64 - without.value_at_quantile(0.99) as f64) / 10.0).round()
            / 100.0;
    let result = json!({
        "iterations": iterations,
        "chats": chats,
        "without": summary(&without),
        "with": summary(&with),
        "intent_calls": summary(&ops),
        "round_trips_without": 2,
        "round_trips_with": 5,
        "added_mean_us": added_mean_us,
        "added_p99_us": added_p99_us,
    });
    stats::print_result(&result);
    println!(
        "{iterations} turns each: store calls without intents mean {} µs p99 {} µs (2 round trips); with intents mean {} µs p99 {} µs (5 round trips); intent calls alone mean {} µs p99 {} µs; added per turn: mean {added_mean_us} µs, p99 {added_p99_us} µs",
        result["without"]["mean_us"],
        result["without"]["p99_us"],
        result["with"]["mean_us"],
        result["with"]["p99_us"],
        result["intent_calls"]["mean_us"],
        result["intent_calls"]["p99_us"],
    );
    Ok(())
}
