//! Turn overhead: a customer message posted to wa-agent → its reply arriving at the fake WAHA, with an
//! instant fake LLM. wa-agent must run with `DEBOUNCE_MS=0` and its `LLM_BASE_URL` / `WAHA_BASE_URL`
//! pointing at `--llm-addr` / `--waha-addr`. Chats run side by side; within a chat each message is
//! sent once the previous reply arrived, as a customer would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::args::Args;
use crate::client::{Conn, Target};
use crate::fakes::Fakes;
use crate::stats;
use crate::webhook;

/// One chat's conversation plan.
pub struct Plan {
    /// The chat.
    pub chat: String,
    /// Chat number within the run (goes into message ids).
    pub number: usize,
    /// Messages to send, one per turn.
    pub turns: usize,
    /// Bytes per customer message.
    pub message_bytes: usize,
    /// Run id.
    pub run: u32,
    /// Mean pause between a reply and the chat's next message (the customer reading and typing);
    /// zero makes every chat a closed loop, which measures throughput rather than overhead.
    pub think: Duration,
}

/// Drives one chat through its turns; the latency of each in µs.
pub async fn drive_chat(
    plan: Plan,
    fakes: Arc<Fakes>,
    t: Arc<Target>,
    key: Option<String>,
    deadline: Instant,
) -> anyhow::Result<Vec<u64>> {
    let mut replies = fakes.watch(&plan.chat);
    let mut conn = Conn::new();
    let mut out = Vec::with_capacity(plan.turns);
    if !plan.think.is_zero() {
        // Chats start spread over one mean think time, not all in the same instant.
        let spread = ((plan.number * 6151) % 1000) as u32;
        tokio::time::sleep(plan.think * spread / 1000).await;
    }
    for turn in 0..plan.turns {
        let wa_id = format!("T{:08X}C{:05}M{:03}", plan.run, plan.number, turn);
        let text = webhook::text(plan.message_bytes, plan.number * 1000 + turn);
        let body = webhook::message(&plan.chat, &wa_id, &text);
        let sig = key.as_deref().map(|k| webhook::sign(k, &body));
        conn.ensure(&t).await?;
        let sent = Instant::now();
        let status = conn.post(&t, body, sig).await?;
        if !status.is_success() {
            bail!("wa-agent answered {status} for {wa_id}");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let at = tokio::time::timeout(left, replies.recv())
            .await
            .with_context(|| format!("no reply to {} turn {turn} before the deadline", plan.chat))?
            .context("fake WAHA stopped")?;
        out.push(at.saturating_duration_since(sent).as_micros() as u64);
        if !plan.think.is_zero() {
            // Between 0 and twice the mean, spread evenly but repeatably across chats and turns.
            let spread = ((plan.number * 7919 + turn * 104_729) % 1000) as u32;
            tokio::time::sleep(plan.think * 2 * spread / 1000).await;
        }
    }
    Ok(out)
}

/// The shape of a run of conversations.
pub struct Load {
    /// Chats side by side.
    pub chats: usize,
    /// Turns per chat.
    pub turns_per_chat: usize,
    /// Bytes per customer message.
    pub message_bytes: usize,
    /// Mean pause between a reply and the next message (zero: closed loops).
    pub think: Duration,
}

/// Runs `load.chats` conversations side by side; returns every turn's latency.
pub async fn drive(
    fakes: Arc<Fakes>,
    base_url: &str,
    load: Load,
    key: Option<String>,
    max: Duration,
) -> anyhow::Result<(Histogram<u64>, Vec<String>, u32)> {
    let Load {
        chats,
        turns_per_chat,
        message_bytes,
        think,
    } = load;
    let t = Arc::new(Target::parse(base_url.trim_end_matches('/'), "/webhooks/waha")?);
    let run = webhook::run_id();
    let deadline = Instant::now() + max;
    let mut names = Vec::new();
    let tasks: Vec<_> = (0..chats)
        .map(|number| {
            let chat = webhook::chat_id(run, number);
            names.push(chat.clone());
            let plan = Plan {
                chat,
                number,
                turns: turns_per_chat,
                message_bytes,
                run,
                think,
            };
            tokio::spawn(drive_chat(plan, fakes.clone(), t.clone(), key.clone(), deadline))
        })
        .collect();
    let mut hist = stats::histogram();
    for task in tasks {
        for us in task.await?? {
            stats::record(&mut hist, us);
        }
    }
    Ok((hist, names, run))
}

/// `turns`: prints the overhead per turn.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let url = args.required("url")?;
    let chats: usize = args.get("chats", 50)?;
    let turns: usize = args.get("turns", 200)?;
    anyhow::ensure!(chats >= 1 && turns >= chats, "--turns must be at least --chats");
    let per_chat = turns.div_ceil(chats);
    let max = args.seconds("max-seconds", 120)?;
    let reply = "Dank u! Ik kijk het voor u na en kom er zo op terug.".to_owned();
    let fakes =
        Arc::new(Fakes::start(&args.required("llm-addr")?, &args.required("waha-addr")?, reply).await?);
    let started = Instant::now();
    let think = Duration::from_millis(args.get("think-ms", 0)?);
    let load = Load {
        chats,
        turns_per_chat: per_chat,
        message_bytes: 40,
        think,
    };
    let (hist, _, _) = drive(fakes, &url, load, args.optional("hmac-key"), max).await?;
    let lat = stats::summary(&hist);
    let result = json!({
        "bench": "turns",
        "chats": chats,
        "think_ms": think.as_millis() as u64,
        "turns": hist.len(),
        "seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        "p50_ms": lat["p50_ms"],
        "p90_ms": lat["p90_ms"],
        "p99_ms": lat["p99_ms"],
        "max_ms": lat["max_ms"],
    });
    stats::print_result(&result);
    println!(
        "turns: {} turns over {chats} chats side by side (think {} ms); webhook sent → reply at WAHA p50 {} ms, \
         p90 {} ms, p99 {} ms, max {} ms",
        hist.len(),
        think.as_millis(),
        lat["p50_ms"],
        lat["p90_ms"],
        lat["p99_ms"],
        lat["max_ms"]
    );
    Ok(())
}
