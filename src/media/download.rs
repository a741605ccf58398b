//! Fetching a customer's file, streamed and capped at `MEDIA_MAX_BYTES`.
//!
//! - WAHA (`payload.media.url`): the URL's path and query are fetched from `WAHA_BASE_URL` (behind a
//!   proxy WAHA reports a host only it knows, e.g. `http://localhost:3000`), with `X-Api-Key`.
//! - Cloud API (media id): `GET {graph}/{id}` with the bearer token answers `{url, mime_type,
//!   file_size}`; that URL is then fetched with the same token. Meta keeps media ids for 7 days, so a
//!   400 or 404 on either step is fatal.
//! - Evolution API (instance and message id): `POST {base}/chat/getBase64FromMediaMessage/{instance}`
//!   with `apikey` answers the file as base64 in JSON; see [`evolution`] for how its size is bounded.
//!
//! [`fetch`] is the one place bytes are read ([`crate::outbound::exchange_limited`]): the status is
//! checked first (a non-2xx body is never read), then the announced `Content-Length`, then bytes are
//! counted chunk by chunk, and the response is dropped (closing the connection) as soon as the count
//! passes the limit, so at most the limit plus one chunk is ever buffered.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{MediaError, SERVICE};
use crate::config::{EvolutionSettings, MetaSettings, WahaSettings};

mod evolution;
use crate::domain::{MediaRef, MediaSource};
use crate::outbound::{Limited, exchange_limited};

/// A downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The file's bytes (at most `MEDIA_MAX_BYTES`).
    pub bytes: Bytes,
    /// Its MIME type: the gateway's, else the server's `Content-Type`, else
    /// `application/octet-stream`.
    pub mime_type: String,
    /// Its file name, when known.
    pub file_name: Option<String>,
}

/// Downloads [`MediaRef`]s from the gateway they came through.
#[derive(Debug)]
pub struct MediaFetcher {
    client: reqwest::Client,
    waha_base: Option<String>,
    waha_key: Option<SecretString>,
    graph_base: String,
    graph_token: Option<SecretString>,
    evolution_base: Option<String>,
    evolution_key: Option<SecretString>,
    max_bytes: u64,
}

impl MediaFetcher {
    /// A fetcher for WAHA (when configured) and the Graph API; every request gives up after `timeout`,
    /// and no file larger than `max_bytes` is read.
    pub fn new(waha: Option<&WahaSettings>, meta: &MetaSettings, max_bytes: u64, timeout: Duration) -> Self {
        Self {
            client: crate::outbound::http_client(timeout),
            waha_base: waha.map(|w| w.base_url.trim_end_matches('/').to_owned()),
            waha_key: waha.and_then(|w| w.api_key.clone()),
            graph_base: meta.graph_base_url.trim_end_matches('/').to_owned(),
            graph_token: meta.access_token.clone(),
            evolution_base: None,
            evolution_key: None,
            max_bytes,
        }
    }

    /// The same fetcher, also fetching Evolution API media (when `evolution` is configured).
    pub fn with_evolution(mut self, evolution: Option<&EvolutionSettings>) -> Self {
        self.evolution_base = evolution.map(|e| e.base_url.trim_end_matches('/').to_owned());
        self.evolution_key = evolution.and_then(|e| e.api_key.clone());
        self
    }

    /// `MEDIA_MAX_BYTES`.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Downloads `media` (one attempt; see [`super::Media::download`] for retries).
    pub async fn fetch(&self, media: &MediaRef) -> Result<Downloaded, MediaError> {
        let (bytes, served_mime) = match &media.source {
            MediaSource::Waha { url } => self.fetch_waha(url).await?,
            MediaSource::Meta { id } => self.fetch_meta(id).await?,
            MediaSource::Evolution {
                instance,
                message_id,
                file_length,
            } => self.fetch_evolution(instance, message_id, *file_length).await?,
        };
        let mime_type = media
            .mime_type
            .clone()
            .or(served_mime)
            .unwrap_or_else(|| "application/octet-stream".into());
        Ok(Downloaded {
            bytes,
            mime_type,
            file_name: media.file_name.clone(),
        })
    }

    async fn fetch_waha(&self, reported: &str) -> Result<(Bytes, Option<String>), MediaError> {
        let Some(base) = &self.waha_base else {
            return Err(fatal("WAHA media: WAHA_BASE_URL is not set"));
        };
        let url = waha_file_url(base, reported)?;
        let mut request = self.client.get(url);
        if let Some(key) = &self.waha_key {
            request = request.header("X-Api-Key", key.expose_secret());
        }
        fetch("WAHA media", request, self.max_bytes).await
    }

    async fn fetch_meta(&self, id: &str) -> Result<(Bytes, Option<String>), MediaError> {
        let Some(token) = &self.graph_token else {
            return Err(fatal("Cloud API media: META_ACCESS_TOKEN is not set"));
        };
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(fatal("Cloud API media: the media id is not an id"));
        }
        let lookup = self
            .client
            .get(format!("{}/{id}", self.graph_base))
            .bearer_auth(token.expose_secret());
        let (body, _) = fetch("Graph media lookup", lookup, 64 * 1024).await?;
        let info: GraphMedia = serde_json::from_slice(&body)
            .map_err(|e| fatal(format!("Graph media lookup: unexpected answer: {e}")))?;
        if info.file_size.is_some_and(|size| size > self.max_bytes) {
            return Err(MediaError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let download = self.client.get(&info.url).bearer_auth(token.expose_secret());
        let (bytes, served) = fetch("Graph media download", download, self.max_bytes).await?;
        Ok((bytes, info.mime_type.or(served)))
    }
}

/// `GET {graph}/{media-id}`'s answer.
#[derive(Deserialize)]
struct GraphMedia {
    url: String,
    mime_type: Option<String>,
    file_size: Option<u64>,
}

/// The URL to fetch a WAHA file from: the reported URL's path and query on `base` (which may carry a
/// path prefix of its own). A relative URL (`/api/files/…`) is taken as a path.
pub fn waha_file_url(base: &str, reported: &str) -> Result<String, MediaError> {
    let reported = reported.trim();
    let path_and_query = if reported.starts_with('/') {
        reported.to_owned()
    } else {
        let url =
            reqwest::Url::parse(reported).map_err(|_| fatal("WAHA media: payload.media.url is not a URL"))?;
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    };
    Ok(format!("{}{path_and_query}", base.trim_end_matches('/')))
}

/// Sends `request` and reads a 2xx answer's body, with its `Content-Type`
/// ([`exchange_limited`]: the status first, the body never past `max` bytes). A body over `max` is
/// [`MediaError::TooLarge`]; every other failure is the `media` [`OutboundError`] of `what`.
pub async fn fetch(
    what: &str,
    request: reqwest::RequestBuilder,
    max: u64,
) -> Result<(Bytes, Option<String>), MediaError> {
    match exchange_limited(SERVICE, what, request, max).await? {
        Limited::Read { headers, body } => Ok((body, content_type(&headers))),
        Limited::TooLarge => Err(MediaError::TooLarge { limit: max }),
    }
}

/// A `Content-Type`, when `headers` name one.
fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn fatal(message: impl Into<String>) -> MediaError {
    MediaError::fatal(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::OutboundError;

    #[test]
    fn waha_urls_are_fetched_from_the_configured_base() {
        let reported = "http://localhost:3000/api/files/default/false_316@c.us_ABC.oga";
        assert_eq!(
            waha_file_url("https://waha.example.com/", reported).unwrap(),
            "https://waha.example.com/api/files/default/false_316@c.us_ABC.oga"
        );
        assert_eq!(
            waha_file_url("https://proxy.example.com/waha", "https://x/api/files/a.jpeg?v=2").unwrap(),
            "https://proxy.example.com/waha/api/files/a.jpeg?v=2"
        );
        assert_eq!(
            waha_file_url("http://waha:3000", "/api/files/default/a.pdf").unwrap(),
            "http://waha:3000/api/files/default/a.pdf"
        );
        assert!(matches!(
            waha_file_url("http://waha:3000", "not a url"),
            Err(MediaError::Outbound(OutboundError::Fatal {
                service: "media",
                ..
            }))
        ));
    }
}
