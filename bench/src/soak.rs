//! `soak`: nothing lost, nothing twice, nothing out of order while instances die.
//!
//! Starts two wa-agent processes on one Redis (the caller's), an LLM fake that answers with the
//! tags of the customer messages it was asked about, and a WAHA fake that records every reply. Sends
//! `--chats` × `--messages` customer messages (each chat in order, spread over `--seconds`, each
//! message to either instance, retried like a gateway until it gets a 200), while a killer SIGKILLs
//! one instance and restarts it every `--kill-every` seconds. Then it waits for every message to be
//! answered (or `--settle` seconds) and counts, from the replies the customers got:
//! - lost: messages no reply answered;
//! - duplicated: messages answered by more than one reply;
//! - out of order: replies answering a message older than one an earlier reply answered;
//! - the slowest turn: from a message's 200 to the reply that answered it.

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use crate::args::Args;
use crate::webhook;

/// Replies the customers got: (arrival, chat, tags answered).
type Replies = Arc<Mutex<Vec<(Instant, String, Vec<String>)>>>;

/// One wa-agent process.
struct Instance {
    child: Option<Child>,
    port: u16,
    env: Vec<(String, String)>,
    binary: String,
}

impl Instance {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", "warn")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().context("spawn wa-agent")?);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The tags (`c12m3`) of the customer messages after the last assistant message.
fn asked_tags(request: &Value) -> Vec<String> {
    let msgs = request["messages"].as_array().cloned().unwrap_or_default();
    let start = msgs
        .iter()
        .rposition(|m| m["role"] == "assistant")
        .map_or(0, |i| i + 1);
    msgs[start..]
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| {
            m["content"]
                .as_str()
                .and_then(|c| c.split_whitespace().next())
                .map(str::to_owned)
        })
        .collect()
}

async fn llm(body: Bytes) -> axum::Json<Value> {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let text = format!("ANS {}", asked_tags(&request).join(","));
    axum::Json(json!({"id": "soak", "object": "chat.completion", "model": "soak",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}))
}

async fn waha(State(replies): State<Replies>, body: Bytes) -> axum::Json<Value> {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let chat = v["chatId"].as_str().unwrap_or_default().to_owned();
    let text = v["text"].as_str().unwrap_or_default();
    let tags = text
        .strip_prefix("ANS ")
        .unwrap_or("")
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    replies
        .lock()
        .expect("replies")
        .push((Instant::now(), chat, tags.collect()));
    axum::Json(json!({"id": {"_serialized": "true_soak"}}))
}

async fn serve(app: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// Post until a 200, alternating instances; the time of the 200.
async fn deliver(
    http: &reqwest::Client,
    ports: &[u16; 2],
    first: usize,
    body: Vec<u8>,
    deadline: Instant,
) -> Option<Instant> {
    let mut i = first;
    while Instant::now() < deadline {
        let url = format!("http://127.0.0.1:{}/webhooks/waha", ports[i % 2]);
        let sent = http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await;
        if sent.is_ok_and(|r| r.status() == 200) {
            return Some(Instant::now());
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Run the soak and print the figures.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let binary = args.required("binary")?;
    let redis = args.required("redis")?;
    let chats: usize = args.get("chats", 200)?;
    let per_chat: usize = args.get("messages", 10)?;
    let spread = args.seconds("seconds", 40)?;
    let kill_every = args.seconds("kill-every", 4)?;
    let settle = args.seconds("settle", 120)?;
    let replies: Replies = Arc::default();
    let llm_url = serve(Router::new().route("/chat/completions", post(llm))).await?;
    let waha_url = serve(
        Router::new()
            .route("/api/sendText", post(waha))
            .route("/api/{a}", post(|| async { "{}" }))
            .with_state(replies.clone()),
    )
    .await?;
    let env: Vec<(String, String)> = [
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", "soak:"),
        ("WAHA_BASE_URL", waha_url.as_str()),
        ("LLM_BASE_URL", llm_url.as_str()),
        ("DEBOUNCE_MS", "200"),
        ("LLM_TIMEOUT_SECS", "2"),
        ("HTTP_TIMEOUT_SECS", "1"),
        ("SEND_PRESENCE", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let mut inst = Instance {
            child: None,
            port: free_port()?,
            env: env.clone(),
            binary: binary.clone(),
        };
        inst.spawn()?;
        instances.push(inst);
    }
    let ports = [instances[0].port, instances[1].port];
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let load_deadline = started + spread + Duration::from_secs(60);
    let run = webhook::run_id();
    let accepted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut senders = Vec::new();
    for c in 0..chats {
        let accepted = accepted.clone();
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let chat = webhook::chat_id(run, c);
            let gap = spread / per_chat as u32;
            for m in 0..per_chat {
                let jitter = Duration::from_millis(((c * 37 + m * 101) % 400) as u64);
                tokio::time::sleep(gap.saturating_sub(Duration::from_millis(200)) + jitter).await;
                let tag = format!("c{c}m{m}");
                let body = webhook::message(&chat, &format!("SOAK{run}C{c}M{m}"), &format!("{tag} bericht"));
                if let Some(at) = deliver(&http, &ports, c + m, body, load_deadline).await {
                    accepted.lock().expect("accepted").insert(tag, at);
                }
            }
        }));
    }
    let mut kills = 0;
    let mut next = 0;
    while senders.iter().any(|s| !s.is_finished()) {
        tokio::time::sleep(kill_every).await;
        if senders.iter().all(|s| s.is_finished()) {
            break;
        }
        instances[next].kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        instances[next].spawn()?;
        kills += 1;
        next = 1 - next;
    }
    for s in senders {
        s.await?;
    }
    let sent_count = accepted.lock().expect("accepted").len();
    let settle_deadline = Instant::now() + settle;
    loop {
        let answered: std::collections::HashSet<String> = replies
            .lock()
            .expect("replies")
            .iter()
            .flat_map(|(_, _, t)| t.clone())
            .collect();
        let all = accepted
            .lock()
            .expect("accepted")
            .keys()
            .all(|t| answered.contains(t));
        if all || Instant::now() > settle_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    report(
        &accepted.lock().expect("accepted"),
        &replies.lock().expect("replies"),
        chats * per_chat,
        sent_count,
        kills,
        started,
    )
}

fn report(
    accepted: &HashMap<String, Instant>,
    replies: &[(Instant, String, Vec<String>)],
    planned: usize,
    sent: usize,
    kills: usize,
    started: Instant,
) -> anyhow::Result<()> {
    let mut answers: HashMap<&str, usize> = HashMap::new();
    let mut last_seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out_of_order = 0;
    let mut slowest = Duration::ZERO;
    let mut waits = Vec::new();
    for (at, chat, tags) in replies {
        for tag in tags {
            *answers.entry(tag.as_str()).or_default() += 1;
            let m: usize = tag.split('m').nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
            if let Some(prev) = last_seen.get(chat.as_str()) {
                if m <= *prev && answers[tag.as_str()] == 1 {
                    out_of_order += 1;
                }
            }
            last_seen.insert(
                chat.as_str(),
                m.max(last_seen.get(chat.as_str()).copied().unwrap_or(0)),
            );
            if let Some(acc) = accepted.get(tag) {
                let wait = at.saturating_duration_since(*acc);
                slowest = slowest.max(wait);
                waits.push(wait);
            }
        }
    }
    waits.sort();
    let p50 = waits.get(waits.len() / 2).copied().unwrap_or_default();
    let lost = accepted
        .keys()
        .filter(|t| !answers.contains_key(t.as_str()))
        .count();
    let duplicated = answers.values().filter(|n| **n > 1).count();
    println!(
        "RESULT {}",
        json!({"planned": planned, "accepted": sent, "replies": replies.len(), "kills": kills,
               "lost": lost, "duplicated": duplicated, "out_of_order": out_of_order,
               "answer_wait_p50_ms": p50.as_millis() as u64, "slowest_turn_ms": slowest.as_millis() as u64,
               "seconds": started.elapsed().as_secs()})
    );
    println!(
        "soak: {sent}/{planned} messages accepted through 2 instances with {kills} kill -9 restarts; \
         {} replies; lost {lost}, duplicated {duplicated}, out of order {out_of_order}; \
         answer wait p50 {} ms, slowest {} ms",
        replies.len(),
        p50.as_millis(),
        slowest.as_millis()
    );
    Ok(())
}
