//! Speech-to-text through an OpenAI-compatible endpoint (OpenAI, Groq, self-hosted Whisper servers):
//! `POST {TRANSCRIBE_BASE_URL}/audio/transcriptions`, multipart with `file` (named, with its MIME
//! type), `model` and `response_format=json`, Bearer `TRANSCRIBE_API_KEY`. The answer's `text` is the
//! transcript (a plain-text answer is taken whole). Failures are [`MediaError`]s classified like
//! every outbound call's ([`crate::outbound`]): 408, 425, 429, 5xx and transport failures are
//! retryable; other statuses are fatal.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::MediaError;
use super::download::{Downloaded, fetch};
use crate::config::TranscribeSettings;

/// Largest transcription answer read.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// A speech-to-text client. `TRANSCRIBE_MODEL=off` means there is none (`Option<Transcriber>`).
#[derive(Debug)]
pub struct Transcriber {
    client: reqwest::Client,
    url: String,
    api_key: Option<SecretString>,
    model: String,
}

impl Transcriber {
    /// A client for `settings`; every request gives up after `timeout`.
    pub fn new(settings: &TranscribeSettings, timeout: Duration) -> Self {
        Self {
            client: crate::outbound::http_client(timeout),
            url: format!("{}/audio/transcriptions", settings.base_url.trim_end_matches('/')),
            api_key: settings.api_key.clone(),
            model: settings.model.clone(),
        }
    }

    /// The transcript of `audio` (one attempt; see [`super::Media::transcribe`] for retries).
    pub async fn transcribe(&self, audio: &Downloaded) -> Result<String, MediaError> {
        let file_name = audio
            .file_name
            .clone()
            .unwrap_or_else(|| format!("voice.{}", extension(&audio.mime_type)));
        let part = || {
            let length = audio.bytes.len() as u64;
            Part::stream_with_length(reqwest::Body::from(audio.bytes.clone()), length)
                .file_name(file_name.clone())
        };
        // An unreadable MIME type is left out rather than failing the call.
        let part = part().mime_str(&audio.mime_type).unwrap_or_else(|_| part());
        let form = Form::new()
            .part("file", part)
            .text("model", self.model.clone())
            .text("response_format", "json");
        let mut request = self.client.post(&self.url).multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let (body, _) = fetch("transcription", request, MAX_ANSWER_BYTES).await?;
        Ok(transcript(&body))
    }
}

/// `text` of a JSON answer, or the whole answer when it is not JSON.
fn transcript(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => value
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// A file extension the OpenAI-compatible servers recognise for an audio MIME type.
fn extension(mime: &str) -> &'static str {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/mp4" | "audio/aac" | "audio/x-m4a" | "audio/m4a" => "m4a",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/webm" => "webm",
        "audio/flac" => "flac",
        "audio/amr" => "amr",
        _ => "ogg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_json_or_text() {
        assert_eq!(
            transcript(br#"{"text":"Hallo, ik bel over de XC60"}"#),
            "Hallo, ik bel over de XC60"
        );
        assert_eq!(transcript(b"gewoon tekst"), "gewoon tekst");
        assert_eq!(transcript(br#"{"error":"x"}"#), "");
    }

    #[test]
    fn extensions_follow_the_mime_type() {
        assert_eq!(extension("audio/ogg; codecs=opus"), "ogg");
        assert_eq!(extension("audio/mpeg"), "mp3");
        assert_eq!(extension("audio/mp4"), "m4a");
        assert_eq!(extension("application/octet-stream"), "ogg");
    }
}
