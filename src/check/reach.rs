//! `wa-agent check` lines of the channels beside WAHA and the Cloud API: Evolution API (the instance's
//! connection state) and the Chatwoot Agent Bot (that its token is a bot's). Read-only, like every
//! probe: neither writes anything.

use reqwest::{Client, StatusCode};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::Line;
use crate::config::Settings;

/// Evolution API: `GET {base}/instance/connectionState/{instance}` with `apikey`; state `open`.
pub(super) async fn evolution(http: &Client, settings: &Settings) -> Line {
    let Some(e) = &settings.evolution else {
        return Line::off("evolution", "not configured (EVOLUTION_BASE_URL unset)");
    };
    let mut req = http.get(format!("{}/instance/connectionState/{}", e.base_url, e.instance));
    if let Some(key) = &e.api_key {
        req = req.header("apikey", key.expose_secret());
    }
    match super::probes::send(req).await {
        Ok((s, body)) if s.is_success() => match body["instance"]["state"].as_str() {
            Some("open") => Line::ok("evolution", format!("instance {} is open", e.instance)),
            other => Line::fail(
                "evolution",
                format!(
                    "instance {} is {}",
                    e.instance,
                    other.unwrap_or("in an unknown state")
                ),
                format!(
                    "connect the instance in Evolution (GET /instance/connect/{}) and scan the QR code",
                    e.instance
                ),
            ),
        },
        Ok((s, _)) if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN => Line::fail(
            "evolution",
            format!("the API key was refused ({s})"),
            "set EVOLUTION_API_KEY to Evolution's AUTHENTICATION_API_KEY or the instance's token",
        ),
        Ok((StatusCode::NOT_FOUND, _)) => Line::fail(
            "evolution",
            format!("instance {} not found", e.instance),
            "set EVOLUTION_INSTANCE to an instance Evolution has (GET /instance/fetchInstances lists them)",
        ),
        Ok((s, _)) => Line::fail(
            "evolution",
            format!("GET /instance/connectionState/{} answered {s}", e.instance),
            "check EVOLUTION_BASE_URL",
        ),
        Err(err) => Line::fail(
            "evolution",
            format!("{}: {err}", e.base_url),
            "check EVOLUTION_BASE_URL and that Evolution runs",
        ),
    }
}

/// Agent Bot: a bot token may not read anything, so `GET /api/v1/profile` with it answers 401 "not
/// authorized for bots" for a valid bot token and "Invalid Access Token" for anything else.
pub(super) async fn agent_bot(http: &Client, settings: &Settings) -> Line {
    let Some(bot) = &settings.agent_bot else {
        return Line::off("agent bot", "not configured (CHATWOOT_AGENT_BOT_TOKEN unset)");
    };
    let req = http
        .get(format!("{}/api/v1/profile", bot.base_url))
        .header("api_access_token", bot.token.expose_secret());
    let typing = if settings.chatwoot.is_some() {
        ""
    } else {
        "; without CHATWOOT_API_TOKEN no typing indicator and no history read-back"
    };
    match super::probes::send(req).await {
        Ok((StatusCode::UNAUTHORIZED, body)) if text(&body).contains("bots") => {
            Line::ok("agent bot", format!("the token is an Agent Bot's{typing}"))
        }
        Ok((StatusCode::UNAUTHORIZED, body)) => Line::fail(
            "agent bot",
            format!("the token was refused: {}", text(&body)),
            "copy the token from Settings → Bots → your bot into CHATWOOT_AGENT_BOT_TOKEN",
        ),
        Ok((s, _)) if s.is_success() => Line::fail(
            "agent bot",
            "the token is a user's, not an Agent Bot's",
            "use the bot's access token (Settings → Bots), so replies show as the bot",
        ),
        Ok((s, _)) => Line::fail(
            "agent bot",
            format!("GET /api/v1/profile answered {s}"),
            "check CHATWOOT_BASE_URL",
        ),
        Err(err) => Line::fail(
            "agent bot",
            format!("{}: {err}", bot.base_url),
            "check CHATWOOT_BASE_URL",
        ),
    }
}

fn text(body: &Value) -> String {
    body["error"]
        .as_str()
        .or_else(|| body["errors"][0].as_str())
        .or_else(|| body["message"].as_str())
        .unwrap_or_default()
        .chars()
        .take(160)
        .collect()
}
