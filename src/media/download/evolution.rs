//! Fetching an Evolution API file: `POST {EVOLUTION_BASE_URL}/chat/getBase64FromMediaMessage/
//! {instance}` with the `apikey` header and `{"message": {"key": {"id"}}, "convertToMp4": false}`.
//! Evolution looks the message up in its own store and answers 201 with `{mediaType, fileName,
//! caption, size, mimetype, base64}`; a message it does not know (or cannot download) is a 400.
//!
//! Invariants: the file is never larger than `MEDIA_MAX_BYTES` once decoded, and is refused as early
//! as it can be: the webhook's `fileLength` before any request; then the answer is read through
//! [`fetch`] capped at the limit's base64 size plus [`JSON_ROOM`]; then the decoded size is
//! computed from the base64 text's length before anything is decoded. Statuses are classified as for
//! every download ([`fetch`]); an answer without `base64`, or base64 that does not decode, is
//! fatal. The key never appears in errors.

use std::borrow::Cow;

use base64::Engine;
use bytes::Bytes;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::{MediaFetcher, fatal, fetch};
use crate::media::MediaError;

/// Room for the JSON around the base64: field names, `mimetype`, `fileName`, a caption.
const JSON_ROOM: u64 = 64 * 1024;

const WHAT: &str = "Evolution media";

impl MediaFetcher {
    /// The file of message `message_id` on `instance`, and the MIME type Evolution gave it.
    pub(super) async fn fetch_evolution(
        &self,
        instance: &str,
        message_id: &str,
        announced: Option<u64>,
    ) -> Result<(Bytes, Option<String>), MediaError> {
        let Some(base) = &self.evolution_base else {
            return Err(fatal("Evolution media: EVOLUTION_BASE_URL is not set"));
        };
        if announced.is_some_and(|size| size > self.max_bytes) {
            return Err(too_large(self.max_bytes));
        }
        let body = json!({ "message": { "key": { "id": message_id } }, "convertToMp4": false });
        let mut request = self.client.post(endpoint(base, instance)?).json(&body);
        if let Some(key) = &self.evolution_key {
            request = request.header("apikey", key.expose_secret());
        }
        let cap = encoded_len(self.max_bytes).saturating_add(JSON_ROOM);
        let (answer, _) = fetch(WHAT, request, cap).await.map_err(|e| match e {
            MediaError::TooLarge { .. } => too_large(self.max_bytes),
            other => other,
        })?;
        decode(&answer, self.max_bytes)
    }
}

fn too_large(limit: u64) -> MediaError {
    MediaError::TooLarge { limit }
}

/// `{base}/chat/getBase64FromMediaMessage/{instance}`, the instance escaped as one path segment.
fn endpoint(base: &str, instance: &str) -> Result<reqwest::Url, MediaError> {
    let mut url =
        reqwest::Url::parse(base).map_err(|_| fatal("Evolution media: EVOLUTION_BASE_URL is not a URL"))?;
    url.path_segments_mut()
        .map_err(|()| fatal("Evolution media: EVOLUTION_BASE_URL cannot take a path"))?
        .pop_if_empty()
        .extend(["chat", "getBase64FromMediaMessage", instance]);
    Ok(url)
}

/// The part of the answer read; the rest (`mediaType`, `fileName`, `size`, `buffer`) is not needed.
#[derive(Deserialize)]
struct Base64Media<'a> {
    #[serde(borrow, default)]
    base64: Option<Cow<'a, str>>,
    #[serde(default)]
    mimetype: Option<String>,
}

/// The file in a `getBase64FromMediaMessage` answer, refused when it decodes to more than `max` bytes
/// (known from the base64's length, before decoding).
fn decode(answer: &[u8], max: u64) -> Result<(Bytes, Option<String>), MediaError> {
    let media: Base64Media<'_> = serde_json::from_slice(answer)
        .map_err(|e| fatal(format!("Evolution media: unexpected answer: {e}")))?;
    let Some(encoded) = media.base64 else {
        return Err(fatal("Evolution media: the answer has no base64"));
    };
    let encoded = encoded.trim();
    if encoded.is_empty() {
        return Err(fatal("Evolution media: the answer has no base64"));
    }
    if decoded_len(encoded) > max {
        return Err(too_large(max));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| fatal(format!("Evolution media: the base64 does not decode: {e}")))?;
    let mime = media
        .mimetype
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    Ok((Bytes::from(bytes), mime))
}

/// How many characters of padded base64 `len` bytes take.
fn encoded_len(len: u64) -> u64 {
    len.div_ceil(3).saturating_mul(4)
}

/// How many bytes valid base64 `encoded` (padded or not) decodes to.
fn decoded_len(encoded: &str) -> u64 {
    let unpadded = encoded.trim_end_matches('=').len() as u64;
    unpadded / 4 * 3 + unpadded % 4 * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_the_encoding() {
        let engine = base64::engine::general_purpose::STANDARD;
        for len in 0..40usize {
            let encoded = engine.encode(vec![7u8; len]);
            assert_eq!(decoded_len(&encoded), len as u64, "{encoded}");
            assert_eq!(decoded_len(encoded.trim_end_matches('=')), len as u64);
            assert_eq!(encoded_len(len as u64), encoded.len() as u64);
        }
    }

    #[test]
    fn the_answer_is_decoded_and_refused_over_the_limit_before_decoding() {
        let answer = json!({
            "mediaType": "audioMessage", "fileName": "3A7F.oga", "caption": null,
            "size": {"fileLength": {"low": 11, "high": 0, "unsigned": true}},
            "mimetype": "audio/ogg; codecs=opus", "base64": "T2dnUwACdm9pY2U=", "buffer": null
        })
        .to_string();
        let (bytes, mime) = decode(answer.as_bytes(), 11).unwrap();
        assert_eq!(bytes.as_ref(), b"OggS\x00\x02voice");
        assert_eq!(mime.as_deref(), Some("audio/ogg; codecs=opus"));
        assert!(matches!(
            decode(answer.as_bytes(), 10),
            Err(MediaError::TooLarge { limit: 10 })
        ));
        // Not base64 at all: refused as too large (by its length) or as undecodable, never decoded.
        let junk = json!({"base64": "!!!!", "mimetype": "image/jpeg"}).to_string();
        assert!(matches!(
            decode(junk.as_bytes(), 100),
            Err(MediaError::Outbound(e)) if !e.is_retryable()
        ));
        for bad in [
            r#"{"mimetype":"image/jpeg"}"#,
            r#"{"base64":null}"#,
            r#"{"base64":" "}"#,
            "[]",
        ] {
            let err = decode(bad.as_bytes(), 100).unwrap_err();
            assert!(!err.is_retryable(), "{bad}: {err}");
        }
    }

    #[test]
    fn the_instance_is_one_escaped_segment() {
        assert_eq!(
            endpoint("http://evo:8080/", "vandermeer-verkoop")
                .unwrap()
                .as_str(),
            "http://evo:8080/chat/getBase64FromMediaMessage/vandermeer-verkoop"
        );
        assert_eq!(
            endpoint("https://x.example/evo", "a b/c").unwrap().as_str(),
            "https://x.example/evo/chat/getBase64FromMediaMessage/a%20b%2Fc"
        );
        assert!(matches!(
            endpoint("not a url", "i"),
            Err(MediaError::Outbound(e)) if !e.is_retryable()
        ));
    }
}
