//! The load generator: `--connections` workers, each with its own HTTP/1.1 connection, posting signed
//! WAHA webhooks back to back for `--seconds`. Every message id is new and the messages are spread
//! over `--chats` chats. Latency runs from just before a request is sent to the end of its answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::json;

use crate::args::Args;
use crate::client::{Conn, Target};
use crate::stats;
use crate::webhook;

#[derive(Default)]
struct Tally {
    requests: u64,
    non_2xx: u64,
    errors: u64,
}

struct Worker {
    index: usize,
    run: u32,
    chats: usize,
    key: Option<String>,
    deadline: Instant,
}

async fn worker(w: Worker, t: Arc<Target>) -> (Histogram<u64>, Tally) {
    let mut hist = stats::histogram();
    let mut tally = Tally::default();
    let mut conn = Conn::new();
    let mut n: usize = 0;
    while Instant::now() < w.deadline {
        n += 1;
        let chat = webhook::chat_id(w.run, (w.index * 7919 + n) % w.chats);
        let wa_id = format!("B{:08X}W{:03}N{:09}", w.run, w.index, n);
        let body = webhook::message(&chat, &wa_id, "Hallo, is de auto nog beschikbaar?");
        let sig = w.key.as_deref().map(|k| webhook::sign(k, &body));
        if conn.ensure(&t).await.is_err() {
            tally.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let started = Instant::now();
        match conn.post(&t, body, sig).await {
            Ok(status) => {
                stats::record(&mut hist, started.elapsed().as_micros() as u64);
                tally.requests += 1;
                if !status.is_success() {
                    tally.non_2xx += 1;
                }
            }
            Err(_) => tally.errors += 1,
        }
    }
    (hist, tally)
}

/// Runs the load and prints the result.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let url = args.required("url")?;
    let t = Arc::new(Target::parse(&url, "/webhooks/waha")?);
    let connections: usize = args.get("connections", 64)?;
    let seconds = args.seconds("seconds", 10)?;
    let chats: usize = args.get("chats", 10_000)?;
    anyhow::ensure!((1..=1024).contains(&connections), "--connections: 1 to 1024");
    anyhow::ensure!(chats >= 1, "--chats: at least 1");
    let key = args.optional("hmac-key");
    let run = webhook::run_id();
    let started = Instant::now();
    let deadline = started + seconds;
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            let w = Worker {
                index,
                run,
                chats,
                key: key.clone(),
                deadline,
            };
            tokio::spawn(worker(w, t.clone()))
        })
        .collect();
    let mut hist = stats::histogram();
    let mut total = Tally::default();
    for task in tasks {
        let (h, tally) = task.await?;
        hist.add(&h).context("merge histograms")?;
        total.requests += tally.requests;
        total.non_2xx += tally.non_2xx;
        total.errors += tally.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rps = total.requests as f64 / elapsed;
    let lat = stats::summary(&hist);
    let result = json!({
        "bench": "ingest",
        "url": url,
        "connections": connections,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "requests": total.requests,
        "rps": rps.round(),
        "non_2xx": total.non_2xx,
        "errors": total.errors,
        "p50_ms": lat["p50_ms"],
        "p90_ms": lat["p90_ms"],
        "p99_ms": lat["p99_ms"],
        "max_ms": lat["max_ms"],
    });
    stats::print_result(&result);
    println!(
        "ingest {url}: {rps:.0} req/s over {connections} connections for {elapsed:.1} s; p50 {} ms, \
         p90 {} ms, p99 {} ms, max {} ms; {} non-2xx, {} errors",
        lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"], total.non_2xx, total.errors
    );
    Ok(())
}
