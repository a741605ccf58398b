//! Customer media: downloading a [`MediaRef`], transcribing voice notes, and assembling what the
//! agent gets for a message that carries a file ([`prepare`]).
//!
//! Invariants:
//! - a download never holds more than `MEDIA_MAX_BYTES` plus one network chunk in memory: the
//!   announced size (`Content-Length`, Graph's `file_size`, Evolution's `fileLength`) is checked
//!   first, then bytes are counted while streaming and the connection is dropped the moment the limit
//!   is passed. Evolution answers base64 in JSON, so its answer is capped at the limit's base64 size
//!   (about 4/3 of it, plus room for the JSON) and the decoded size is checked before decoding;
//! - every failure is a [`MediaError`]: [`MediaError::TooLarge`] (never retried) or the
//!   [`OutboundError`] of service `media`, classified like every outbound call (retryable: timeouts,
//!   connection errors, 408, 425, 429, 5xx; fatal: other 4xx, an expired Cloud API media id), so
//!   callers retry like any external call ([`crate::retry::with_retries`]);
//! - [`prepare`] never fails: whatever goes wrong, the agent reads the gateway's placeholder
//!   (`[voice note]`, `[image] caption`) and the turn goes on;
//! - credentials (WAHA key, Graph token, Evolution key, transcription key) never appear in errors or
//!   logs, and neither do file contents or transcripts at info level.

pub mod download;
pub mod transcribe;

use std::time::{Duration, Instant};

use base64::Engine;

pub use download::{Downloaded, MediaFetcher};
pub use transcribe::Transcriber;

use crate::config::Settings;
use crate::domain::{InboundMessage, MediaKind, MediaRef};
use crate::outbound::OutboundError;

/// The service name of every media failure (downloads from the gateways and Chatwoot, transcription).
pub const SERVICE: &str = "media";

/// Why a file could not be fetched or transcribed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The file is larger than `MEDIA_MAX_BYTES`; nothing more was read.
    #[error("media larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was hit.
        limit: u64,
    },
    /// The download or transcription failed (service `media`).
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

impl MediaError {
    /// A media failure that trying again will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        MediaError::Outbound(OutboundError::fatal(SERVICE, message))
    }

    /// Whether another attempt may succeed: a retryable outbound failure; never a file over the limit.
    pub fn is_retryable(&self) -> bool {
        match self {
            MediaError::Outbound(e) => e.is_retryable(),
            MediaError::TooLarge { .. } => false,
        }
    }

    /// The delay the remote asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MediaError::Outbound(e) => e.retry_after(),
            MediaError::TooLarge { .. } => None,
        }
    }
}

/// What the turn gets for one customer message after [`prepare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMedia {
    /// The message text for the agent, the history and Chatwoot: `[voice note] <transcript>` for a
    /// transcribed voice note, otherwise the message's own text (the placeholder plus caption).
    pub text: String,
    /// An `image_url` content part's URL (`data:{mime};base64,…`) for this turn only; never stored.
    pub image_url: Option<String>,
    /// The downloaded file, when one was downloaded (to attach it in Chatwoot).
    pub file: Option<Downloaded>,
}

/// Everything media handling needs: the downloader, the optional transcriber, whether images reach
/// the model, and how often a failing call is tried.
#[derive(Debug)]
pub struct Media {
    /// Downloads files from WAHA, the Graph API and Evolution API.
    pub fetcher: MediaFetcher,
    /// Speech-to-text; `None` when `TRANSCRIBE_MODEL=off` or no endpoint is configured.
    pub transcriber: Option<Transcriber>,
    /// `LLM_VISION`.
    pub vision: bool,
    /// Attempts per download or transcription (retryable failures only).
    pub attempts: u32,
    /// First backoff between attempts (doubling, with jitter).
    pub backoff: Duration,
}

impl Media {
    /// Media handling as `settings` configure it: downloads give up after `HTTP_TIMEOUT_SECS` × 3,
    /// transcriptions after `LLM_TIMEOUT_SECS`.
    pub fn from_settings(settings: &Settings) -> Self {
        let download_timeout = settings.http_timeout.saturating_mul(3);
        Self {
            fetcher: MediaFetcher::new(
                settings.waha.as_ref(),
                &settings.meta,
                settings.media_max_bytes,
                download_timeout,
            )
            .with_evolution(settings.evolution.as_ref()),
            transcriber: settings
                .transcribe
                .as_ref()
                .map(|t| Transcriber::new(t, settings.llm_timeout)),
            vision: settings.llm_vision,
            attempts: crate::outbound::ATTEMPTS,
            backoff: Duration::from_millis(500),
        }
    }

    /// Downloads `media`, retrying retryable failures, and counts the outcome
    /// (`wa_agent_media_total{kind, outcome=downloaded|too_large|failed}`, `wa_agent_media_bytes_total`).
    pub async fn download(&self, media: &MediaRef) -> Result<Downloaded, MediaError> {
        let result =
            crate::queue::with_retries("media", self.attempts, self.backoff, || self.fetcher.fetch(media))
                .await;
        let outcome = match &result {
            Ok(file) => {
                metrics::counter!("wa_agent_media_bytes_total").increment(file.bytes.len() as u64);
                "downloaded"
            }
            Err(MediaError::TooLarge { .. }) => "too_large",
            Err(_) => "failed",
        };
        count(media.kind, outcome);
        result
    }

    /// Transcribes `audio`, retrying retryable failures; counts `transcribed` or
    /// `transcription_failed` and observes `wa_agent_transcription_duration_seconds`.
    pub async fn transcribe(&self, kind: MediaKind, audio: &Downloaded) -> Result<String, MediaError> {
        let Some(transcriber) = &self.transcriber else {
            return Err(MediaError::fatal("transcription is off"));
        };
        let started = Instant::now();
        let result = crate::queue::with_retries("transcription", self.attempts, self.backoff, || {
            transcriber.transcribe(audio)
        })
        .await;
        metrics::histogram!("wa_agent_transcription_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let result = result.and_then(|text| {
            let text = text.trim().to_owned();
            if text.is_empty() {
                Err(MediaError::fatal("the transcription was empty"))
            } else {
                Ok(text)
            }
        });
        count(
            kind,
            if result.is_ok() {
                "transcribed"
            } else {
                "transcription_failed"
            },
        );
        result
    }
}

/// Counts one file of `kind` in `wa_agent_media_total{kind, outcome}`.
pub fn count(kind: MediaKind, outcome: &'static str) {
    metrics::counter!("wa_agent_media_total", "kind" => kind.as_str(), "outcome" => outcome).increment(1);
}

/// What the agent gets for `msg`. The rules, in order:
///
/// 1. No [`MediaRef`] (text, location, contact, or media the gateway did not keep): the message's own
///    text, nothing downloaded.
/// 2. Voice note or audio, with a transcriber: download, transcribe, and the text becomes
///    `[voice note] <transcript>` (`[audio] <transcript>`); the file is returned for Chatwoot.
/// 3. Image with `LLM_VISION=true`: download; an `image/*` file becomes a data URL for this turn
///    only, and the text stays `[image] caption`.
/// 4. Anything else (video, document, sticker; audio without a transcriber; images without vision):
///    the placeholder, nothing downloaded.
///
/// A failed or oversized download, or a failed or empty transcription, leaves the placeholder (rule 4's
/// answer, plus the file when the download itself worked). Never an error.
pub async fn prepare(msg: &InboundMessage, media: &Media) -> PreparedMedia {
    let mut prepared = PreparedMedia {
        text: msg.text.clone(),
        image_url: None,
        file: None,
    };
    let Some(reference) = msg.media.as_deref() else {
        return prepared;
    };
    let wanted = match reference.kind {
        MediaKind::Voice | MediaKind::Audio => media.transcriber.is_some(),
        MediaKind::Image => media.vision,
        _ => false,
    };
    if !wanted {
        return prepared;
    }
    let file = match media.download(reference).await {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(chat_id = %msg.chat_id, message_id = %msg.message_id, kind = reference.kind.as_str(), %error, "media not downloaded; the agent gets the placeholder");
            return prepared;
        }
    };
    match reference.kind {
        MediaKind::Voice | MediaKind::Audio => match media.transcribe(reference.kind, &file).await {
            Ok(transcript) => {
                tracing::debug!(chat_id = %msg.chat_id, transcript = %transcript, "voice note transcribed");
                prepared.text = format!("{} {transcript}", reference.kind.placeholder());
            }
            Err(error) => {
                tracing::warn!(chat_id = %msg.chat_id, message_id = %msg.message_id, %error, "transcription failed; the agent gets the placeholder");
            }
        },
        _ => {
            prepared.image_url = data_url(&file);
            if prepared.image_url.is_none() {
                tracing::warn!(chat_id = %msg.chat_id, mime = %file.mime_type, "not an image; the agent gets the placeholder");
            }
        }
    }
    prepared.file = Some(file);
    prepared
}

/// `data:{mime};base64,…` for an `image/*` file; `None` for anything else.
pub fn data_url(file: &Downloaded) -> Option<String> {
    let mime = file.mime_type.split(';').next().unwrap_or_default().trim();
    if !mime.starts_with("image/") {
        return None;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&file.bytes);
    Some(format!("data:{mime};base64,{encoded}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mime: &str, bytes: &'static [u8]) -> Downloaded {
        Downloaded {
            bytes: bytes::Bytes::from_static(bytes),
            mime_type: mime.into(),
            file_name: None,
        }
    }

    #[test]
    fn data_urls_only_for_images() {
        assert_eq!(
            data_url(&file("image/jpeg", b"\xff\xd8\xff")).as_deref(),
            Some("data:image/jpeg;base64,/9j/")
        );
        assert_eq!(
            data_url(&file("image/png; charset=binary", b"abc")).as_deref(),
            Some("data:image/png;base64,YWJj")
        );
        assert_eq!(data_url(&file("application/pdf", b"%PDF")), None);
    }

    #[test]
    fn only_retryable_errors_are_retried() {
        use crate::retry::Retryable;
        let retry = MediaError::Outbound(OutboundError::Retryable {
            service: SERVICE,
            status: Some(503),
            message: "x".into(),
            retry_after: Some(Duration::from_secs(2)),
        });
        assert!(retry.is_retryable());
        assert_eq!(Retryable::retry_after(&retry), Some(Duration::from_secs(2)));
        assert_eq!(retry.to_string(), "media temporarily unavailable: x");
        let too_large = MediaError::TooLarge { limit: 1 };
        assert!(!too_large.is_retryable());
        assert_eq!(Retryable::retry_after(&too_large), None);
        let fatal = MediaError::fatal("x");
        assert!(!Retryable::is_retryable(&fatal));
        assert_eq!(fatal.to_string(), "media failed: x");
    }
}
