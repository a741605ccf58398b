//! Redis bytes per active chat: `--chats` chats each talk until their history window is full
//! (`--window` entries: half customer messages of `--message-bytes`, half replies of that size), then
//! Redis's `used_memory` growth and `MEMORY USAGE` of each chat's keys are divided per chat.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::args::Args;
use crate::fakes::Fakes;
use crate::resp::Redis;
use crate::stats;
use crate::turns;
use crate::webhook;

/// Chats whose keys are looked at one by one (the dedupe pattern below assumes 20).
const SAMPLE: usize = 20;

/// `memory`: prints bytes per chat.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let url = args.required("url")?;
    let redis_url = args.required("redis")?;
    let prefix = args.required("prefix")?;
    let chats: usize = args.get("chats", 200)?;
    let window: usize = args.get("window", 20)?;
    let bytes: usize = args.get("message-bytes", 200)?;
    anyhow::ensure!(chats >= 1 && window >= 2, "--chats ≥ 1 and --window ≥ 2");
    let reply = webhook::text(bytes, 7);
    let fakes =
        Arc::new(Fakes::start(&args.required("llm-addr")?, &args.required("waha-addr")?, reply).await?);

    let mut redis = tokio::task::block_in_place(|| Redis::connect(&redis_url))?;
    let before = tokio::task::block_in_place(|| redis.info_number("memory", "used_memory"))?;
    let key = args.optional("hmac-key");
    let max = Duration::from_secs(300);
    let (_, names, run) = turns::drive(
        fakes,
        &url,
        turns::Load {
            chats,
            turns_per_chat: window / 2,
            message_bytes: bytes,
            think: Duration::ZERO,
        },
        key,
        max,
    )
    .await?;
    // The history is written just after the reply is sent: give the last commits a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let figures = tokio::task::block_in_place(|| -> anyhow::Result<_> {
        let after = redis.info_number("memory", "used_memory")?;
        let mut per_key: std::collections::BTreeMap<String, u64> = Default::default();
        let mut lengths = Vec::new();
        for chat in names.iter().take(SAMPLE) {
            for k in redis.scan(&format!("{prefix}*{chat}*"))? {
                let kind = k[prefix.len()..].split(':').next().unwrap_or("?").to_owned();
                *per_key.entry(kind).or_default() += redis.memory_usage(&k)?;
            }
            let len = redis.command(&["LLEN", &format!("{prefix}history:{chat}")])?;
            lengths.push(len.text().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0));
        }
        // Dedupe markers carry the message id, not the chat: the sampled chats' ids are
        // `T{run}C000{00..19}M{turn}`.
        let mut dedupe_bytes = 0;
        for k in redis.scan(&format!("{prefix}seen:*T{run:08X}C000[01][0-9]M*"))? {
            dedupe_bytes += redis.memory_usage(&k)?;
        }
        per_key.insert("dedupe".into(), dedupe_bytes);
        Ok((after, per_key, lengths))
    })?;
    let (after, per_key, lengths) = figures;
    let sample = names.len().min(SAMPLE) as u64;
    let per_chat_keys: u64 = per_key.values().sum::<u64>() / sample.max(1);
    let per_kind: serde_json::Map<String, serde_json::Value> = per_key
        .iter()
        .map(|(k, v)| (k.clone(), json!(v / sample.max(1))))
        .collect();
    let delta = after.saturating_sub(before) / chats as u64;
    let full = lengths.iter().filter(|&&n| n as usize == window).count();
    let result = json!({
        "bench": "memory",
        "chats": chats,
        "window": window,
        "message_bytes": bytes,
        "used_memory_delta_per_chat": delta,
        "key_bytes_per_chat": per_chat_keys,
        "key_bytes_by_kind": per_kind,
        "sampled_histories_full": format!("{full}/{}", lengths.len()),
    });
    stats::print_result(&result);
    println!(
        "memory: {chats} chats at window {window} with {bytes}-byte messages: {delta} bytes/chat of used_memory \
         growth; {per_chat_keys} bytes/chat in the chat's own keys ({}); {full}/{} sampled histories full",
        serde_json::Value::Object(per_kind),
        lengths.len()
    );
    context_check(full, lengths.len())
}

fn context_check(full: usize, sampled: usize) -> anyhow::Result<()> {
    if full < sampled {
        return Err(anyhow::anyhow!(
            "only {full}/{sampled} sampled histories reached the window"
        ))
        .context("is wa-agent's HISTORY_WINDOW the same as --window?");
    }
    Ok(())
}
