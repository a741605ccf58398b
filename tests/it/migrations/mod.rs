//! Keyspace migrations against a real `redis-server`: migration 0001 imports the replaced system's
//! `conversation:{chat}:history` keys into the new history, once, under a lock; the `migrate` command
//! and the server's start-up apply it; the next turn of an imported chat remembers the old exchange.
//!
//! `import`: the import itself (order, TTL, window, merging, re-runs, the lock). `cutover`: a keyspace
//! with unreadable keys and entries among hundreds of good ones, through the store, the `migrate`
//! command and the server, with naive timestamps read in `LEGACY_TIMEZONE`.

mod cutover;
mod import;

use std::time::Duration;

use crate::support::redis::RedisServer;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use wa_agent::domain::{HistoryEntry, Role};
use wa_agent::store::Store;
use wa_agent::store::migrations::{self, MigrateOptions, MigrationReport};
use wa_agent::store::redis::RedisStore;

const PREFIX: &str = "mig:";
const WINDOW: usize = 20;
const TTL: Duration = Duration::from_secs(86_400);
const CHAT: &str = "31639121747@c.us";

/// A legacy history value: `(role, content, timestamp)` items as the old system wrote them.
fn legacy(items: &[(&str, &str, &str)]) -> String {
    let list: Vec<Value> = items
        .iter()
        .map(|(role, content, ts)| json!({"role": role, "content": content, "timestamp": ts}))
        .collect();
    serde_json::to_string(&list).unwrap()
}

fn legacy_key(chat: &str) -> String {
    format!("conversation:{chat}:history")
}

fn int_reply(raw: Option<String>) -> i64 {
    let raw = raw.expect("reply");
    raw.trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("{raw:?}"))
}

fn pttl(redis: &RedisServer, key: &str) -> i64 {
    int_reply(redis.command(&["PTTL", key]))
}

fn version(redis: &RedisServer) -> Option<String> {
    let raw = redis
        .command(&["GET", &format!("{PREFIX}schema-version")])
        .unwrap();
    raw.lines().nth(1).map(str::to_owned)
}

async fn store(redis: &RedisServer) -> RedisStore {
    RedisStore::connect(&redis.url(), PREFIX).await.expect("connect")
}

fn options(zone: &str) -> MigrateOptions {
    MigrateOptions {
        window: WINDOW,
        ttl: TTL,
        legacy_zone: TimeZone::get(zone).unwrap(),
    }
}

/// Migrate with legacy times read in UTC.
async fn migrate(store: &RedisStore) -> MigrationReport {
    migrations::run(store, &options("UTC")).await.expect("migrate")
}

fn texts(entries: &[HistoryEntry]) -> Vec<(Role, &str)> {
    entries.iter().map(|e| (e.role, e.text.as_str())).collect()
}

/// `wa-agent migrate` with only these settings (plus PATH).
fn migrate_command(redis: &RedisServer, extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(crate::support::proc::binary());
    cmd.arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REDIS_URL", redis.url())
        .env("REDIS_KEY_PREFIX", PREFIX)
        .env("RUST_LOG", "warn");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().expect("run wa-agent migrate")
}
