//! Typed validation of every setting and the rules between settings.
//!
//! Each function reads its settings through `Sources` (so an error names the setting and the layer it
//! came from) and returns the typed value or the first problem. Cross-field rules (the Chatwoot group,
//! `REQUIRE_SIGNATURES`, `SYSTEM_PROMPT` versus `SYSTEM_PROMPT_FILE`) name every setting involved.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

use super::sources::{Sources, non_blank};
use super::{
    ChatwootSettings, ConfigError, DEFAULT_SYSTEM_PROMPT, LlmSettings, LogFormat, MetaSettings, Role,
    Settings, WahaSettings, features, mcp, tools,
};

/// Upper bound of `HISTORY_TTL_SECS` (ten years), so later millisecond arithmetic cannot overflow.
const MAX_HISTORY_TTL_SECS: u64 = 315_360_000;
/// Longest accepted `CONSUMER_NAME`.
const MAX_CONSUMER_NAME: usize = 200;

/// Every setting, validated.
pub(super) fn settings(v: &Sources, env: &impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let listen_addr = listen_addr(v)?;
    let timezone = zone(v, "TIMEZONE")?.unwrap_or(jiff::tz::TimeZone::UTC);
    let settings = Settings {
        listen_addr,
        role: role(v)?,
        redis_url: redis_url(v)?,
        redis_key_prefix: v.string_or("REDIS_KEY_PREFIX", "wa-agent:"),
        history_window: v.number_or("HISTORY_WINDOW", 20, 1, 1000)? as usize,
        history_ttl: secs(v.number_or("HISTORY_TTL_SECS", 86_400, 60, MAX_HISTORY_TTL_SECS)?),
        debounce: Duration::from_millis(v.number_or("DEBOUNCE_MS", 1500, 0, 60_000)?),
        chatwoot: chatwoot(v)?,
        chatwoot_webhook_secret: v.secret("CHATWOOT_WEBHOOK_SECRET"),
        waha: waha(v)?,
        waha_webhook_hmac_key: v.secret("WAHA_WEBHOOK_HMAC_KEY"),
        meta: meta(v)?,
        llm: llm(v)?,
        llm_timeout: secs(v.number_or("LLM_TIMEOUT_SECS", 60, 1, 600)?),
        system_prompt: system_prompt(v)?,
        handoff_message: v.string_or("HANDOFF_MESSAGE", ""),
        reply_max_chars: v.number_or("REPLY_MAX_CHARS", 1000, 100, 4096)? as usize,
        send_presence: v.flag("SEND_PRESENCE", true)?,
        allow_groups: v.flag("ALLOW_GROUPS", false)?,
        require_signatures: v.flag("REQUIRE_SIGNATURES", false)?,
        log_format: log_format(v)?,
        worker_concurrency: v.number_or("WORKER_CONCURRENCY", 64, 1, 10_000)? as usize,
        http_timeout: secs(v.number_or("HTTP_TIMEOUT_SECS", 10, 1, 120)?),
        reclaim_after: secs(v.number_or("RECLAIM_AFTER_SECS", 12, 12, 3600)?),
        shutdown_grace: secs(v.number_or("SHUTDOWN_GRACE_SECS", 30, 1, 3600)?),
        consumer_name: consumer_name(v, env, listen_addr)?,
        legacy_timezone: zone(v, "LEGACY_TIMEZONE")?.unwrap_or_else(|| timezone.clone()),
        timezone,
        mcp_servers: mcp::servers(v, env)?,
        transcribe: features::transcribe(v)?,
        llm_vision: v.flag("LLM_VISION", false)?,
        media_max_bytes: v.number_or("MEDIA_MAX_BYTES", 16_777_216, 1, u64::MAX)?,
        playground: features::playground(v)?,
        playground_token: v.secret("PLAYGROUND_TOKEN"),
        evolution: super::channels::evolution(v)?,
        agent_bot: super::channels::agent_bot(v)?,
        tools: tools::tools(v)?,
        hours: super::hours::hours(v, v.is_set("LLM_BASE_URL"))?,
    };
    check_signatures(&settings)?;
    features::check_playground(&settings)?;
    Ok(settings)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn listen_addr(v: &Sources) -> Result<SocketAddr, ConfigError> {
    let raw = v.string_or("LISTEN_ADDR", "0.0.0.0:3000");
    raw.parse().map_err(|_| {
        v.err(
            "LISTEN_ADDR",
            format!("expected an IP address and port such as 0.0.0.0:3000, got {raw:?}"),
        )
    })
}

fn role(v: &Sources) -> Result<Role, ConfigError> {
    let raw = v.string_or("ROLE", "all");
    match raw.to_ascii_lowercase().as_str() {
        "all" => Ok(Role::All),
        "api" => Ok(Role::Api),
        "worker" => Ok(Role::Worker),
        _ => Err(v.err("ROLE", format!("expected all, api or worker, got {raw:?}"))),
    }
}

fn log_format(v: &Sources) -> Result<LogFormat, ConfigError> {
    let raw = v.string_or("LOG_FORMAT", "pretty");
    match raw.to_ascii_lowercase().as_str() {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(v.err("LOG_FORMAT", format!("expected pretty or json, got {raw:?}"))),
    }
}

/// An IANA zone name (`Europe/Amsterdam`, `UTC`) from jiff's bundled database; `None` when unset.
fn zone(v: &Sources, name: &str) -> Result<Option<jiff::tz::TimeZone>, ConfigError> {
    let Some(raw) = v.raw(name) else {
        return Ok(None);
    };
    jiff::tz::TimeZone::get(&raw).map(Some).map_err(|_| {
        v.err(
            name,
            format!("expected an IANA time zone name such as Europe/Amsterdam or UTC, got {raw:?}"),
        )
    })
}

/// `CONSUMER_NAME`, else `{host name}:{port of LISTEN_ADDR}`.
fn consumer_name(
    v: &Sources,
    env: &impl Fn(&str) -> Option<String>,
    listen: SocketAddr,
) -> Result<String, ConfigError> {
    match v.raw("CONSUMER_NAME") {
        Some(name)
            if name.len() <= MAX_CONSUMER_NAME
                && !name.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(name)
        }
        Some(name) => Err(v.err(
            "CONSUMER_NAME",
            format!("expected at most {MAX_CONSUMER_NAME} characters without spaces, got {name:?}"),
        )),
        None => Ok(format!("{}:{}", host_name(env), listen.port())),
    }
}

/// `HOSTNAME`, else `/etc/hostname`, else the system's host name, else `wa-agent`.
fn host_name(env: &impl Fn(&str) -> Option<String>) -> String {
    non_blank(env("HOSTNAME"))
        .or_else(|| non_blank(std::fs::read_to_string("/etc/hostname").ok()))
        .or_else(|| non_blank(gethostname::gethostname().into_string().ok()))
        .unwrap_or_else(|| "wa-agent".to_owned())
}

/// `REDIS_URL`; its value is never echoed because it may hold a password.
fn redis_url(v: &Sources) -> Result<Option<SecretString>, ConfigError> {
    let Some(raw) = v.raw("REDIS_URL") else {
        return Ok(None);
    };
    let lower = raw.to_ascii_lowercase();
    let rest = ["redis://", "rediss://", "unix://"]
        .iter()
        .find_map(|s| lower.strip_prefix(s));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(Some(raw.into())),
        _ => Err(v.err(
            "REDIS_URL",
            "expected a URL starting with redis://, rediss:// or unix:// \
             (value not shown: it may hold a password)",
        )),
    }
}

/// The Chatwoot group: all four settings or none.
fn chatwoot(v: &Sources) -> Result<Option<ChatwootSettings>, ConfigError> {
    const GROUP: [&str; 4] = [
        "CHATWOOT_BASE_URL",
        "CHATWOOT_API_TOKEN",
        "CHATWOOT_ACCOUNT_ID",
        "CHATWOOT_INBOX_ID",
    ];
    let (set, missing): (Vec<&str>, Vec<&str>) = GROUP.iter().partition(|name| v.is_set(name));
    // Agent Bot mode alone needs only the base URL (the bot's token answers); no mirror then.
    let bot_only = set == ["CHATWOOT_BASE_URL"] && v.is_set("CHATWOOT_AGENT_BOT_TOKEN");
    if set.is_empty() || bot_only {
        return Ok(None);
    }
    if !missing.is_empty() {
        return Err(ConfigError::new(
            missing.join(", "),
            format!(
                "not set, but {} {}; set all four of {} or none of them",
                set.join(", "),
                if set.len() == 1 { "is" } else { "are" },
                GROUP.join(", ")
            ),
        ));
    }
    Ok(Some(ChatwootSettings {
        base_url: v.http_url("CHATWOOT_BASE_URL")?.unwrap_or_default(),
        api_token: v.secret("CHATWOOT_API_TOKEN").unwrap_or_default(),
        account_id: v.number("CHATWOOT_ACCOUNT_ID", 1, u64::MAX)?.unwrap_or_default(),
        inbox_id: v.number("CHATWOOT_INBOX_ID", 1, u64::MAX)?.unwrap_or_default(),
    }))
}

fn waha(v: &Sources) -> Result<Option<WahaSettings>, ConfigError> {
    let Some(base_url) = v.http_url("WAHA_BASE_URL")? else {
        return Ok(None);
    };
    Ok(Some(WahaSettings {
        base_url,
        api_key: v.secret("WAHA_API_KEY"),
        session: v.string_or("WAHA_SESSION", "default"),
    }))
}

fn meta(v: &Sources) -> Result<MetaSettings, ConfigError> {
    Ok(MetaSettings {
        graph_base_url: v
            .http_url("META_GRAPH_BASE_URL")?
            .unwrap_or_else(|| "https://graph.facebook.com/v25.0".to_owned()),
        access_token: v.secret("META_ACCESS_TOKEN"),
        phone_number_id: v.raw("META_PHONE_NUMBER_ID"),
        app_secret: v.secret("META_APP_SECRET"),
        verify_token: v.secret("META_VERIFY_TOKEN"),
    })
}

fn llm(v: &Sources) -> Result<Option<LlmSettings>, ConfigError> {
    let Some(base_url) = v.http_url("LLM_BASE_URL")? else {
        return Ok(None);
    };
    Ok(Some(LlmSettings {
        base_url,
        api_key: v.secret("LLM_API_KEY"),
        model: v.raw("LLM_MODEL"),
    }))
}

/// `SYSTEM_PROMPT`, or the file `SYSTEM_PROMPT_FILE` names, or the built-in prompt.
fn system_prompt(v: &Sources) -> Result<String, ConfigError> {
    match (v.raw("SYSTEM_PROMPT"), v.raw("SYSTEM_PROMPT_FILE")) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "SYSTEM_PROMPT, SYSTEM_PROMPT_FILE",
            "both are set; set one or the other",
        )),
        (Some(prompt), None) => Ok(prompt),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(Path::new(&path))
                .map_err(|e| v.err("SYSTEM_PROMPT_FILE", format!("cannot read {path:?}: {e}")))?;
            match text.trim() {
                "" => Err(v.err("SYSTEM_PROMPT_FILE", format!("the file {path:?} is empty"))),
                prompt => Ok(prompt.to_owned()),
            }
        }
        (None, None) => Ok(DEFAULT_SYSTEM_PROMPT.to_owned()),
    }
}

/// With `REQUIRE_SIGNATURES=true`, every enabled webhook route must have its secret.
fn check_signatures(s: &Settings) -> Result<(), ConfigError> {
    if !s.require_signatures {
        return Ok(());
    }
    let meta_on = s.meta.access_token.is_some()
        || s.meta.verify_token.is_some()
        || s.meta.app_secret.is_some()
        || s.meta.phone_number_id.is_some();
    let mut missing = Vec::new();
    if s.waha_webhook_hmac_key.is_none() {
        missing.push("WAHA_WEBHOOK_HMAC_KEY");
    }
    if s.chatwoot.is_some() && s.chatwoot_webhook_secret.is_none() {
        missing.push("CHATWOOT_WEBHOOK_SECRET");
    }
    if meta_on && s.meta.app_secret.is_none() {
        missing.push("META_APP_SECRET");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(ConfigError::new(
        missing.join(", "),
        "not set, but REQUIRE_SIGNATURES=true requires a secret for every enabled webhook route",
    ))
}
