//! The table itself: every setting the service reads, grouped by section, in the order the docs show.
//!
//! Invariant: a row is the only place a setting's default, range and meaning are written; a change
//! here is a change of `--help`, and the drift test asks for `.env.example` and the README to be
//! regenerated (see `config::docs`).

use super::Group::{Agent, Chatwoot, Evolution, Hours, Logging, Media, Meta, Service, Store, Turns, Waha};
use super::{Setting, derived, empty, number, secret, unset, value};
use crate::config::{DEFAULT_CONTACT_ATTRIBUTES, DEFAULT_SYSTEM_PROMPT};

/// Upper bound of `HISTORY_TTL_SECS` (ten years), so later millisecond arithmetic cannot overflow.
const MAX_HISTORY_TTL_SECS: u64 = 315_360_000;

/// Every setting (kept by hand as a table: one row each, so `rustfmt` leaves it alone).
#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    // Service
    value(Service, "LISTEN_ADDR", "0.0.0.0:3000", "HTTP listen address (IP and port)"),
    value(Service, "ROLE", "all",
        "`all`: HTTP intake and workers; `api`: intake only; `worker`: workers only"),
    derived(Service, "CONFIG_FILE", "`wa-agent.toml` when it exists", "/etc/wa-agent/wa-agent.toml",
        "TOML settings file: lower-case keys (`history_window = 30`) plus `[[mcp_servers]]` tables; an \
         environment variable wins over the file. Set but missing: start-up fails")
        .env_only().see("Settings file"),
    number(Service, "WORKER_CONCURRENCY", "64", (1, 10_000), "chats one process handles at once"),
    number(Service, "HTTP_TIMEOUT_SECS", "10", (1, 120),
        "timeout of one gateway or Chatwoot request in seconds"),
    number(Service, "RECLAIM_AFTER_SECS", "12", (12, 3600),
        "idle seconds after which work held by a consumer that stopped renewing its chat lease is taken \
         over"),
    number(Service, "SHUTDOWN_GRACE_SECS", "30", (1, 3600),
        "after SIGTERM, running turns may finish within this many seconds; a turn still running then is \
         abandoned (no reply sent) and its chat handed on"),
    derived(Service, "CONSUMER_NAME", "`{host name}:{LISTEN_ADDR port}`", "wa-agent-1:3000",
        "this instance's stable name in the work stream; an instance restarted under the same name resumes \
         its own unfinished turns at once. The host name is `HOSTNAME`, else `/etc/hostname`, else the \
         system's"),
    value(Service, "REQUIRE_SIGNATURES", "false",
        "`true`: start-up fails unless every enabled webhook route has its secret"),
    derived(Service, "PLAYGROUND", "on without `REDIS_URL`, else off", "on",
        "`on`/`off`: the browser playground at `/playground` (a chat page on the web channel)"),
    secret(Service, "PLAYGROUND_TOKEN", "your-playground-token",
        "bearer token the playground page asks for; required when the playground is on with `REDIS_URL`"),
    // Logging
    value(Logging, "LOG_FORMAT", "pretty", "`pretty` for a terminal, `json` for production logs"),
    value(Logging, "RUST_LOG", "info", "log filter, e.g. `info` or `wa_agent=debug,info`").env_only(),
    // Store
    secret(Store, "REDIS_URL", "redis://localhost:6379",
        "Redis for history, queue, dedupe and state (`redis://`, `rediss://` or `unix://`). Unset: an \
         embedded in-process store and queue (one instance, lost on restart; a warning says so)"),
    value(Store, "REDIS_KEY_PREFIX", "wa-agent:",
        "prefix of every Redis key, so deployments can share one Redis"),
    // History and turns
    number(Turns, "HISTORY_WINDOW", "20", (1, 1000), "messages kept per chat and given to the agent"),
    number(Turns, "HISTORY_TTL_SECS", "86400", (60, MAX_HISTORY_TTL_SECS),
        "idle seconds after which a chat's cached history expires and is read again from Chatwoot"),
    derived(Turns, "HISTORY_SUMMARY", "`true` when an LLM is configured", "true",
        "messages leaving the window are condensed into the chat's summary, which every later prompt \
         carries"),
    number(Turns, "DEBOUNCE_MS", "1500", (0, 60_000),
        "quiet time in milliseconds after a customer's last message before the agent answers; messages in \
         that window are answered together"),
    number(Turns, "REPLY_MAX_CHARS", "1000", (100, 4096),
        "longer replies are split at paragraph, then sentence boundaries and sent in order"),
    value(Turns, "SEND_PRESENCE", "true",
        "mark the customer's messages read and show typing while a turn runs"),
    value(Turns, "ALLOW_GROUPS", "false", "`true`: group chats are answered too"),
    empty(Turns, "HANDOFF_MESSAGE",
        "what the customer is told when the agent hands the chat to a human (empty: nothing)"),
    // Time and working hours
    derived(Hours, "TIMEZONE", "the Chatwoot inbox's `timezone`, else `UTC`", "Europe/Amsterdam",
        "the business's IANA time zone, e.g. `Europe/Amsterdam` (the zone database is built in)"),
    derived(Hours, "LEGACY_TIMEZONE", "`TIMEZONE`", "Europe/Amsterdam",
        "IANA zone of the replaced system's naive timestamps, for the cut-over import"),
    value(Hours, "BOT_HOURS", "always",
        "when the agent answers: `always`, `outside_working_hours` (humans answer during working hours) or \
         `inside_working_hours`").see("Working hours"),
    derived(Hours, "WORKING_HOURS", "the Chatwoot inbox's working hours, else always working",
        "mon-fri 09:00-18:00, sat 10:00-14:00",
        "the team's weekly hours in `TIMEZONE`, e.g. `mon-fri 09:00-18:00, sat 10:00-14:00`"),
    derived(Hours, "OUT_OF_OFFICE_MESSAGE", "the Chatwoot inbox's `out_of_office_message`, else empty",
        "We are closed now; we answer you as soon as we are back.",
        "sent once per closed period to a customer whom neither the bot nor a human will answer now"),
    // Chatwoot
    unset(Chatwoot, "CHATWOOT_BASE_URL", "https://chatwoot.example.com", "Chatwoot base URL"),
    secret(Chatwoot, "CHATWOOT_API_TOKEN", "your-user-access-token",
        "Chatwoot user access token (sent as the `api_access_token` header)"),
    unset(Chatwoot, "CHATWOOT_ACCOUNT_ID", "1", "Chatwoot account id").range(1, u64::MAX),
    unset(Chatwoot, "CHATWOOT_INBOX_ID", "1",
        "id of the Chatwoot API-channel inbox that mirrors WhatsApp chats. Unset (all four): no mirroring, \
         history lives in the store only").range(1, u64::MAX),
    secret(Chatwoot, "CHATWOOT_WEBHOOK_SECRET", "your-webhook-secret",
        "secret of the Chatwoot webhook / API inbox / agent bot; when set, `X-Chatwoot-Signature` is \
         required and checked"),
    secret(Chatwoot, "CHATWOOT_AGENT_BOT_TOKEN", "your-agent-bot-token",
        "access token of a Chatwoot Agent Bot; conversations of the inboxes it is attached to (any channel) \
         are answered through Chatwoot itself").see("Agent Bot mode"),
    derived(Chatwoot, "CHATWOOT_AGENT_BOT_SECRET", "`CHATWOOT_WEBHOOK_SECRET`", "your-agent-bot-secret",
        "the Agent Bot's own webhook secret; when set, its events' `X-Chatwoot-Signature` is checked with \
         it").secret(),
    // WAHA
    unset(Waha, "WAHA_BASE_URL", "http://localhost:3001",
        "WAHA gateway base URL for sending. Unset: replies to WAHA chats are logged"),
    secret(Waha, "WAHA_API_KEY", "your-waha-api-key", "WAHA API key (sent as the `X-Api-Key` header)"),
    value(Waha, "WAHA_SESSION", "default", "WAHA session name"),
    secret(Waha, "WAHA_WEBHOOK_HMAC_KEY", "your-hmac-key",
        "when set, `X-Webhook-Hmac` (HMAC-SHA512 of the raw body) is required and checked on WAHA webhooks"),
    // WhatsApp Cloud API
    value(Meta, "META_GRAPH_BASE_URL", "https://graph.facebook.com/v25.0",
        "WhatsApp Cloud API Graph base URL"),
    secret(Meta, "META_ACCESS_TOKEN", "your-access-token", "WhatsApp Cloud API access token for sending"),
    unset(Meta, "META_PHONE_NUMBER_ID", "123456789012345",
        "WhatsApp Cloud API phone number id that sends the replies"),
    secret(Meta, "META_APP_SECRET", "your-app-secret",
        "Meta app secret; when set, `X-Hub-Signature-256` is required and checked"),
    secret(Meta, "META_VERIFY_TOKEN", "your-verify-token",
        "token expected in Meta's webhook verification handshake (`GET /webhooks/meta`)"),
    // Evolution API
    unset(Evolution, "EVOLUTION_BASE_URL", "http://localhost:8080",
        "Evolution API base URL for sending (`POST /message/sendText/{instance}`) and fetching customers' \
         files (`POST /chat/getBase64FromMediaMessage/{instance}`). Unset: replies to Evolution chats are \
         logged"),
    secret(Evolution, "EVOLUTION_API_KEY", "your-evolution-api-key",
        "Evolution API key: sent as the `apikey` header, and required on `POST /webhooks/evolution` when \
         set"),
    unset(Evolution, "EVOLUTION_INSTANCE", "your-instance",
        "the Evolution API instance replies are sent through"),
    // Agent
    unset(Agent, "LLM_BASE_URL", "https://api.openai.com/v1",
        "OpenAI-compatible endpoint; requests go to `{LLM_BASE_URL}/chat/completions`. Unset: a built-in \
         echo agent (a warning says so)"),
    secret(Agent, "LLM_API_KEY", "your-api-key", "LLM API key (sent as a Bearer token)"),
    unset(Agent, "LLM_MODEL", "your-model", "model name sent with each request (omitted when unset)"),
    number(Agent, "LLM_TIMEOUT_SECS", "60", (1, 600), "timeout of one LLM request in seconds"),
    value(Agent, "SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT,
        "the agent's instructions (not together with `SYSTEM_PROMPT_FILE`)").commented(),
    unset(Agent, "SYSTEM_PROMPT_FILE", "/etc/wa-agent/prompt.txt",
        "path of a file holding the agent's instructions, instead of `SYSTEM_PROMPT`"),
    number(Agent, "AGENT_MAX_STEPS", "5", (1, 50),
        "model calls per turn: tool rounds plus the final answer; when used up, the turn is handed to a \
         human like an LLM failure"),
    number(Agent, "TOOL_TIMEOUT_SECS", "15", (1, 600),
        "limit of one tool call in seconds; a tool that fails or times out answers the model with an error \
         result, never the customer"),
    unset(Agent, "CATALOGUE_FILE", "/data/stock.csv",
        "CSV (header row) or JSON array of objects: the business's items (cars in stock, products, rooms). \
         When set, the agent gets `search_catalogue`; a bad file fails start-up with its line").see("Tools"),
    value(Agent, "CONTACT_ATTRIBUTES", DEFAULT_CONTACT_ATTRIBUTES,
        "the contact fields the agent may record with `update_contact` (Chatwoot contact custom attributes; \
         `none`: the tool records only name and email)"),
    unset(Agent, "MCP_SERVERS", "docs=https://mcp.example.com/mcp",
        "comma-separated `name=url` list of MCP servers (streamable HTTP); their tools are offered to the \
         agent as `name__tool`. Headers (auth) go in `CONFIG_FILE` (`[[mcp_servers]]` name, url, headers)"),
    // Voice notes, images and files
    derived(Media, "TRANSCRIBE_BASE_URL", "`LLM_BASE_URL`", "https://api.groq.com/openai/v1",
        "OpenAI-compatible speech-to-text endpoint; voice notes and audio go to \
         `{TRANSCRIBE_BASE_URL}/audio/transcriptions` (multipart)"),
    derived(Media, "TRANSCRIBE_API_KEY", "`LLM_API_KEY`", "your-api-key",
        "speech-to-text API key (sent as a Bearer token)").secret(),
    value(Media, "TRANSCRIBE_MODEL", "whisper-1",
        "speech-to-text model; `off` turns transcription off (voice notes stay `[voice note]`)"),
    value(Media, "LLM_VISION", "false",
        "`true`: images the customer sends reach the model as `image_url` content parts (data URLs)"),
    number(Media, "MEDIA_MAX_BYTES", "16777216", (1, u64::MAX),
        "larger media are not downloaded; the agent sees the placeholder"),
];
