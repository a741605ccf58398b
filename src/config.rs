//! Typed settings, read once from the environment and validated at start-up.
//!
//! Every setting of `INTERFACE.md` lives here. Secrets are `SecretString` and never printed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Which parts of the service this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// HTTP intake and workers.
    All,
    /// HTTP intake only.
    Api,
    /// Workers only.
    Worker,
}

impl Role {
    /// Whether this process serves the webhook routes.
    pub fn runs_api(self) -> bool {
        matches!(self, Role::All | Role::Api)
    }
    /// Whether this process runs turns.
    pub fn runs_workers(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for production.
    Json,
}

/// Chatwoot connection (all four variables set, or none).
#[derive(Debug, Clone)]
pub struct ChatwootSettings {
    /// `CHATWOOT_BASE_URL`, without a trailing slash.
    pub base_url: String,
    /// `CHATWOOT_API_TOKEN`, sent as the `api_access_token` header.
    pub api_token: SecretString,
    /// `CHATWOOT_ACCOUNT_ID`.
    pub account_id: u64,
    /// `CHATWOOT_INBOX_ID`: the API-channel inbox that mirrors WhatsApp chats.
    pub inbox_id: u64,
}

/// WAHA gateway for sending.
#[derive(Debug, Clone)]
pub struct WahaSettings {
    /// `WAHA_BASE_URL`, without a trailing slash.
    pub base_url: String,
    /// `WAHA_API_KEY`, sent as `X-Api-Key` when set.
    pub api_key: Option<SecretString>,
    /// `WAHA_SESSION` (default `default`).
    pub session: String,
}

/// WhatsApp Cloud API settings.
#[derive(Debug, Clone)]
pub struct MetaSettings {
    /// `META_GRAPH_BASE_URL` (default `https://graph.facebook.com/v25.0`), without a trailing slash.
    pub graph_base_url: String,
    /// `META_ACCESS_TOKEN`.
    pub access_token: Option<SecretString>,
    /// `META_PHONE_NUMBER_ID`.
    pub phone_number_id: Option<String>,
    /// `META_APP_SECRET`: checks `X-Hub-Signature-256`.
    pub app_secret: Option<SecretString>,
    /// `META_VERIFY_TOKEN`: the verification handshake.
    pub verify_token: Option<SecretString>,
}

/// OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `LLM_BASE_URL`, without a trailing slash; requests go to `{base}/chat/completions`.
    pub base_url: String,
    /// `LLM_API_KEY`, sent as a Bearer token when set.
    pub api_key: Option<SecretString>,
    /// `LLM_MODEL`; omitted from requests when unset.
    pub model: Option<String>,
}

/// OpenAI-compatible speech-to-text (`POST {base}/audio/transcriptions`) for voice notes and audio.
#[derive(Debug, Clone)]
pub struct TranscribeSettings {
    /// `TRANSCRIBE_BASE_URL`, else `LLM_BASE_URL`; without a trailing slash.
    pub base_url: String,
    /// `TRANSCRIBE_API_KEY`, else `LLM_API_KEY`; sent as a Bearer token when set.
    pub api_key: Option<SecretString>,
    /// `TRANSCRIBE_MODEL` (default `whisper-1`).
    pub model: String,
}

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `LISTEN_ADDR`.
    pub listen_addr: SocketAddr,
    /// `ROLE`.
    pub role: Role,
    /// `REDIS_URL`; `None` runs the embedded in-process store and queue.
    pub redis_url: Option<SecretString>,
    /// `REDIS_KEY_PREFIX`.
    pub redis_key_prefix: String,
    /// `HISTORY_WINDOW`.
    pub history_window: usize,
    /// `HISTORY_TTL_SECS`.
    pub history_ttl: Duration,
    /// `DEBOUNCE_MS`.
    pub debounce: Duration,
    /// `CHATWOOT_*`; `None` disables mirroring.
    pub chatwoot: Option<ChatwootSettings>,
    /// `CHATWOOT_WEBHOOK_SECRET`.
    pub chatwoot_webhook_secret: Option<SecretString>,
    /// `WAHA_*`; `None` means replies to WAHA chats are logged, not sent.
    pub waha: Option<WahaSettings>,
    /// `WAHA_WEBHOOK_HMAC_KEY`.
    pub waha_webhook_hmac_key: Option<SecretString>,
    /// `META_*`.
    pub meta: MetaSettings,
    /// `LLM_*`; `None` runs the built-in echo agent.
    pub llm: Option<LlmSettings>,
    /// `LLM_TIMEOUT_SECS`.
    pub llm_timeout: Duration,
    /// `SYSTEM_PROMPT` or the contents of `SYSTEM_PROMPT_FILE`.
    pub system_prompt: String,
    /// `HANDOFF_MESSAGE` (empty: say nothing).
    pub handoff_message: String,
    /// `REPLY_MAX_CHARS`.
    pub reply_max_chars: usize,
    /// `SEND_PRESENCE`.
    pub send_presence: bool,
    /// `ALLOW_GROUPS`.
    pub allow_groups: bool,
    /// `REQUIRE_SIGNATURES`.
    pub require_signatures: bool,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `WORKER_CONCURRENCY`: chats one process handles at once.
    pub worker_concurrency: usize,
    /// `HTTP_TIMEOUT_SECS`: timeout of one gateway or Chatwoot request.
    pub http_timeout: Duration,
    /// `RECLAIM_AFTER_SECS`: idle time after which a dead worker's chat is taken over (at least
    /// [`Settings::slowest_turn`]; that is the default).
    pub reclaim_after: Duration,
    /// `TRANSCRIBE_*`; `None` when `TRANSCRIBE_MODEL=off` or no endpoint is known.
    pub transcribe: Option<TranscribeSettings>,
    /// `LLM_VISION`: images reach the model as `image_url` content parts.
    pub llm_vision: bool,
    /// `MEDIA_MAX_BYTES`: larger media are not downloaded.
    pub media_max_bytes: u64,
}

/// Attempts per external call in a turn (the retry policy of `queue`).
pub const CALL_ATTEMPTS: u32 = 3;
/// Margin added to the slowest possible turn for the reclaim deadline.
const RECLAIM_MARGIN_SECS: u64 = 10;

/// The slowest a turn can legitimately be: every external call of a turn (LLM, gateway, the
/// Chatwoot gate check) timing out on each attempt, plus backoff and a margin.
pub fn slowest_turn(llm_timeout: Duration, http_timeout: Duration) -> Duration {
    let per_attempt = llm_timeout + http_timeout * 2;
    per_attempt * CALL_ATTEMPTS + Duration::from_secs(RECLAIM_MARGIN_SECS)
}

/// The built-in system prompt, used when neither `SYSTEM_PROMPT` nor `SYSTEM_PROMPT_FILE` is set.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful, friendly assistant answering customers on \
    WhatsApp. Answer briefly, in the customer's language. If you do not know something, say so and offer \
    to hand the chat to a colleague.";

/// Upper bound of `HISTORY_TTL_SECS` (ten years), so later millisecond arithmetic cannot overflow.
const MAX_HISTORY_TTL_SECS: u64 = 315_360_000;

/// A setting that cannot be used. The message names the variable(s) and says why, never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The variable at fault, or several joined by `", "`.
    pub variable: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl ConfigError {
    fn new(variable: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            reason: reason.into(),
        }
    }
}

/// Reads variables through a lookup function; empty or blank values count as unset.
struct Vars<F> {
    get: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The trimmed value, or `None` when unset or blank.
    fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn is_set(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    fn string_or(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }

    fn secret(&self, name: &str) -> Option<SecretString> {
        self.raw(name).map(SecretString::from)
    }

    /// An unsigned whole number in `min..=max`; `None` when unset.
    fn number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::new(
                name,
                format!("expected {}, got {raw:?}", number_rule(min, max)),
            )),
        }
    }

    fn number_or(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        Ok(self.number(name, min, max)?.unwrap_or(default))
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.raw(name) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError::new(
                name,
                format!("expected true or false (or 1/0, yes/no), got {raw:?}"),
            )),
        }
    }

    /// An `http://` or `https://` URL without trailing slashes; `None` when unset.
    fn http_url(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        let lower = raw.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.trim_matches('/').is_empty() && !rest.contains(char::is_whitespace) => {
                Ok(Some(raw.trim_end_matches('/').to_owned()))
            }
            _ => Err(ConfigError::new(
                name,
                format!("expected a URL starting with http:// or https://, got {raw:?}"),
            )),
        }
    }
}

/// How a number range reads in an error message.
fn number_rule(min: u64, max: u64) -> String {
    match (min, max) {
        (1, u64::MAX) => "a positive whole number".to_owned(),
        (_, u64::MAX) => format!("a whole number of at least {min}"),
        _ => format!("a whole number from {min} to {max}"),
    }
}

impl Settings {
    /// Reads and validates every setting from the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads and validates every setting through `get` (tests pass a map). Empty values count as unset.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(get: F) -> Result<Settings, ConfigError> {
        let v = Vars { get };
        let chatwoot = chatwoot(&v)?;
        let settings = Settings {
            listen_addr: listen_addr(&v)?,
            role: role(&v)?,
            redis_url: redis_url(&v)?,
            redis_key_prefix: v.string_or("REDIS_KEY_PREFIX", "wa-agent:"),
            history_window: v.number_or("HISTORY_WINDOW", 20, 1, 1000)? as usize,
            history_ttl: Duration::from_secs(v.number_or(
                "HISTORY_TTL_SECS",
                86_400,
                60,
                MAX_HISTORY_TTL_SECS,
            )?),
            debounce: Duration::from_millis(v.number_or("DEBOUNCE_MS", 1500, 0, 60_000)?),
            chatwoot,
            chatwoot_webhook_secret: v.secret("CHATWOOT_WEBHOOK_SECRET"),
            waha: waha(&v)?,
            waha_webhook_hmac_key: v.secret("WAHA_WEBHOOK_HMAC_KEY"),
            meta: meta(&v)?,
            llm: llm(&v)?,
            llm_timeout: Duration::from_secs(v.number_or("LLM_TIMEOUT_SECS", 60, 1, 600)?),
            system_prompt: system_prompt(&v)?,
            handoff_message: v.string_or("HANDOFF_MESSAGE", ""),
            reply_max_chars: v.number_or("REPLY_MAX_CHARS", 1000, 100, 4096)? as usize,
            send_presence: v.flag("SEND_PRESENCE", true)?,
            allow_groups: v.flag("ALLOW_GROUPS", false)?,
            require_signatures: v.flag("REQUIRE_SIGNATURES", false)?,
            log_format: log_format(&v)?,
            worker_concurrency: v.number_or("WORKER_CONCURRENCY", 64, 1, 10_000)? as usize,
            http_timeout: Duration::from_secs(v.number_or("HTTP_TIMEOUT_SECS", 10, 1, 120)?),
            reclaim_after: Duration::ZERO,
            transcribe: transcribe(&v)?,
            llm_vision: v.flag("LLM_VISION", false)?,
            media_max_bytes: v.number_or("MEDIA_MAX_BYTES", 16_777_216, 1, u64::MAX)?,
        };
        let mut settings = settings;
        let slowest = slowest_turn(settings.llm_timeout, settings.http_timeout);
        settings.reclaim_after = match v.number("RECLAIM_AFTER_SECS", 1, 86_400)? {
            None => slowest,
            Some(secs) if Duration::from_secs(secs) < slowest => {
                return Err(ConfigError::new(
                    "RECLAIM_AFTER_SECS",
                    format!(
                        "must be at least the slowest possible turn, {} s (3 × (LLM_TIMEOUT_SECS + 2 × HTTP_TIMEOUT_SECS) + {RECLAIM_MARGIN_SECS} s), got {secs}",
                        slowest.as_secs()
                    ),
                ));
            }
            Some(secs) => Duration::from_secs(secs),
        };
        check_signatures(&settings)?;
        Ok(settings)
    }

    /// A one-line, secret-free description of the settings for the start-up log.
    pub fn summary(&self) -> String {
        let role = match self.role {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        };
        let store = match &self.redis_url {
            Some(url) => match redact_redis_url(url.expose_secret()) {
                (shown, true) => format!("redis({shown}, password hidden)"),
                (shown, false) => format!("redis({shown})"),
            },
            None => "embedded(in-process, lost on restart)".to_owned(),
        };
        let chatwoot = match &self.chatwoot {
            Some(c) => format!("on(account {}, inbox {})", c.account_id, c.inbox_id),
            None => "off".to_owned(),
        };
        let waha = match &self.waha {
            Some(w) => format!("on(session {})", w.session),
            None => "off(replies logged)".to_owned(),
        };
        let meta = match (&self.meta.access_token, &self.meta.phone_number_id) {
            (Some(_), Some(id)) => format!("on(phone number id {id})"),
            _ => "off".to_owned(),
        };
        let llm = match &self.llm {
            Some(l) => format!("on(model {})", l.model.as_deref().unwrap_or("unset")),
            None => "off(echo agent)".to_owned(),
        };
        format!(
            "role={role} listen={} store={store} chatwoot={chatwoot} waha={waha} meta={meta} llm={llm} \
             debounce_ms={} history_window={} worker_concurrency={} require_signatures={}",
            self.listen_addr,
            self.debounce.as_millis(),
            self.history_window,
            self.worker_concurrency,
            self.require_signatures,
        )
    }
}

fn listen_addr<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<SocketAddr, ConfigError> {
    let raw = v.string_or("LISTEN_ADDR", "0.0.0.0:3000");
    raw.parse().map_err(|_| {
        ConfigError::new(
            "LISTEN_ADDR",
            format!("expected an IP address and port such as 0.0.0.0:3000, got {raw:?}"),
        )
    })
}

fn role<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<Role, ConfigError> {
    let raw = v.string_or("ROLE", "all");
    match raw.to_ascii_lowercase().as_str() {
        "all" => Ok(Role::All),
        "api" => Ok(Role::Api),
        "worker" => Ok(Role::Worker),
        _ => Err(ConfigError::new(
            "ROLE",
            format!("expected all, api or worker, got {raw:?}"),
        )),
    }
}

fn log_format<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<LogFormat, ConfigError> {
    let raw = v.string_or("LOG_FORMAT", "pretty");
    match raw.to_ascii_lowercase().as_str() {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(ConfigError::new(
            "LOG_FORMAT",
            format!("expected pretty or json, got {raw:?}"),
        )),
    }
}

/// `REDIS_URL`; its value is never echoed because it may hold a password.
fn redis_url<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<Option<SecretString>, ConfigError> {
    let Some(raw) = v.raw("REDIS_URL") else {
        return Ok(None);
    };
    let lower = raw.to_ascii_lowercase();
    let rest = ["redis://", "rediss://", "unix://"]
        .iter()
        .find_map(|s| lower.strip_prefix(s));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(Some(raw.into())),
        _ => Err(ConfigError::new(
            "REDIS_URL",
            "expected a URL starting with redis://, rediss:// or unix:// \
             (value not shown: it may hold a password)",
        )),
    }
}

/// The Chatwoot group: all four variables or none.
fn chatwoot<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<Option<ChatwootSettings>, ConfigError> {
    const GROUP: [&str; 4] = [
        "CHATWOOT_BASE_URL",
        "CHATWOOT_API_TOKEN",
        "CHATWOOT_ACCOUNT_ID",
        "CHATWOOT_INBOX_ID",
    ];
    let (set, missing): (Vec<&str>, Vec<&str>) = GROUP.iter().partition(|name| v.is_set(name));
    if set.is_empty() {
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

fn waha<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<Option<WahaSettings>, ConfigError> {
    let Some(base_url) = v.http_url("WAHA_BASE_URL")? else {
        return Ok(None);
    };
    Ok(Some(WahaSettings {
        base_url,
        api_key: v.secret("WAHA_API_KEY"),
        session: v.string_or("WAHA_SESSION", "default"),
    }))
}

fn meta<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<MetaSettings, ConfigError> {
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

fn llm<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<Option<LlmSettings>, ConfigError> {
    let Some(base_url) = v.http_url("LLM_BASE_URL")? else {
        return Ok(None);
    };
    Ok(Some(LlmSettings {
        base_url,
        api_key: v.secret("LLM_API_KEY"),
        model: v.raw("LLM_MODEL"),
    }))
}

/// `TRANSCRIBE_*`, falling back to the LLM's endpoint and key; `None` for `TRANSCRIBE_MODEL=off` or
/// when neither base URL is set.
fn transcribe<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<Option<TranscribeSettings>, ConfigError> {
    let model = v.string_or("TRANSCRIBE_MODEL", "whisper-1");
    if model.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let base_url = match v.http_url("TRANSCRIBE_BASE_URL")? {
        Some(url) => url,
        None => match v.http_url("LLM_BASE_URL")? {
            Some(url) => url,
            None => return Ok(None),
        },
    };
    Ok(Some(TranscribeSettings {
        base_url,
        api_key: v.secret("TRANSCRIBE_API_KEY").or_else(|| v.secret("LLM_API_KEY")),
        model,
    }))
}

/// `SYSTEM_PROMPT`, or the file `SYSTEM_PROMPT_FILE` names, or the built-in prompt.
fn system_prompt<F: Fn(&str) -> Option<String>>(v: &Vars<F>) -> Result<String, ConfigError> {
    match (v.raw("SYSTEM_PROMPT"), v.raw("SYSTEM_PROMPT_FILE")) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "SYSTEM_PROMPT, SYSTEM_PROMPT_FILE",
            "both are set; set one or the other",
        )),
        (Some(prompt), None) => Ok(prompt),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(Path::new(&path))
                .map_err(|e| ConfigError::new("SYSTEM_PROMPT_FILE", format!("cannot read {path:?}: {e}")))?;
            match text.trim() {
                "" => Err(ConfigError::new(
                    "SYSTEM_PROMPT_FILE",
                    format!("the file {path:?} is empty"),
                )),
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

/// The Redis URL without user info, query or fragment, and whether credentials were removed.
fn redact_redis_url(url: &str) -> (String, bool) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return ("(unparsable)".to_owned(), false);
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => (format!("{scheme}://{host}{path}"), true),
        None => (format!("{scheme}://{authority}{path}"), false),
    }
}

/// One documented setting, for `--help`, `.env.example` and the README.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    /// The environment variable.
    pub name: &'static str,
    /// Its default, or `unset`.
    pub default: &'static str,
    /// What it does.
    pub help: &'static str,
}

const fn doc(name: &'static str, default: &'static str, help: &'static str) -> SettingDoc {
    SettingDoc { name, default, help }
}

/// Every setting, in the order of `INTERFACE.md`.
pub const SETTINGS: &[SettingDoc] = &[
    doc("LISTEN_ADDR", "0.0.0.0:3000", "HTTP listen address (IP and port)"),
    doc(
        "ROLE",
        "all",
        "all: HTTP intake and workers; api: intake only; worker: workers only",
    ),
    doc(
        "REDIS_URL",
        "unset",
        "Redis for history, queue, dedupe and state (redis://, rediss:// or unix://). Unset: an embedded \
         in-process store and queue (one instance, lost on restart; a warning says so)",
    ),
    doc(
        "REDIS_KEY_PREFIX",
        "wa-agent:",
        "prefix of every Redis key, so deployments can share one Redis",
    ),
    doc(
        "HISTORY_WINDOW",
        "20",
        "messages kept per chat and given to the agent (1 to 1000)",
    ),
    doc(
        "HISTORY_TTL_SECS",
        "86400",
        "idle seconds after which a chat's cached history expires and is read again from Chatwoot \
         (at least 60)",
    ),
    doc(
        "DEBOUNCE_MS",
        "1500",
        "quiet time after a customer's last message before the agent answers; messages in that window are \
         answered together (0 to 60000)",
    ),
    doc(
        "CHATWOOT_BASE_URL",
        "unset",
        "Chatwoot base URL; the four CHATWOOT_* connection settings go together",
    ),
    doc(
        "CHATWOOT_API_TOKEN",
        "unset",
        "Chatwoot user access token (sent as the api_access_token header)",
    ),
    doc("CHATWOOT_ACCOUNT_ID", "unset", "Chatwoot account id"),
    doc(
        "CHATWOOT_INBOX_ID",
        "unset",
        "id of the Chatwoot API-channel inbox that mirrors WhatsApp chats. Unset (all four): no mirroring, \
         history lives in the store only",
    ),
    doc(
        "CHATWOOT_WEBHOOK_SECRET",
        "unset",
        "secret of the Chatwoot webhook / API inbox / agent bot; when set, X-Chatwoot-Signature is required \
         and checked",
    ),
    doc(
        "WAHA_BASE_URL",
        "unset",
        "WAHA gateway base URL for sending. Unset: replies to WAHA chats are logged",
    ),
    doc(
        "WAHA_API_KEY",
        "unset",
        "WAHA API key (sent as the X-Api-Key header)",
    ),
    doc("WAHA_SESSION", "default", "WAHA session name"),
    doc(
        "WAHA_WEBHOOK_HMAC_KEY",
        "unset",
        "when set, X-Webhook-Hmac (HMAC-SHA512 of the raw body) is required and checked on WAHA webhooks",
    ),
    doc(
        "META_GRAPH_BASE_URL",
        "https://graph.facebook.com/v25.0",
        "WhatsApp Cloud API Graph base URL",
    ),
    doc(
        "META_ACCESS_TOKEN",
        "unset",
        "WhatsApp Cloud API access token for sending",
    ),
    doc(
        "META_PHONE_NUMBER_ID",
        "unset",
        "WhatsApp Cloud API phone number id that sends the replies",
    ),
    doc(
        "META_APP_SECRET",
        "unset",
        "Meta app secret; when set, X-Hub-Signature-256 is required and checked",
    ),
    doc(
        "META_VERIFY_TOKEN",
        "unset",
        "token expected in Meta's webhook verification handshake",
    ),
    doc(
        "LLM_BASE_URL",
        "unset",
        "OpenAI-compatible endpoint; requests go to {LLM_BASE_URL}/chat/completions. Unset: a built-in \
         echo agent (a warning says so)",
    ),
    doc("LLM_API_KEY", "unset", "LLM API key (sent as a Bearer token)"),
    doc(
        "LLM_MODEL",
        "unset",
        "model name sent with each request (omitted when unset)",
    ),
    doc(
        "LLM_TIMEOUT_SECS",
        "60",
        "timeout of one LLM request in seconds (1 to 600)",
    ),
    doc(
        "TRANSCRIBE_BASE_URL",
        "unset",
        "OpenAI-compatible speech-to-text endpoint; voice notes and audio go to \
         {TRANSCRIBE_BASE_URL}/audio/transcriptions (multipart). Unset: LLM_BASE_URL",
    ),
    doc(
        "TRANSCRIBE_API_KEY",
        "unset",
        "speech-to-text API key (sent as a Bearer token). Unset: LLM_API_KEY",
    ),
    doc(
        "TRANSCRIBE_MODEL",
        "whisper-1",
        "speech-to-text model; off turns transcription off (voice notes stay [voice note])",
    ),
    doc(
        "LLM_VISION",
        "false",
        "true: images the customer sends reach the model as image_url content parts (data URLs)",
    ),
    doc(
        "MEDIA_MAX_BYTES",
        "16777216",
        "larger media are not downloaded; the agent sees the placeholder",
    ),
    doc(
        "SYSTEM_PROMPT",
        DEFAULT_SYSTEM_PROMPT,
        "the agent's instructions (not together with SYSTEM_PROMPT_FILE)",
    ),
    doc(
        "SYSTEM_PROMPT_FILE",
        "unset",
        "path of a file holding the agent's instructions, instead of SYSTEM_PROMPT",
    ),
    doc(
        "HANDOFF_MESSAGE",
        "empty",
        "what the customer is told when the agent hands the chat to a human (empty: nothing)",
    ),
    doc(
        "REPLY_MAX_CHARS",
        "1000",
        "longer replies are split at paragraph, then sentence boundaries and sent in order (100 to 4096)",
    ),
    doc(
        "SEND_PRESENCE",
        "true",
        "mark the customer's messages read and show typing while a turn runs",
    ),
    doc("ALLOW_GROUPS", "false", "true: group chats are answered too"),
    doc(
        "REQUIRE_SIGNATURES",
        "false",
        "true: start-up fails unless every enabled webhook route has its secret",
    ),
    doc(
        "LOG_FORMAT",
        "pretty",
        "pretty for a terminal, json for production logs",
    ),
    doc("RUST_LOG", "info", "log filter, e.g. info or wa_agent=debug,info"),
    doc(
        "WORKER_CONCURRENCY",
        "64",
        "chats one process handles at once (1 to 10000)",
    ),
    doc(
        "HTTP_TIMEOUT_SECS",
        "10",
        "timeout of one gateway or Chatwoot request (1 to 120)",
    ),
    doc(
        "RECLAIM_AFTER_SECS",
        "unset",
        "idle time after which work a dead worker held is taken over; at least 3 × (LLM_TIMEOUT_SECS + 2 × HTTP_TIMEOUT_SECS) + 10; unset: exactly that (250 with the defaults)",
    ),
];

/// The text of `wa-agent --help`: usage, commands and every setting with its default.
pub fn help_text() -> String {
    let mut out = format!(
        "wa-agent {}: {}\n\n\
         Usage: wa-agent [serve|migrate|dlq ...] [--help] [--version]\n\n\
         Commands:\n  \
           serve                   run the HTTP intake and the workers, as ROLE says (the default)\n  \
           migrate                 apply pending keyspace migrations to Redis and exit\n  \
           dlq list                list the dead letters (work that failed after its retries)\n  \
           dlq replay <id>|--all   put dead letters back in their chat's queue\n\n\
         Options:\n  \
           --help     print this text\n  \
           --version  print the version\n\n\
         Settings (environment variables; empty values count as unset):\n",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_DESCRIPTION"),
    );
    for s in SETTINGS {
        out.push_str(&format!("  {}  (default: {})\n", s.name, s.default));
        out.push_str(&wrap(s.help, "      ", 100));
    }
    out
}

/// Word-wraps `text` into lines of at most `width` characters, each starting with `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|k| map.get(k).cloned())
    }

    fn err(pairs: &[(&str, &str)]) -> ConfigError {
        from(pairs).expect_err("settings should be rejected")
    }

    const CHATWOOT: [(&str, &str); 4] = [
        ("CHATWOOT_BASE_URL", "https://chatwoot.example.com/"),
        ("CHATWOOT_API_TOKEN", "cw-token-secret-1"),
        ("CHATWOOT_ACCOUNT_ID", "3"),
        ("CHATWOOT_INBOX_ID", "7"),
    ];

    #[test]
    fn defaults_match_the_interface() {
        let s = from(&[]).unwrap();
        assert_eq!(s.listen_addr, "0.0.0.0:3000".parse().unwrap());
        assert_eq!(s.role, Role::All);
        assert!(s.redis_url.is_none());
        assert_eq!(s.redis_key_prefix, "wa-agent:");
        assert_eq!(s.history_window, 20);
        assert_eq!(s.history_ttl, Duration::from_secs(86_400));
        assert_eq!(s.debounce, Duration::from_millis(1500));
        assert!(s.chatwoot.is_none() && s.waha.is_none() && s.llm.is_none());
        assert!(s.chatwoot_webhook_secret.is_none() && s.waha_webhook_hmac_key.is_none());
        assert_eq!(s.meta.graph_base_url, "https://graph.facebook.com/v25.0");
        assert!(s.meta.access_token.is_none() && s.meta.phone_number_id.is_none());
        assert_eq!(s.llm_timeout, Duration::from_secs(60));
        assert_eq!(s.system_prompt, DEFAULT_SYSTEM_PROMPT);
        assert_eq!(s.handoff_message, "");
        assert_eq!(s.reply_max_chars, 1000);
        assert!(s.send_presence && !s.allow_groups && !s.require_signatures);
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.worker_concurrency, 64);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let s = from(&[
            ("HISTORY_WINDOW", ""),
            ("ROLE", "  "),
            ("WAHA_BASE_URL", ""),
            ("CHATWOOT_API_TOKEN", ""),
        ])
        .unwrap();
        assert_eq!(s.history_window, 20);
        assert_eq!(s.role, Role::All);
        assert!(s.waha.is_none() && s.chatwoot.is_none());
    }

    #[test]
    fn values_are_parsed() {
        let mut vars = vec![
            ("LISTEN_ADDR", "127.0.0.1:8080"),
            ("ROLE", "Worker"),
            ("REDIS_URL", "redis://localhost:6379/2"),
            ("REDIS_KEY_PREFIX", "test-1:"),
            ("HISTORY_WINDOW", "50"),
            ("DEBOUNCE_MS", "0"),
            ("WAHA_BASE_URL", "http://waha:3000//"),
            ("WAHA_SESSION", "shop"),
            ("LLM_BASE_URL", "https://llm.example.com/v1/"),
            ("LLM_MODEL", "small-model"),
            ("SEND_PRESENCE", "no"),
            ("ALLOW_GROUPS", "YES"),
            ("LOG_FORMAT", "json"),
            ("WORKER_CONCURRENCY", "8"),
            ("HANDOFF_MESSAGE", "A colleague will reply soon."),
        ];
        vars.extend(CHATWOOT);
        let s = from(&vars).unwrap();
        assert_eq!(s.listen_addr.port(), 8080);
        assert_eq!(s.role, Role::Worker);
        assert_eq!(
            s.redis_url.as_ref().unwrap().expose_secret(),
            "redis://localhost:6379/2"
        );
        assert_eq!(s.redis_key_prefix, "test-1:");
        assert_eq!(s.history_window, 50);
        assert_eq!(s.debounce, Duration::ZERO);
        let waha = s.waha.as_ref().unwrap();
        assert_eq!(
            (waha.base_url.as_str(), waha.session.as_str()),
            ("http://waha:3000", "shop")
        );
        let llm = s.llm.as_ref().unwrap();
        assert_eq!(llm.base_url, "https://llm.example.com/v1");
        assert_eq!(llm.model.as_deref(), Some("small-model"));
        let cw = s.chatwoot.as_ref().unwrap();
        assert_eq!(
            (cw.base_url.as_str(), cw.account_id, cw.inbox_id),
            ("https://chatwoot.example.com", 3, 7)
        );
        assert!(!s.send_presence && s.allow_groups);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.worker_concurrency, 8);
        assert_eq!(s.handoff_message, "A colleague will reply soon.");
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases = [
            ("LISTEN_ADDR", "localhost"),
            ("ROLE", "both"),
            ("REDIS_URL", "http://redis:6379"),
            ("HISTORY_WINDOW", "abc"),
            ("HISTORY_WINDOW", "0"),
            ("HISTORY_WINDOW", "1001"),
            ("HISTORY_TTL_SECS", "59"),
            ("DEBOUNCE_MS", "60001"),
            ("DEBOUNCE_MS", "-1"),
            ("WAHA_BASE_URL", "waha:3000"),
            ("META_GRAPH_BASE_URL", "ftp://graph.example.com"),
            ("LLM_BASE_URL", "https://"),
            ("LLM_TIMEOUT_SECS", "0"),
            ("LLM_TIMEOUT_SECS", "601"),
            ("REPLY_MAX_CHARS", "99"),
            ("REPLY_MAX_CHARS", "4097"),
            ("SEND_PRESENCE", "maybe"),
            ("ALLOW_GROUPS", "2"),
            ("REQUIRE_SIGNATURES", "on"),
            ("LOG_FORMAT", "text"),
            ("WORKER_CONCURRENCY", "0"),
            ("WORKER_CONCURRENCY", "10001"),
        ];
        for (name, value) in cases {
            let e = err(&[(name, value)]);
            assert_eq!(e.variable, name, "{name}={value}: {e}");
            assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
        }
        let e = err(&[("HISTORY_WINDOW", "abc")]);
        assert_eq!(
            e.to_string(),
            "HISTORY_WINDOW: expected a whole number from 1 to 1000, got \"abc\""
        );
    }

    #[test]
    fn redis_url_error_does_not_echo_the_value() {
        let e = err(&[("REDIS_URL", "http://user:hunter2@redis:6379")]);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        for ok in [
            "redis://localhost",
            "rediss://:pw@host:6380/1",
            "unix:///run/redis.sock",
        ] {
            assert!(from(&[("REDIS_URL", ok)]).is_ok(), "{ok}");
        }
    }

    #[test]
    fn chatwoot_ids_must_be_positive_integers() {
        let mut vars = CHATWOOT.to_vec();
        vars[2] = ("CHATWOOT_ACCOUNT_ID", "0");
        let e = err(&vars);
        assert_eq!(e.variable, "CHATWOOT_ACCOUNT_ID");
        assert!(e.reason.contains("positive whole number"), "{e}");
        vars[2] = ("CHATWOOT_ACCOUNT_ID", "3");
        vars[3] = ("CHATWOOT_INBOX_ID", "seven");
        assert_eq!(err(&vars).variable, "CHATWOOT_INBOX_ID");
    }

    #[test]
    fn a_partial_chatwoot_group_names_the_missing_variables() {
        let e = err(&CHATWOOT[..2]);
        assert_eq!(e.variable, "CHATWOOT_ACCOUNT_ID, CHATWOOT_INBOX_ID");
        let e = err(&[CHATWOOT[3]]);
        assert!(
            e.to_string()
                .starts_with("CHATWOOT_BASE_URL, CHATWOOT_API_TOKEN, CHATWOOT_ACCOUNT_ID: ")
        );
        assert!(!err(&CHATWOOT[..3]).to_string().contains("cw-token-secret-1"));
    }

    #[test]
    fn require_signatures_needs_the_waha_key() {
        let e = err(&[("REQUIRE_SIGNATURES", "true")]);
        assert_eq!(e.variable, "WAHA_WEBHOOK_HMAC_KEY");
        assert!(e.reason.contains("REQUIRE_SIGNATURES"), "{e}");
        assert!(from(&[("REQUIRE_SIGNATURES", "1"), ("WAHA_WEBHOOK_HMAC_KEY", "k")]).is_ok());
    }

    #[test]
    fn require_signatures_needs_the_chatwoot_secret_when_chatwoot_is_on() {
        let mut vars = CHATWOOT.to_vec();
        vars.extend([("REQUIRE_SIGNATURES", "true"), ("WAHA_WEBHOOK_HMAC_KEY", "k")]);
        assert_eq!(err(&vars).variable, "CHATWOOT_WEBHOOK_SECRET");
        vars.push(("CHATWOOT_WEBHOOK_SECRET", "s"));
        assert!(from(&vars).is_ok());
    }

    #[test]
    fn require_signatures_needs_the_meta_secret_when_meta_is_on() {
        let base = [("REQUIRE_SIGNATURES", "yes"), ("WAHA_WEBHOOK_HMAC_KEY", "k")];
        for meta in ["META_ACCESS_TOKEN", "META_VERIFY_TOKEN", "META_PHONE_NUMBER_ID"] {
            let mut vars = base.to_vec();
            vars.push((meta, "x"));
            assert_eq!(err(&vars).variable, "META_APP_SECRET", "{meta}");
            vars.push(("META_APP_SECRET", "s"));
            assert!(from(&vars).is_ok(), "{meta}");
        }
        let e = err(&[("REQUIRE_SIGNATURES", "true"), ("META_VERIFY_TOKEN", "v")]);
        assert_eq!(e.variable, "WAHA_WEBHOOK_HMAC_KEY, META_APP_SECRET");
    }

    #[test]
    fn system_prompt_comes_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prompt.txt");
        std::fs::write(&path, "You sell cars.\n").unwrap();
        let s = from(&[("SYSTEM_PROMPT_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(s.system_prompt, "You sell cars.");
        let s = from(&[("SYSTEM_PROMPT", "Be brief.")]).unwrap();
        assert_eq!(s.system_prompt, "Be brief.");
    }

    #[test]
    fn system_prompt_file_errors_name_the_variable_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let missing = missing.to_str().unwrap();
        let e = err(&[("SYSTEM_PROMPT_FILE", missing)]);
        assert_eq!(e.variable, "SYSTEM_PROMPT_FILE");
        assert!(e.reason.contains(missing), "{e}");
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, " \n").unwrap();
        let e = err(&[("SYSTEM_PROMPT_FILE", empty.to_str().unwrap())]);
        assert!(
            e.reason.contains("empty") && e.reason.contains("empty.txt"),
            "{e}"
        );
        let e = err(&[("SYSTEM_PROMPT", "a"), ("SYSTEM_PROMPT_FILE", "/etc/hostname")]);
        assert_eq!(e.variable, "SYSTEM_PROMPT, SYSTEM_PROMPT_FILE");
    }

    fn all_secrets() -> Vec<(&'static str, &'static str)> {
        let mut vars = CHATWOOT.to_vec();
        vars.extend([
            (
                "REDIS_URL",
                "redis://admin:redis-pass-2@redis.internal:6379/0?timeout=5",
            ),
            ("CHATWOOT_WEBHOOK_SECRET", "cw-hook-secret-3"),
            ("WAHA_BASE_URL", "http://waha:3000"),
            ("WAHA_API_KEY", "waha-key-secret-4"),
            ("WAHA_WEBHOOK_HMAC_KEY", "waha-hmac-secret-5"),
            ("META_ACCESS_TOKEN", "meta-token-secret-6"),
            ("META_PHONE_NUMBER_ID", "1234567890"),
            ("META_APP_SECRET", "meta-app-secret-7"),
            ("META_VERIFY_TOKEN", "meta-verify-secret-8"),
            ("LLM_BASE_URL", "https://llm.example.com/v1"),
            ("LLM_API_KEY", "llm-key-secret-9"),
            ("REQUIRE_SIGNATURES", "true"),
        ]);
        vars
    }

    #[test]
    fn debug_and_summary_never_show_a_secret() {
        let vars = all_secrets();
        let s = from(&vars).unwrap();
        let printed = format!("{s:?}\n{}", s.summary());
        for secret in [
            "cw-token-secret-1",
            "redis-pass-2",
            "admin",
            "cw-hook",
            "waha-key",
            "waha-hmac",
            "meta-",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked");
        }
        for secret in ["meta-verify-secret-8", "llm-key-secret-9", "timeout=5"] {
            assert!(!printed.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn summary_describes_the_setup_in_one_line() {
        let s = from(&all_secrets()).unwrap();
        let line = s.summary();
        assert!(!line.contains('\n'));
        assert!(
            line.contains("store=redis(redis://redis.internal:6379/0, password hidden)"),
            "{line}"
        );
        assert!(line.contains("chatwoot=on(account 3, inbox 7)"), "{line}");
        assert!(line.contains("role=all listen=0.0.0.0:3000"), "{line}");
        let line = from(&[]).unwrap().summary();
        assert!(
            line.contains("store=embedded") && line.contains("llm=off(echo agent)"),
            "{line}"
        );
        assert!(line.contains("debounce_ms=1500 history_window=20"), "{line}");
        assert_eq!(redact_redis_url("redis://host:6379").0, "redis://host:6379");
    }

    #[test]
    fn transcription_follows_the_llm_unless_told_otherwise() {
        let s = from(&[]).unwrap();
        assert!(s.transcribe.is_none());
        assert!(!s.llm_vision);
        assert_eq!(s.media_max_bytes, 16_777_216);
        let s = from(&[
            ("LLM_BASE_URL", "https://llm.example.com/v1/"),
            ("LLM_API_KEY", "llm-key"),
            ("LLM_VISION", "true"),
            ("MEDIA_MAX_BYTES", "1000"),
        ])
        .unwrap();
        let t = s.transcribe.expect("transcription on");
        assert_eq!(t.base_url, "https://llm.example.com/v1");
        assert_eq!(t.api_key.unwrap().expose_secret(), "llm-key");
        assert_eq!(t.model, "whisper-1");
        assert!(s.llm_vision);
        assert_eq!(s.media_max_bytes, 1000);
        let s = from(&[
            ("LLM_BASE_URL", "https://llm.example.com/v1"),
            ("TRANSCRIBE_BASE_URL", "https://api.groq.com/openai/v1"),
            ("TRANSCRIBE_API_KEY", "groq-key"),
            ("TRANSCRIBE_MODEL", "whisper-large-v3"),
        ])
        .unwrap();
        let t = s.transcribe.unwrap();
        assert_eq!(t.base_url, "https://api.groq.com/openai/v1");
        assert_eq!(t.api_key.unwrap().expose_secret(), "groq-key");
        assert_eq!(t.model, "whisper-large-v3");
        let off = from(&[
            ("LLM_BASE_URL", "https://llm.example.com/v1"),
            ("TRANSCRIBE_MODEL", "off"),
        ]);
        assert!(off.unwrap().transcribe.is_none());
        assert_eq!(err(&[("MEDIA_MAX_BYTES", "0")]).variable, "MEDIA_MAX_BYTES");
        assert_eq!(err(&[("LLM_VISION", "maybe")]).variable, "LLM_VISION");
        assert_eq!(
            err(&[("TRANSCRIBE_BASE_URL", "ftp://x")]).variable,
            "TRANSCRIBE_BASE_URL"
        );
    }

    #[test]
    fn every_setting_is_documented() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example");
        let example = std::fs::read_to_string(path).expect(".env.example should exist");
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let help = help_text();
        assert!(help.contains("wa-agent [serve|migrate|dlq ...] [--help] [--version]"));
        for s in SETTINGS {
            let line = example.lines().find(|l| {
                l.trim_start_matches(['#', ' '])
                    .starts_with(&format!("{}=", s.name))
            });
            let line = line.unwrap_or_else(|| panic!("{} is missing from .env.example", s.name));
            match s.default {
                "unset" => assert!(line.starts_with('#'), "{} is unset by default: {line}", s.name),
                "empty" => assert_eq!(line, format!("{}=", s.name)),
                default => assert!(line.ends_with(&format!("{}={default}", s.name)), "{line}"),
            }
            assert!(help.contains(s.name), "{} is missing from --help", s.name);
            assert!(
                readme.contains(&format!("| `{}` |", s.name)),
                "{} is missing from README.md",
                s.name
            );
        }
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len(), "a setting is listed twice");
    }
}
