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
//! [`read_limited`] is the one place bytes are read: the announced `Content-Length` is checked first,
//! then bytes are counted chunk by chunk, and the response is dropped (closing the connection) as soon
//! as the count passes the limit, so at most the limit plus one chunk is ever buffered.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{MediaError, SERVICE};
use crate::config::{EvolutionSettings, MetaSettings, WahaSettings};

mod evolution;
use crate::domain::{MediaRef, MediaSource};
use crate::outbound::OutboundError;

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
        let response = request
            .send()
            .await
            .map_err(|e| transport_error("WAHA media", &e))?;
        check_status("WAHA media", &response)?;
        let mime = content_type(&response);
        Ok((read_limited(response, self.max_bytes, "WAHA media").await?, mime))
    }

    async fn fetch_meta(&self, id: &str) -> Result<(Bytes, Option<String>), MediaError> {
        let Some(token) = &self.graph_token else {
            return Err(fatal("Cloud API media: META_ACCESS_TOKEN is not set"));
        };
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(fatal("Cloud API media: the media id is not an id"));
        }
        let response = self
            .client
            .get(format!("{}/{id}", self.graph_base))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| transport_error("Graph media lookup", &e))?;
        check_status("Graph media lookup", &response)?;
        let body = read_limited(response, 64 * 1024, "Graph media lookup").await?;
        let info: GraphMedia = serde_json::from_slice(&body)
            .map_err(|e| fatal(format!("Graph media lookup: unexpected answer: {e}")))?;
        if info.file_size.is_some_and(|size| size > self.max_bytes) {
            return Err(MediaError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let response = self
            .client
            .get(&info.url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| transport_error("Graph media download", &e))?;
        check_status("Graph media download", &response)?;
        let served = content_type(&response);
        let bytes = read_limited(response, self.max_bytes, "Graph media download").await?;
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

/// Reads `response`'s body, failing with [`MediaError::TooLarge`] as soon as it is known to pass
/// `max` bytes: from `Content-Length` before reading anything, else while counting chunks. At most
/// `max` plus one chunk is buffered; on failure the response is dropped, closing the connection.
pub async fn read_limited(
    mut response: reqwest::Response,
    max: u64,
    what: &str,
) -> Result<Bytes, MediaError> {
    if response.content_length().is_some_and(|len| len > max) {
        return Err(MediaError::TooLarge { limit: max });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(what, &e))? {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(MediaError::TooLarge { limit: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A non-2xx answer as an error, classified by its status ([`OutboundError::from_status`]); the body
/// is not read.
pub fn check_status(what: &str, response: &reqwest::Response) -> Result<(), MediaError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let message = format!("{what} answered {}", status.as_u16());
    Err(OutboundError::from_status(SERVICE, status, response.headers(), message).into())
}

/// The response's `Content-Type`, when it names one.
pub fn content_type(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A request `what` that got no usable answer ([`OutboundError::from_transport`]).
pub fn transport_error(what: &str, error: &reqwest::Error) -> MediaError {
    OutboundError::from_transport(SERVICE, what, error).into()
}

fn fatal(message: impl Into<String>) -> MediaError {
    MediaError::fatal(message)
}

#[cfg(test)]
mod tests {
    use super::*;

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
