//! Settings of the optional features: speech-to-text and media (`TRANSCRIBE_*`, `LLM_VISION`,
//! `MEDIA_MAX_BYTES`) and the browser playground (`PLAYGROUND`, `PLAYGROUND_TOKEN`).
//!
//! Invariants: transcription follows the LLM's endpoint and key unless told otherwise, and is off
//! (`None`) with `TRANSCRIBE_MODEL=off` or when no endpoint is known; the playground is on by default
//! only on the embedded store, and never on with Redis without a token.

use secrecy::SecretString;

use super::sources::Sources;
use super::{ConfigError, Settings};

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

/// `TRANSCRIBE_*`, falling back to the LLM's endpoint and key; `None` for `TRANSCRIBE_MODEL=off` or
/// when neither base URL is set.
pub(super) fn transcribe(v: &Sources) -> Result<Option<TranscribeSettings>, ConfigError> {
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

/// `PLAYGROUND`: `on`/`off` (or true/false, 1/0, yes/no); unset: on only without `REDIS_URL`.
pub(super) fn playground(v: &Sources) -> Result<bool, ConfigError> {
    let Some(raw) = v.raw("PLAYGROUND") else {
        return Ok(!v.is_set("REDIS_URL"));
    };
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(v.err(
            "PLAYGROUND",
            format!("expected on or off (or true/false, 1/0, yes/no), got {raw:?}"),
        )),
    }
}

/// The playground on with Redis is reachable by anyone who finds it: it needs a token.
pub(super) fn check_playground(s: &Settings) -> Result<(), ConfigError> {
    if s.playground && s.redis_url.is_some() && s.playground_token.is_none() {
        return Err(ConfigError::new(
            "PLAYGROUND_TOKEN",
            "not set, but PLAYGROUND is on with REDIS_URL: set a token the playground page will ask for \
             (or PLAYGROUND=off)",
        ));
    }
    Ok(())
}
