//! The documentation of every setting: one table behind `wa-agent --help`, `.env.example` and the
//! README's settings table (a unit test keeps the three in step).
//!
//! Invariant: every setting `Settings` reads is listed here exactly once, in the order of
//! `INTERFACE.md`, with its default as an operator would write it.

use super::DEFAULT_SYSTEM_PROMPT;

/// One documented setting, for `--help`, `.env.example` and the README.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    /// The environment variable (its lower-case form is the settings file's key).
    pub name: &'static str,
    /// Its default: a literal value, `unset`, `empty`, or (when `computed`) a description.
    pub default: &'static str,
    /// What it does.
    pub help: &'static str,
    /// The default is derived at start-up (from another setting or the host), not a literal.
    pub computed: bool,
}

const fn doc(name: &'static str, default: &'static str, help: &'static str) -> SettingDoc {
    SettingDoc {
        name,
        default,
        help,
        computed: false,
    }
}

const fn derived(name: &'static str, default: &'static str, help: &'static str) -> SettingDoc {
    SettingDoc {
        name,
        default,
        help,
        computed: true,
    }
}

/// Every setting, in the order of `INTERFACE.md` (its Additions last).
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
        "12",
        "idle seconds after which work held by a consumer that stopped renewing its chat lease is taken \
         over (12 to 3600)",
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
        "PLAYGROUND",
        "unset",
        "on/off: the browser playground at /playground (a chat page on the web channel); unset: on without \
         REDIS_URL, off with it",
    ),
    doc(
        "PLAYGROUND_TOKEN",
        "unset",
        "bearer token the playground page asks for; required when the playground is on with REDIS_URL",
    ),
    doc(
        "EVOLUTION_BASE_URL",
        "unset",
        "Evolution API base URL for sending (POST /message/sendText/{instance}) and fetching customers' files (POST /chat/getBase64FromMediaMessage/{instance}). Unset: replies to Evolution chats are logged",
    ),
    doc(
        "EVOLUTION_API_KEY",
        "unset",
        "Evolution API key: sent as the apikey header, and required on POST /webhooks/evolution when set",
    ),
    doc(
        "EVOLUTION_INSTANCE",
        "unset",
        "the Evolution API instance replies are sent through",
    ),
    doc(
        "CHATWOOT_AGENT_BOT_TOKEN",
        "unset",
        "access token of a Chatwoot Agent Bot; conversations of the inboxes it is attached to (any channel) are answered through Chatwoot itself",
    ),
    derived(
        "CHATWOOT_AGENT_BOT_SECRET",
        "CHATWOOT_WEBHOOK_SECRET",
        "the Agent Bot's own webhook secret; when set, its events' X-Chatwoot-Signature is checked with it",
    ),
    doc(
        "SHUTDOWN_GRACE_SECS",
        "30",
        "after SIGTERM, running turns may finish within this many seconds; a turn still running then is \
         abandoned (no reply sent) and its chat handed on (1 to 3600)",
    ),
    derived(
        "CONFIG_FILE",
        "wa-agent.toml when it exists",
        "TOML settings file: lower-case keys (history_window = 30) plus [[mcp_servers]] tables; an \
         environment variable wins over the file. Set but missing: start-up fails",
    ),
    derived(
        "CONSUMER_NAME",
        "{host name}:{LISTEN_ADDR port}",
        "this instance's stable name in the work stream; an instance restarted under the same name \
         resumes its own unfinished turns at once",
    ),
    derived(
        "TIMEZONE",
        "the Chatwoot inbox's timezone, else UTC",
        "the business's IANA time zone, e.g. Europe/Amsterdam",
    ),
    derived(
        "LEGACY_TIMEZONE",
        "TIMEZONE",
        "IANA zone of the replaced system's naive timestamps, for the cut-over import",
    ),
    doc(
        "MCP_SERVERS",
        "unset",
        "comma-separated name=url list of MCP servers (streamable HTTP); their tools are offered to the \
         agent as name__tool. Headers (auth) go in CONFIG_FILE ([[mcp_servers]] name, url, headers)",
    ),
    doc(
        "AGENT_MAX_STEPS",
        "5",
        "model calls per turn: tool rounds plus the final answer; when used up, the turn is handed to a \
         human like an LLM failure",
    ),
    doc(
        "TOOL_TIMEOUT_SECS",
        "15",
        "limit of one tool call; a tool that fails or times out answers the model with an error result, \
         never the customer",
    ),
    doc(
        "CATALOGUE_FILE",
        "unset",
        "CSV (header row) or JSON array of objects: the business's items (cars in stock, products, rooms). \
         When set, the agent gets search_catalogue; a bad file fails start-up with its line",
    ),
    doc(
        "CONTACT_ATTRIBUTES",
        "interest,budget,timeline",
        "the contact fields the agent may record with update_contact (Chatwoot contact custom attributes; \
         none: the tool records only name and email)",
    ),
    doc(
        "BOT_HOURS",
        "always",
        "when the agent answers: always, outside_working_hours (humans answer during working hours) or \
         inside_working_hours",
    ),
    derived(
        "WORKING_HOURS",
        "the Chatwoot inbox's working hours, else always working",
        "the team's weekly hours in TIMEZONE, e.g. mon-fri 09:00-18:00, sat 10:00-14:00",
    ),
    derived(
        "OUT_OF_OFFICE_MESSAGE",
        "the Chatwoot inbox's out_of_office_message, else empty",
        "sent once per closed period to a customer whom neither the bot nor a human will answer now",
    ),
    derived(
        "HISTORY_SUMMARY",
        "true when an LLM is configured",
        "messages leaving the window are condensed into the chat's summary, carried by every later prompt",
    ),
];

/// The settings part of `wa-agent --help`: every setting with its default.
pub fn settings_help() -> String {
    let mut out = String::from(
        "Settings (environment variables, or lower-case keys in CONFIG_FILE; the environment wins; \
         empty values count as unset; a .env file in the working directory is read too):\n",
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
