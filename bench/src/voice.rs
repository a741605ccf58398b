//! `voice`: what a voice note adds to a turn, without the transcriber's own time. One chat, turns one
//! after the other, alternating a text message and a voice note of `--voice-bytes` (1 MiB by
//! default); wa-agent (`DEBOUNCE_MS=0`) has `WAHA_BASE_URL` and `TRANSCRIBE_BASE_URL={--waha-addr}/v1`
//! pointing at this tool's fakes, which serve the file, read the whole multipart upload and answer a
//! fixed transcript at once, and an instant LLM on `--llm-addr`. Reported: webhook sent → reply at
//! WAHA for both kinds, their difference, and (with `--pid`) wa-agent's CPU time per turn of each kind.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::args::Args;
use crate::client::{Conn, Target};
use crate::stats;
use crate::webhook;

struct Shared {
    file: Bytes,
    replies: Mutex<Option<mpsc::UnboundedSender<Instant>>>,
    uploaded: Mutex<u64>,
}

async fn completion() -> axum::Json<Value> {
    axum::Json(json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Prima, zaterdag om tien uur."},
            "finish_reason": "stop"}]
    }))
}

async fn send_text(State(s): State<Arc<Shared>>) -> axum::Json<Value> {
    if let Some(tx) = s.replies.lock().expect("replies").as_ref() {
        let _ = tx.send(Instant::now());
    }
    axum::Json(json!({"id": {"_serialized": "true_bench_VOICE"}}))
}

async fn file(State(s): State<Arc<Shared>>) -> ([(&'static str, &'static str); 1], Bytes) {
    ([("content-type", "audio/ogg; codecs=opus")], s.file.clone())
}

async fn transcribe(State(s): State<Arc<Shared>>, body: Bytes) -> axum::Json<Value> {
    *s.uploaded.lock().expect("uploaded") += body.len() as u64;
    axum::Json(json!({"text": "Hallo, ik wil graag zaterdag een proefrit maken met de XC60."}))
}

async fn serve(addr: &str, app: Router) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    anyhow::ensure!(
        listener.local_addr()?.ip().is_loopback(),
        "fakes bind to loopback only"
    );
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

/// A voice note webhook: the text webhook with WAHA's media fields.
fn voice_note(chat: &str, wa_id: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&webhook::message(chat, wa_id, "")).expect("own JSON");
    v["payload"]["hasMedia"] = json!(true);
    v["payload"]["media"] = json!({
        "url": format!("http://localhost:3000/api/files/default/{wa_id}.oga"),
        "mimetype": "audio/ogg; codecs=opus", "filename": null, "error": null
    });
    v["payload"]["_data"]["type"] = json!("ptt");
    serde_json::to_vec(&v).expect("JSON")
}

/// utime + stime of `pid`, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

/// `voice`: prints the cost of a voice note per turn.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let url = args.required("url")?;
    let turns: usize = args.get("turns", 100)?;
    let bytes: usize = args.get("voice-bytes", 1 << 20)?;
    let key = args.optional("hmac-key");
    let pid: Option<u32> = args.optional("pid").map(|p| p.parse()).transpose()?;
    let max = args.seconds("max-seconds", 300)?;
    let (tx, mut replies) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        file: Bytes::from((0..bytes).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>()),
        replies: Mutex::new(Some(tx)),
        uploaded: Mutex::new(0),
    });
    let llm = Router::new().route("/chat/completions", post(completion));
    let waha = Router::new()
        .route("/api/sendText", post(send_text))
        .route("/api/files/{*path}", get(file))
        .route("/v1/audio/transcriptions", post(transcribe))
        .route("/api/{action}", post(|| async { axum::Json(json!({})) }))
        .layer(axum::extract::DefaultBodyLimit::max(bytes * 2 + 65_536))
        .with_state(shared.clone());
    let _servers = [
        serve(&args.required("llm-addr")?, llm).await?,
        serve(&args.required("waha-addr")?, waha).await?,
    ];
    let t = Target::parse(url.trim_end_matches('/'), "/webhooks/waha")?;
    let run = webhook::run_id();
    let chat = webhook::chat_id(run, 0);
    let deadline = Instant::now() + max;
    let mut conn = Conn::new();
    let (mut text_hist, mut voice_hist) = (stats::histogram(), stats::histogram());
    let (mut text_ticks, mut voice_ticks) = (0u64, 0u64);
    for turn in 0..turns * 2 {
        let voice = turn % 2 == 1;
        let wa_id = format!("V{run:08X}M{turn:04}");
        let body = if voice {
            voice_note(&chat, &wa_id)
        } else {
            webhook::message(&chat, &wa_id, "Kan ik zaterdag een proefrit maken?")
        };
        let sig = key.as_deref().map(|k| webhook::sign(k, &body));
        conn.ensure(&t).await?;
        let before = pid.map(cpu_ticks).transpose()?;
        let sent = Instant::now();
        let status = conn.post(&t, body, sig).await?;
        if !status.is_success() {
            bail!("wa-agent answered {status} for {wa_id}");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let at = tokio::time::timeout(left, replies.recv())
            .await
            .with_context(|| format!("no reply to turn {turn} before the deadline"))?
            .context("fake WAHA stopped")?;
        let us = at.saturating_duration_since(sent).as_micros() as u64;
        // Let the turn's commit finish before the next message (and the CPU reading).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ticks = match (pid, before) {
            (Some(p), Some(b)) => cpu_ticks(p)?.saturating_sub(b),
            _ => 0,
        };
        if voice {
            stats::record(&mut voice_hist, us);
            voice_ticks += ticks;
        } else {
            stats::record(&mut text_hist, us);
            text_ticks += ticks;
        }
    }
    let uploaded = *shared.uploaded.lock().expect("uploaded");
    anyhow::ensure!(
        uploaded >= (bytes * turns) as u64,
        "the transcriber received {uploaded} bytes for {turns} voice notes of {bytes} bytes"
    );
    let (text, voice) = (stats::summary(&text_hist), stats::summary(&voice_hist));
    // Clock ticks are 10 ms (USER_HZ 100) on Linux.
    let cpu_ms = |ticks: u64| (ticks as f64 * 10.0 / turns as f64 * 100.0).round() / 100.0;
    let added = |q: &str| {
        ((voice[q].as_f64().unwrap_or(0.0) - text[q].as_f64().unwrap_or(0.0)) * 1000.0).round() / 1000.0
    };
    let result = json!({
        "bench": "voice", "turns_each": turns, "voice_bytes": bytes,
        "text": text, "voice": voice,
        "added_p50_ms": added("p50_ms"), "added_p99_ms": added("p99_ms"),
        "cpu_ms_per_text_turn": pid.map(|_| cpu_ms(text_ticks)),
        "cpu_ms_per_voice_turn": pid.map(|_| cpu_ms(voice_ticks)),
    });
    stats::print_result(&result);
    println!(
        "voice: {turns} text turns p50 {} / p99 {} ms; {turns} voice-note turns ({bytes} B) p50 {} / p99 {} ms; \
         a voice note adds p50 {} ms, p99 {} ms{}",
        text["p50_ms"],
        text["p99_ms"],
        voice["p50_ms"],
        voice["p99_ms"],
        added("p50_ms"),
        added("p99_ms"),
        match pid {
            Some(_) => format!(
                "; wa-agent CPU per turn: text {} ms, voice {} ms",
                cpu_ms(text_ticks),
                cpu_ms(voice_ticks)
            ),
            None => String::new(),
        }
    );
    Ok(())
}
