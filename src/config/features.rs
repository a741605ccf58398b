//! Settings of the optional features: speech-to-text and media (`TRANSCRIBE_*`, `LLM_VISION`,
//! `MEDIA_MAX_BYTES`) and the browser playground (`PLAYGROUND`, `PLAYGROUND_TOKEN`).
//!
//! Invariants: transcription follows the LLM's endpoint and key unless told otherwise, and is off
//! (`None`) with `TRANSCRIBE_MODEL=off` or when no endpoint is known; the playground is on by default
//! only on the embedded store, and never on with Redis without a token.

use secrecy::SecretString;

use super::registry::setting;
use super::sources::Sources;
use super::{ConfigError, Settings};

/// OpenAI-compatible speech-to-text (`POST {base}/audio/transcriptions`) for voice notes and audio.
#[derive(Debug, Clone)]
pub struct TranscribeSettings {
    /// `TRANSCRIBE_BASE_URL`, else `LLM_BASE_URL`; without a trailing slash.
    pub base_url: String,
    /// `TRANSCRIBE_API_KEY`, else `LLM_API_KEY`; sent as a Bearer token when set.
    pub api_key: Option<SecretString>,
    /// `TRANSCRIBE_MODEL` (its default is in the settings registry).
    pub model: String,
}

/// `TRANSCRIBE_*`, falling back to the LLM's endpoint and key; `None` for `TRANSCRIBE_MODEL=off` or
/// when neither base URL is set.
pub(super) fn transcribe(v: &Sources) -> Result<Option<TranscribeSettings>, ConfigError> {
    let model = v.string(setting!("TRANSCRIBE_MODEL"));
    if model.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let base_url = match v.http_url(setting!("TRANSCRIBE_BASE_URL"))? {
        Some(url) => url,
        None => match v.http_url(setting!("LLM_BASE_URL"))? {
            Some(url) => url,
            None => return Ok(None),
        },
    };
    Ok(Some(TranscribeSettings {
        base_url,
        api_key: v
            .secret(setting!("TRANSCRIBE_API_KEY"))
            .or_else(|| v.secret(setting!("LLM_API_KEY"))),
        model,
    }))
}

/// `PLAYGROUND`: `on`/`off` (or true/false, 1/0, yes/no); unset: on only without `REDIS_URL`.
pub(super) fn playground(v: &Sources) -> Result<bool, ConfigError> {
    let Some(raw) = v.raw(setting!("PLAYGROUND")) else {
        return Ok(!v.is_set(setting!("REDIS_URL")));
    };
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(v.err(
            setting!("PLAYGROUND"),
            format!("expected on or off (or true/false, 1/0, yes/no), got {raw:?}"),
        )),
    }
}

/// The playground on with Redis is reachable by anyone who finds it: it needs a token.
pub(super) fn check_playground(s: &Settings) -> Result<(), ConfigError> {
    if s.playground && s.redis_url.is_some() && s.playground_token.is_none() {
        return Err(ConfigError::new(
            setting!("PLAYGROUND_TOKEN").name,
            "not set, but PLAYGROUND is on with REDIS_URL: set a token the playground page will ask for \
             (or PLAYGROUND=off)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::super::{ConfigError, Settings};

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
    fn the_playground_is_on_only_on_the_embedded_store_unless_told() {
        assert!(from(&[]).unwrap().playground);
        let redis = ("REDIS_URL", "redis://127.0.0.1:6379");
        assert!(!from(&[redis]).unwrap().playground);
        assert_eq!(err(&[redis, ("PLAYGROUND", "on")]).variable, "PLAYGROUND_TOKEN");
        let on = from(&[redis, ("PLAYGROUND", "on"), ("PLAYGROUND_TOKEN", "t0k")]).unwrap();
        assert!(on.playground && on.playground_token.is_some());
        assert!(!from(&[("PLAYGROUND", "off")]).unwrap().playground);
        assert_eq!(err(&[("PLAYGROUND", "maybe")]).variable, "PLAYGROUND");
    }
}
