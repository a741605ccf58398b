//! Typed validation of every setting and the rules between settings.
//!
//! Each function reads its settings through `Sources` (so an error names the setting and the layer it
//! came from) and returns the typed value or the first problem. Cross-field rules (the Chatwoot group,
//! `REQUIRE_SIGNATURES`, `SYSTEM_PROMPT` versus `SYSTEM_PROMPT_FILE`) name every setting involved.
//! No default or range is written here: `setting!` fetches each setting's registry row, and `Sources`
//! applies its literal default and range.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

use super::registry::{Setting, setting};
use super::sources::{Sources, non_blank};
use super::{
    ChatwootSettings, ConfigError, LlmSettings, LogFormat, MetaSettings, Role, Settings, WahaSettings,
    features, mcp, tools,
};

/// Longest accepted `CONSUMER_NAME`.
const MAX_CONSUMER_NAME: usize = 200;

/// Every setting, validated.
pub(super) fn settings(v: &Sources, env: &impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let listen_addr = listen_addr(v)?;
    let timezone = zone(v, setting!("TIMEZONE"))?.unwrap_or(jiff::tz::TimeZone::UTC);
    let settings = Settings {
        listen_addr,
        role: role(v)?,
        redis_url: redis_url(v)?,
        redis_key_prefix: v.string(setting!("REDIS_KEY_PREFIX")),
        history_window: v.number(setting!("HISTORY_WINDOW"))? as usize,
        history_ttl: secs(v.number(setting!("HISTORY_TTL_SECS"))?),
        debounce: Duration::from_millis(v.number(setting!("DEBOUNCE_MS"))?),
        chatwoot: chatwoot(v)?,
        chatwoot_webhook_secret: v.secret(setting!("CHATWOOT_WEBHOOK_SECRET")),
        waha: waha(v)?,
        waha_webhook_hmac_key: v.secret(setting!("WAHA_WEBHOOK_HMAC_KEY")),
        meta: meta(v)?,
        llm: llm(v)?,
        llm_timeout: secs(v.number(setting!("LLM_TIMEOUT_SECS"))?),
        system_prompt: system_prompt(v)?,
        handoff_message: v.string(setting!("HANDOFF_MESSAGE")),
        reply_max_chars: v.number(setting!("REPLY_MAX_CHARS"))? as usize,
        send_presence: v.flag(setting!("SEND_PRESENCE"))?,
        allow_groups: v.flag(setting!("ALLOW_GROUPS"))?,
        require_signatures: v.flag(setting!("REQUIRE_SIGNATURES"))?,
        log_format: log_format(v)?,
        worker_concurrency: v.number(setting!("WORKER_CONCURRENCY"))? as usize,
        http_timeout: secs(v.number(setting!("HTTP_TIMEOUT_SECS"))?),
        reclaim_after: secs(v.number(setting!("RECLAIM_AFTER_SECS"))?),
        shutdown_grace: secs(v.number(setting!("SHUTDOWN_GRACE_SECS"))?),
        consumer_name: consumer_name(v, env, listen_addr)?,
        legacy_timezone: zone(v, setting!("LEGACY_TIMEZONE"))?.unwrap_or_else(|| timezone.clone()),
        timezone,
        mcp_servers: mcp::servers(v, env)?,
        transcribe: features::transcribe(v)?,
        llm_vision: v.flag(setting!("LLM_VISION"))?,
        media_max_bytes: v.number(setting!("MEDIA_MAX_BYTES"))?,
        playground: features::playground(v)?,
        playground_token: v.secret(setting!("PLAYGROUND_TOKEN")),
        evolution: super::channels::evolution(v)?,
        agent_bot: super::channels::agent_bot(v)?,
        tools: tools::tools(v)?,
        hours: super::hours::hours(v, v.is_set(setting!("LLM_BASE_URL")))?,
    };
    check_signatures(&settings)?;
    features::check_playground(&settings)?;
    Ok(settings)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn listen_addr(v: &Sources) -> Result<SocketAddr, ConfigError> {
    let raw = v.string(setting!("LISTEN_ADDR"));
    raw.parse().map_err(|_| {
        v.err(
            setting!("LISTEN_ADDR"),
            format!("expected an IP address and port such as 0.0.0.0:3000, got {raw:?}"),
        )
    })
}

fn role(v: &Sources) -> Result<Role, ConfigError> {
    let raw = v.string(setting!("ROLE"));
    match raw.to_ascii_lowercase().as_str() {
        "all" => Ok(Role::All),
        "api" => Ok(Role::Api),
        "worker" => Ok(Role::Worker),
        _ => Err(v.err(
            setting!("ROLE"),
            format!("expected all, api or worker, got {raw:?}"),
        )),
    }
}

fn log_format(v: &Sources) -> Result<LogFormat, ConfigError> {
    let raw = v.string(setting!("LOG_FORMAT"));
    match raw.to_ascii_lowercase().as_str() {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(v.err(
            setting!("LOG_FORMAT"),
            format!("expected pretty or json, got {raw:?}"),
        )),
    }
}

/// An IANA zone name (`Europe/Amsterdam`, `UTC`) from jiff's bundled database; `None` when unset.
fn zone(v: &Sources, s: &Setting) -> Result<Option<jiff::tz::TimeZone>, ConfigError> {
    let Some(raw) = v.raw(s) else {
        return Ok(None);
    };
    jiff::tz::TimeZone::get(&raw).map(Some).map_err(|_| {
        v.err(
            s,
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
    match v.raw(setting!("CONSUMER_NAME")) {
        Some(name)
            if name.len() <= MAX_CONSUMER_NAME
                && !name.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(name)
        }
        Some(name) => Err(v.err(
            setting!("CONSUMER_NAME"),
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
    let Some(raw) = v.raw(setting!("REDIS_URL")) else {
        return Ok(None);
    };
    let lower = raw.to_ascii_lowercase();
    let rest = ["redis://", "rediss://", "unix://"]
        .iter()
        .find_map(|s| lower.strip_prefix(s));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(Some(raw.into())),
        _ => Err(v.err(
            setting!("REDIS_URL"),
            "expected a URL starting with redis://, rediss:// or unix:// \
             (value not shown: it may hold a password)",
        )),
    }
}

/// The names of `settings`.
fn names(settings: &[&Setting]) -> Vec<&'static str> {
    settings.iter().map(|s| s.name).collect()
}

/// The Chatwoot group: all four settings or none.
fn chatwoot(v: &Sources) -> Result<Option<ChatwootSettings>, ConfigError> {
    const GROUP: [&Setting; 4] = [
        setting!("CHATWOOT_BASE_URL"),
        setting!("CHATWOOT_API_TOKEN"),
        setting!("CHATWOOT_ACCOUNT_ID"),
        setting!("CHATWOOT_INBOX_ID"),
    ];
    let (set, missing): (Vec<&Setting>, Vec<&Setting>) = GROUP.iter().partition(|s| v.is_set(s));
    let (set, missing) = (names(&set), names(&missing));
    // Agent Bot mode alone needs only the base URL (the bot's token answers); no mirror then.
    let bot_only = set == ["CHATWOOT_BASE_URL"] && v.is_set(setting!("CHATWOOT_AGENT_BOT_TOKEN"));
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
                names(&GROUP).join(", ")
            ),
        ));
    }
    Ok(Some(ChatwootSettings {
        base_url: v.http_url(setting!("CHATWOOT_BASE_URL"))?.unwrap_or_default(),
        api_token: v.secret(setting!("CHATWOOT_API_TOKEN")).unwrap_or_default(),
        account_id: v.number(setting!("CHATWOOT_ACCOUNT_ID"))?,
        inbox_id: v.number(setting!("CHATWOOT_INBOX_ID"))?,
    }))
}

fn waha(v: &Sources) -> Result<Option<WahaSettings>, ConfigError> {
    let Some(base_url) = v.http_url(setting!("WAHA_BASE_URL"))? else {
        return Ok(None);
    };
    Ok(Some(WahaSettings {
        base_url,
        api_key: v.secret(setting!("WAHA_API_KEY")),
        session: v.string(setting!("WAHA_SESSION")),
    }))
}

fn meta(v: &Sources) -> Result<MetaSettings, ConfigError> {
    Ok(MetaSettings {
        graph_base_url: v.http_url(setting!("META_GRAPH_BASE_URL"))?.unwrap_or_default(),
        access_token: v.secret(setting!("META_ACCESS_TOKEN")),
        phone_number_id: v.raw(setting!("META_PHONE_NUMBER_ID")),
        app_secret: v.secret(setting!("META_APP_SECRET")),
        verify_token: v.secret(setting!("META_VERIFY_TOKEN")),
    })
}

fn llm(v: &Sources) -> Result<Option<LlmSettings>, ConfigError> {
    let Some(base_url) = v.http_url(setting!("LLM_BASE_URL"))? else {
        return Ok(None);
    };
    Ok(Some(LlmSettings {
        base_url,
        api_key: v.secret(setting!("LLM_API_KEY")),
        model: v.raw(setting!("LLM_MODEL")),
    }))
}

/// `SYSTEM_PROMPT`, or the file `SYSTEM_PROMPT_FILE` names, or the built-in prompt.
fn system_prompt(v: &Sources) -> Result<String, ConfigError> {
    match (
        v.raw(setting!("SYSTEM_PROMPT")),
        v.raw(setting!("SYSTEM_PROMPT_FILE")),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "SYSTEM_PROMPT, SYSTEM_PROMPT_FILE",
            "both are set; set one or the other",
        )),
        (Some(prompt), None) => Ok(prompt),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(Path::new(&path)).map_err(|e| {
                v.err(
                    setting!("SYSTEM_PROMPT_FILE"),
                    format!("cannot read {path:?}: {e}"),
                )
            })?;
            match text.trim() {
                "" => Err(v.err(
                    setting!("SYSTEM_PROMPT_FILE"),
                    format!("the file {path:?} is empty"),
                )),
                prompt => Ok(prompt.to_owned()),
            }
        }
        (None, None) => Ok(v.string(setting!("SYSTEM_PROMPT"))),
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
