//! One probe per external for `wa-agent check`. Each reads only (PING and INFO on Redis, GETs on
//! Chatwoot, WAHA and the Graph API, one `max_tokens: 1` completion on the LLM) and turns what it found
//! into a [`Line`]; none prints a secret or a response body longer than a short error message.

use std::time::Duration;

use fred::prelude::*;
use fred::types::InfoKind;
use reqwest::{Client, RequestBuilder, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::Line;
use crate::agent::tools::mcp::{McpOptions, McpServerConfig, McpTools};
use crate::config::{McpServerSettings, Settings, redact_redis_url};

/// Redis: PING, the server version, and whether AOF is on.
pub(super) async fn redis(settings: &Settings) -> Line {
    let Some(url) = &settings.redis_url else {
        return Line::ok(
            "redis",
            "REDIS_URL is not set: the embedded in-process store is used (one instance; lost on restart)",
        );
    };
    let (shown, _) = redact_redis_url(url.expose_secret());
    let timeout = settings.http_timeout;
    let hint = "is Redis running, and do REDIS_URL's host, port and password match it?";
    let config = match Config::from_url(url.expose_secret()) {
        Ok(c) => c,
        Err(e) => {
            return Line::fail(
                "redis",
                format!("REDIS_URL cannot be used: {}", e.details()),
                hint,
            );
        }
    };
    let client = match Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = timeout;
            c.internal_command_timeout = timeout;
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| p.default_command_timeout = timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Line::fail(
                "redis",
                format!("REDIS_URL cannot be used: {}", e.details()),
                hint,
            );
        }
    };
    let found = tokio::time::timeout(timeout + Duration::from_secs(1), async {
        client.init().await?;
        let pong: String = client.ping(None).await?;
        let server: String = client.info(Some(InfoKind::Server)).await?;
        let persistence: String = client.info(Some(InfoKind::Persistence)).await?;
        Ok::<_, fred::error::Error>((pong, server, persistence))
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), client.quit()).await;
    let (pong, server, persistence) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            return Line::fail("redis", format!("{shown}: {}", e.details()), hint);
        }
        Err(_) => return Line::fail("redis", format!("{shown}: no answer within {timeout:?}"), hint),
    };
    let version = info_field(&server, "redis_version").unwrap_or("unknown");
    let found = format!("{shown} answered {pong}, Redis {version}");
    match info_field(&persistence, "aof_enabled") {
        Some("1") => Line::ok("redis", format!("{found}, AOF on")),
        _ => Line::note(
            "redis",
            format!("{found}, AOF off"),
            "without AOF (appendonly yes) a Redis restart can lose accepted messages",
        ),
    }
}

/// The value of `field` in an INFO reply (`field:value` lines).
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// What a request answered: the status and the JSON body (`Null` when not JSON).
pub(super) async fn send(req: RequestBuilder) -> Result<(StatusCode, Value), String> {
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            "no answer in time (HTTP_TIMEOUT_SECS)".to_owned()
        } else if e.is_connect() {
            "cannot connect".to_owned()
        } else {
            format!("request failed: {e}")
        }
    })?;
    let status = resp.status();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// A short error text from a JSON error body (`{"error":{"message"}}`, `{"message"}`, `{"error":"…"}`).
fn error_text(body: &Value) -> String {
    let text = body["error"]["message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .or_else(|| body["error"].as_str())
        .unwrap_or_default();
    let short: String = text.chars().take(160).collect();
    if short.is_empty() {
        String::new()
    } else {
        format!(": {short}")
    }
}

/// Chatwoot: whose token it is, then that the inbox exists and is an API inbox.
pub(super) async fn chatwoot(http: &Client, settings: &Settings) -> Line {
    let Some(cw) = &settings.chatwoot else {
        return Line::off("chatwoot", "not configured (CHATWOOT_* unset): no mirroring");
    };
    let token = cw.api_token.expose_secret();
    let profile = http
        .get(format!("{}/api/v1/profile", cw.base_url))
        .header("api_access_token", token);
    let user = match send(profile).await {
        Ok((s, body)) if s.is_success() => {
            let name = body["name"].as_str().unwrap_or("unknown user");
            match body["email"].as_str() {
                Some(email) => format!("token of {name} <{email}>"),
                None => format!("token of {name}"),
            }
        }
        Ok((StatusCode::UNAUTHORIZED, _)) => {
            return Line::fail(
                "chatwoot",
                "the token was refused (401)",
                "set CHATWOOT_API_TOKEN to a user access token (Chatwoot: Profile settings, Access token)",
            );
        }
        Ok((s, body)) => {
            return Line::fail(
                "chatwoot",
                format!("GET /api/v1/profile answered {s}{}", error_text(&body)),
                "check CHATWOOT_BASE_URL points at Chatwoot itself",
            );
        }
        Err(e) => {
            return Line::fail(
                "chatwoot",
                format!("{}: {e}", cw.base_url),
                "check CHATWOOT_BASE_URL",
            );
        }
    };
    let inbox = http
        .get(format!(
            "{}/api/v1/accounts/{}/inboxes/{}",
            cw.base_url, cw.account_id, cw.inbox_id
        ))
        .header("api_access_token", token);
    let api_inbox_hint = "create an API-channel inbox (Settings, Inboxes, Add inbox, API) and set \
        CHATWOOT_INBOX_ID to its id";
    match send(inbox).await {
        Ok((s, body)) if s.is_success() => {
            let name = body["name"].as_str().unwrap_or("");
            match body["channel_type"].as_str() {
                Some("Channel::Api") => Line::ok(
                    "chatwoot",
                    format!("{user}; inbox {} {name:?} is an API inbox", cw.inbox_id),
                ),
                other => Line::fail(
                    "chatwoot",
                    format!(
                        "{user}; inbox {} {name:?} is a {} inbox, not an API inbox",
                        cw.inbox_id,
                        other.unwrap_or("(unknown)")
                    ),
                    api_inbox_hint,
                ),
            }
        }
        Ok((s, _)) if s == StatusCode::NOT_FOUND || s == StatusCode::UNAUTHORIZED => Line::fail(
            "chatwoot",
            format!(
                "{user}; inbox {} of account {} answered {s}",
                cw.inbox_id, cw.account_id
            ),
            format!(
                "check CHATWOOT_ACCOUNT_ID and CHATWOOT_INBOX_ID, and that the token's user is an \
                 administrator of account {}; {api_inbox_hint}",
                cw.account_id
            ),
        ),
        Ok((s, body)) => Line::fail(
            "chatwoot",
            format!("{user}; the inbox request answered {s}{}", error_text(&body)),
            "check CHATWOOT_ACCOUNT_ID and CHATWOOT_INBOX_ID",
        ),
        Err(e) => Line::fail(
            "chatwoot",
            format!("{user}; the inbox request: {e}"),
            "check CHATWOOT_BASE_URL",
        ),
    }
}

/// WAHA: the session exists and is `WORKING`.
pub(super) async fn waha(http: &Client, settings: &Settings) -> Line {
    let Some(w) = &settings.waha else {
        return Line::off(
            "waha",
            "not configured (WAHA_BASE_URL unset): replies to WAHA chats are logged",
        );
    };
    let mut req = http.get(format!("{}/api/sessions/{}", w.base_url, w.session));
    if let Some(key) = &w.api_key {
        req = req.header("X-Api-Key", key.expose_secret());
    }
    match send(req).await {
        Ok((s, body)) if s.is_success() => match body["status"].as_str() {
            Some("WORKING") => {
                let me = body["me"]["id"]
                    .as_str()
                    .map(|id| format!(" as {id}"))
                    .unwrap_or_default();
                Line::ok("waha", format!("session {} is WORKING{me}", w.session))
            }
            other => Line::fail(
                "waha",
                format!(
                    "session {} is {}",
                    w.session,
                    other.unwrap_or("in an unknown state")
                ),
                format!(
                    "start the session in WAHA (POST /api/sessions/{}/start) and scan the QR code if asked",
                    w.session
                ),
            ),
        },
        Ok((s, _)) if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN => Line::fail(
            "waha",
            format!("the API key was refused ({s})"),
            "set WAHA_API_KEY to WAHA's WHATSAPP_API_KEY",
        ),
        Ok((StatusCode::NOT_FOUND, _)) => Line::fail(
            "waha",
            format!("session {} not found", w.session),
            "set WAHA_SESSION to a session WAHA has (GET /api/sessions lists them)",
        ),
        Ok((s, body)) => Line::fail(
            "waha",
            format!(
                "GET /api/sessions/{} answered {s}{}",
                w.session,
                error_text(&body)
            ),
            "check WAHA_BASE_URL",
        ),
        Err(e) => Line::fail(
            "waha",
            format!("{}: {e}", w.base_url),
            "check WAHA_BASE_URL and that WAHA runs",
        ),
    }
}

/// WhatsApp Cloud API: the phone number id is readable with the token.
pub(super) async fn meta(http: &Client, settings: &Settings) -> Line {
    let m = &settings.meta;
    let (token, id) = match (&m.access_token, &m.phone_number_id) {
        (Some(token), Some(id)) => (token, id),
        (None, None) => {
            return Line::off(
                "cloud api",
                "not configured (META_ACCESS_TOKEN, META_PHONE_NUMBER_ID unset)",
            );
        }
        (Some(_), None) | (None, Some(_)) => {
            return Line::fail(
                "cloud api",
                "only one of META_ACCESS_TOKEN and META_PHONE_NUMBER_ID is set: replies are logged, not sent",
                "set both, or neither",
            );
        }
    };
    let req = http
        .get(format!("{}/{id}", m.graph_base_url))
        .query(&[("fields", "display_phone_number,verified_name")])
        .bearer_auth(token.expose_secret());
    match send(req).await {
        Ok((s, body)) if s.is_success() => {
            let number = body["display_phone_number"]
                .as_str()
                .unwrap_or("(no display number)");
            let name = body["verified_name"]
                .as_str()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            Line::ok("cloud api", format!("phone number {number}{name}"))
        }
        Ok((s, body)) => Line::fail(
            "cloud api",
            format!("GET /{id} answered {s}{}", error_text(&body)),
            "check META_ACCESS_TOKEN (a system user token with whatsapp_business_messaging) and \
             META_PHONE_NUMBER_ID",
        ),
        Err(e) => Line::fail(
            "cloud api",
            format!("{}: {e}", m.graph_base_url),
            "check META_GRAPH_BASE_URL",
        ),
    }
}

/// LLM: one tiny completion answers 2xx.
pub(super) async fn llm(http: &Client, settings: &Settings) -> Line {
    let Some(l) = &settings.llm else {
        return Line::off(
            "llm",
            "not configured (LLM_BASE_URL unset): the echo agent answers",
        );
    };
    let mut body = json!({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1});
    if let Some(model) = &l.model {
        body["model"] = json!(model);
    }
    let mut req = http.post(format!("{}/chat/completions", l.base_url)).json(&body);
    if let Some(key) = &l.api_key {
        req = req.bearer_auth(key.expose_secret());
    }
    let model = l.model.as_deref().unwrap_or("default model");
    match send(req).await {
        Ok((s, _)) if s.is_success() => Line::ok("llm", format!("{} answered ({model})", l.base_url)),
        Ok((s, body)) if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN => Line::fail(
            "llm",
            format!("the API key was refused ({s}){}", error_text(&body)),
            "check LLM_API_KEY",
        ),
        Ok((s, body)) => Line::fail(
            "llm",
            format!("POST /chat/completions answered {s}{}", error_text(&body)),
            "check LLM_BASE_URL (it usually ends in /v1) and LLM_MODEL",
        ),
        Err(e) => Line::fail("llm", format!("{}: {e}", l.base_url), "check LLM_BASE_URL"),
    }
}

/// Every MCP server: connected with the service's own client (initialize, tools/list) within
/// `HTTP_TIMEOUT_SECS`, one line each listing its tools as the agent sees them, or why it is down.
pub(super) async fn mcp(settings: &Settings, servers: &[McpServerSettings]) -> Vec<Line> {
    let configs = servers
        .iter()
        .map(|m| McpServerConfig {
            name: m.name.clone(),
            url: m.url.clone(),
            headers: m.headers.clone(),
        })
        .collect();
    let options = McpOptions {
        request_timeout: settings.http_timeout,
        ..McpOptions::default()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let tools = McpTools::start(configs, options, stop.clone());
    tools.settle(settings.http_timeout + Duration::from_secs(1)).await;
    let lines = tools
        .status()
        .into_iter()
        .map(|status| {
            let target = format!("mcp {}", status.name);
            match (status.reachable, status.error) {
                (true, _) if status.tools.is_empty() => Line::ok(target, "reachable, no tools offered"),
                (true, _) => Line::ok(
                    target,
                    format!(
                        "reachable, {} tool(s): {}",
                        status.tools.len(),
                        status.tools.join(", ")
                    ),
                ),
                (false, error) => Line::fail(
                    target,
                    format!(
                        "unreachable: {}",
                        error.unwrap_or_else(|| "no answer in time".to_owned())
                    ),
                    "check its url in MCP_SERVERS or [[mcp_servers]] and its headers in CONFIG_FILE",
                ),
            }
        })
        .collect();
    stop.cancel();
    lines
}
