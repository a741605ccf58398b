//! The fakes and settings of a process-level test: a real `redis-server` (given), fake LLM, WAHA and
//! Chatwoot, and the variables an instance of the built binary runs with.

use super::fake_chatwoot::FakeChatwoot;
use super::fake_llm::FakeLlm;
use super::fake_waha::FakeWaha;
use super::redis::RedisServer;

/// The Chatwoot API token of the fake.
pub const TOKEN: &str = "cw-token";

/// The faked externals.
pub struct Fakes {
    /// The model.
    pub llm: FakeLlm,
    /// WhatsApp (WAHA).
    pub waha: FakeWaha,
    /// Chatwoot (account 3, inbox 7).
    pub chatwoot: FakeChatwoot,
}

/// Start every fake.
pub async fn fakes() -> Fakes {
    Fakes {
        llm: FakeLlm::start().await,
        waha: FakeWaha::start("k").await,
        chatwoot: FakeChatwoot::start(3, 7, TOKEN).await,
    }
}

/// Settings for an instance on `redis` and the fakes: 100 ms debounce, short timeouts; `extra`
/// adds or replaces variables.
pub fn vars(redis: &RedisServer, f: &Fakes, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("WAHA_BASE_URL", f.waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("LLM_BASE_URL", f.llm.url()),
        ("CHATWOOT_BASE_URL", f.chatwoot.url()),
        ("CHATWOOT_API_TOKEN", TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("DEBOUNCE_MS", "100".into()),
        ("LLM_TIMEOUT_SECS", "2".into()),
        ("HTTP_TIMEOUT_SECS", "1".into()),
    ];
    for (k, val) in extra {
        v.retain(|(name, _)| name != k);
        let key: &'static str = Box::leak(k.to_string().into_boxed_str());
        v.push((key, val.to_string()));
    }
    v
}

/// Whether no key matches `pattern` (e.g. `wa-agent:lease:*`).
pub fn no_keys(redis: &RedisServer, pattern: &str) -> bool {
    redis
        .command(&["KEYS", pattern])
        .is_some_and(|r| r.starts_with("*0"))
}

/// Signals read from the work stream and not yet acknowledged (`XPENDING` count).
pub fn pending_signals(redis: &RedisServer) -> u64 {
    let raw = redis
        .command(&["XPENDING", "wa-agent:work", "workers"])
        .unwrap_or_default();
    // *4\r\n:N\r\n...
    raw.split("\r\n")
        .nth(1)
        .and_then(|l| l.strip_prefix(':'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}
