//! Typed settings, read once at start-up from defaults, an optional TOML file and the environment.
//!
//! Precedence: built-in defaults < `CONFIG_FILE` (TOML, lower-case keys) < environment variables; an
//! empty or blank value counts as unset at every layer. `figment` layers the sources and records which
//! one supplied each value (`sources`), so a bad value is reported as `HISTORY_WINDOW (environment): …`
//! or `history_window (wa-agent.toml line 3): …`. Each setting is written once, as a row of the
//! registry (`registry`: name, default, meaning, group, secret or not); the reads take their defaults
//! and ranges from it, and `--help`, `.env.example` and the README's settings tables are rendered from
//! it (`docs`). This module keeps only what the crates cannot do: typed validation (`validate`),
//! cross-field rules, the MCP server list (`mcp`), the registry and its docs, and a secret-free summary.
//! Secrets are `SecretString` and never printed, not even in an error.

mod channels;
mod docs;
mod features;
mod hours;
mod mcp;
mod registry;
mod sources;
mod tools;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use channels::{AgentBotSettings, EvolutionSettings};
pub use docs::{env_example, readme_tables, settings_help};
pub use features::TranscribeSettings;
pub use hours::HoursSettings;
pub use registry::{DefaultValue, Group, SETTINGS, Setting};
pub use sources::{DEFAULT_CONFIG_FILE, config_file_path};
pub use tools::{DEFAULT_CONTACT_ATTRIBUTES, ToolSettings};

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
    /// `WAHA_SESSION`.
    pub session: String,
}

/// WhatsApp Cloud API settings.
#[derive(Debug, Clone)]
pub struct MetaSettings {
    /// `META_GRAPH_BASE_URL`, without a trailing slash.
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

/// One MCP server: from `MCP_SERVERS` (`name=url`) and/or a `[[mcp_servers]]` table of the file.
#[derive(Debug, Clone)]
pub struct McpServerSettings {
    /// `[a-z0-9_-]+`, unique; the agent sees its tools as `{name}__{tool}`.
    pub name: String,
    /// Streamable-HTTP endpoint, without a trailing slash.
    pub url: String,
    /// Headers sent with every request (from the file only); values are secrets.
    pub headers: Vec<(String, SecretString)>,
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
    /// `RECLAIM_AFTER_SECS`: idle time after which work of a dead consumer is taken over (12 s to 1 h).
    pub reclaim_after: Duration,
    /// `SHUTDOWN_GRACE_SECS`: how long running turns may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// `CONSUMER_NAME`: this instance's stable name in the work stream.
    pub consumer_name: String,
    /// `TIMEZONE`: the business's zone (IANA name).
    pub timezone: jiff::tz::TimeZone,
    /// `LEGACY_TIMEZONE`: the zone of the replaced system's naive timestamps.
    pub legacy_timezone: jiff::tz::TimeZone,
    /// `MCP_SERVERS` merged with the file's `[[mcp_servers]]`, in order of first mention.
    pub mcp_servers: Vec<McpServerSettings>,
    /// `TRANSCRIBE_*`; `None` when `TRANSCRIBE_MODEL=off` or no endpoint is known.
    pub transcribe: Option<TranscribeSettings>,
    /// `LLM_VISION`: images reach the model as `image_url` content parts.
    pub llm_vision: bool,
    /// `MEDIA_MAX_BYTES`: larger media are not downloaded.
    pub media_max_bytes: u64,
    /// `PLAYGROUND`: the browser playground (`/playground`); default on without `REDIS_URL`, else off.
    pub playground: bool,
    /// `PLAYGROUND_TOKEN`: the bearer token the playground asks for; required when it is on with Redis.
    pub playground_token: Option<SecretString>,
    /// `EVOLUTION_*`; `None` when Evolution API is not configured.
    pub evolution: Option<EvolutionSettings>,
    /// `CHATWOOT_AGENT_BOT_*`; `None` when Agent Bot mode is off.
    pub agent_bot: Option<AgentBotSettings>,
    /// `AGENT_MAX_STEPS`, `TOOL_TIMEOUT_SECS`, `CATALOGUE_FILE`, `CONTACT_ATTRIBUTES`.
    pub tools: ToolSettings,
    /// `BOT_HOURS`, `WORKING_HOURS`, `TIMEZONE` (unset: `None`), `OUT_OF_OFFICE_MESSAGE`, `HISTORY_SUMMARY`.
    pub hours: HoursSettings,
}

/// `RUST_LOG`'s default filter, from the registry (read by `telemetry`, not by `Settings`).
pub const DEFAULT_LOG_FILTER: &str = match registry::setting!("RUST_LOG").literal() {
    Some(filter) => filter,
    None => panic!("RUST_LOG has a literal default"),
};

/// The built-in system prompt, used when neither `SYSTEM_PROMPT` nor `SYSTEM_PROMPT_FILE` is set.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful, friendly assistant answering customers on \
    WhatsApp. Answer briefly, in the customer's language. If you do not know something, say so and offer \
    to hand the chat to a colleague.";

/// A setting that cannot be used. The message names the setting, where its value came from, and why;
/// never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The setting at fault (`HISTORY_WINDOW` from the environment, `history_window` from the file),
    /// or several joined by `", "`.
    pub variable: String,
    /// Where the bad value came from (`environment`, `wa-agent.toml line 3`), when it is one value.
    pub origin: Option<String>,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{} ({origin}): {}", self.variable, self.reason),
            None => write!(f, "{}: {}", self.variable, self.reason),
        }
    }
}

impl ConfigError {
    /// An error about several settings together (no single origin).
    pub(crate) fn new(variable: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            origin: None,
            reason: reason.into(),
        }
    }
}

impl Settings {
    /// Reads and validates every setting from the process environment and the settings file
    /// (`CONFIG_FILE`, else `wa-agent.toml` in the working directory when it exists).
    pub fn from_env() -> Result<Settings, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        let file = config_file_path(&env, Path::new("."))?;
        Self::load(env, file.as_deref())
    }

    /// Reads and validates every setting from variables only, through `get` (tests pass a map): no
    /// settings file, no `.env`. Empty values count as unset.
    pub fn from_vars<F: Fn(&str) -> Option<String>>(get: F) -> Result<Settings, ConfigError> {
        Self::load(get, None)
    }

    /// Reads and validates every setting: defaults, then `config_file` (TOML) when given, then the
    /// variables `env` returns, the later winning. A `config_file` that cannot be read is an error.
    pub fn load<F: Fn(&str) -> Option<String>>(
        env: F,
        config_file: Option<&Path>,
    ) -> Result<Settings, ConfigError> {
        let sources = sources::Sources::new(&env, config_file)?;
        validate::settings(&sources, &env)
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
        let mcp: Vec<&str> = self.mcp_servers.iter().map(|m| m.name.as_str()).collect();
        format!(
            "role={role} listen={} consumer={} store={store} chatwoot={chatwoot} waha={waha} meta={meta} \
             llm={llm} mcp=[{}] debounce_ms={} history_window={} worker_concurrency={} \
             require_signatures={} timezone={} playground={}",
            self.listen_addr,
            self.consumer_name,
            mcp.join(","),
            self.debounce.as_millis(),
            self.history_window,
            self.worker_concurrency,
            self.require_signatures,
            self.timezone.iana_name().unwrap_or("UTC"),
            if self.playground { "on" } else { "off" },
        )
    }
}

/// The Redis URL without user info, query or fragment, and whether credentials were removed.
pub fn redact_redis_url(url: &str) -> (String, bool) {
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
