//! Webhook signature checks, always over the raw bytes as received and compared in constant time.
//!
//! - WAHA: `X-Webhook-Hmac` = hex HMAC-SHA512(key, body).
//! - Meta: `X-Hub-Signature-256` = `sha256=` + hex HMAC-SHA256(app secret, body).
//! - Chatwoot: `X-Chatwoot-Signature` = `sha256=` + hex HMAC-SHA256(secret, `"<X-Chatwoot-Timestamp>.<body>"`),
//!   with the timestamp no more than [`CHATWOOT_TOLERANCE_SECS`] away from now.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Sha256, Sha512};

use super::error::ApiError;

/// How far a Chatwoot timestamp may be from now.
pub const CHATWOOT_TOLERANCE_SECS: i64 = 300;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    let value = headers
        .get(name)
        .ok_or_else(|| ApiError::InvalidSignature(format!("missing {name} header")))?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| ApiError::InvalidSignature(format!("{name} is not text")))
}

fn decode_hex(name: &str, hex_sig: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(hex_sig).map_err(|_| ApiError::InvalidSignature(format!("{name} is not hex")))
}

fn mismatch(name: &str) -> ApiError {
    ApiError::InvalidSignature(format!("{name} does not match the body"))
}

/// Check WAHA's `X-Webhook-Hmac`.
pub fn verify_waha(key: &SecretString, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    const NAME: &str = "X-Webhook-Hmac";
    let sig = decode_hex(NAME, header(headers, NAME)?)?;
    let mut mac =
        Hmac::<Sha512>::new_from_slice(key.expose_secret().as_bytes()).map_err(|_| ApiError::Internal)?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| mismatch(NAME))
}

/// Check Evolution API's `apikey` header (or, when the header is absent, the `apikey` field Evolution
/// puts in every webhook body) against `EVOLUTION_API_KEY`, in constant time.
pub fn verify_evolution(key: &SecretString, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    const NAME: &str = "apikey";
    let from_body;
    let given = match headers.get(NAME) {
        Some(_) => header(headers, NAME)?,
        None => {
            from_body = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get(NAME).and_then(|k| k.as_str()).map(str::to_owned))
                .ok_or_else(|| ApiError::InvalidSignature(format!("missing {NAME} header")))?;
            from_body.as_str()
        }
    };
    let digest = |text: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(NAME.as_bytes()).expect("any key length");
        mac.update(text.as_bytes());
        mac
    };
    let expected = digest(key.expose_secret()).finalize().into_bytes();
    digest(given)
        .verify_slice(&expected)
        .map_err(|_| ApiError::InvalidSignature(format!("{NAME} does not match EVOLUTION_API_KEY")))
}

/// Check Meta's `X-Hub-Signature-256`.
pub fn verify_meta(secret: &SecretString, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    const NAME: &str = "X-Hub-Signature-256";
    let value = header(headers, NAME)?;
    let hex_sig = value
        .strip_prefix("sha256=")
        .ok_or_else(|| ApiError::InvalidSignature(format!("{NAME} must start with sha256=")))?;
    let sig = decode_hex(NAME, hex_sig)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).map_err(|_| ApiError::Internal)?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| mismatch(NAME))
}

/// Check Chatwoot's `X-Chatwoot-Signature` over `"<timestamp>.<body>"` and the timestamp's age.
pub fn verify_chatwoot(
    secret: &SecretString,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), ApiError> {
    const NAME: &str = "X-Chatwoot-Signature";
    const TS: &str = "X-Chatwoot-Timestamp";
    let value = header(headers, NAME)?;
    let ts_text = header(headers, TS)?;
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| ApiError::InvalidSignature(format!("{TS} is not a number")))?;
    let hex_sig = value
        .strip_prefix("sha256=")
        .ok_or_else(|| ApiError::InvalidSignature(format!("{NAME} must start with sha256=")))?;
    let sig = decode_hex(NAME, hex_sig)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).map_err(|_| ApiError::Internal)?;
    mac.update(ts_text.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| mismatch(NAME))?;
    if (now_secs - ts).abs() > CHATWOOT_TOLERANCE_SECS {
        return Err(ApiError::InvalidSignature(format!(
            "{TS} is more than {CHATWOOT_TOLERANCE_SECS} s away from now"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};
    use serde_json::Value;

    fn vectors() -> Vec<Value> {
        let raw = include_str!("../../tests/fixtures/signatures.json");
        let v: Value = serde_json::from_str(raw).expect("signatures.json");
        v["vectors"].as_array().expect("vectors").clone()
    }

    fn headers_of(v: &Value) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, val) in v["headers"].as_object().expect("headers") {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(val.as_str().expect("str")).expect("value"),
            );
        }
        h
    }

    #[test]
    fn every_vector_verifies_as_expected() {
        let mut checked = 0;
        for v in vectors() {
            let key = SecretString::from(v["key"].as_str().expect("key").to_owned());
            let body = v["body"].as_str().expect("body").as_bytes();
            let headers = headers_of(&v);
            let sender = v["sender"].as_str().expect("sender");
            let result = if sender.starts_with("WAHA") {
                verify_waha(&key, &headers, body)
            } else if sender.starts_with("Meta") {
                verify_meta(&key, &headers, body)
            } else {
                let ts: i64 = headers["X-Chatwoot-Timestamp"]
                    .to_str()
                    .expect("ts")
                    .parse()
                    .expect("num");
                verify_chatwoot(&key, &headers, body, ts + 10)
            };
            assert_eq!(
                result.is_ok(),
                v["valid"].as_bool().expect("valid"),
                "vector {}",
                v["name"]
            );
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} vectors");
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let key = SecretString::from("k".to_owned());
        let err = verify_waha(&key, &HeaderMap::new(), b"{}").unwrap_err();
        assert!(err.to_string().contains("X-Webhook-Hmac"));
        let mut h = HeaderMap::new();
        h.insert("X-Webhook-Hmac", HeaderValue::from_static("zz"));
        assert_eq!(
            verify_waha(&key, &h, b"{}").unwrap_err().code(),
            "invalid_signature"
        );
        let mut h = HeaderMap::new();
        h.insert("X-Hub-Signature-256", HeaderValue::from_static("md5=00"));
        assert!(verify_meta(&key, &h, b"{}").is_err());
    }

    #[test]
    fn stale_chatwoot_timestamps_are_refused() {
        let v = vectors()
            .into_iter()
            .find(|v| v["name"] == "chatwoot_incoming_utf8")
            .expect("vector");
        let key = SecretString::from(v["key"].as_str().expect("key").to_owned());
        let headers = headers_of(&v);
        let ts: i64 = headers["X-Chatwoot-Timestamp"]
            .to_str()
            .expect("ts")
            .parse()
            .expect("num");
        let body = v["body"].as_str().expect("body").as_bytes();
        assert!(verify_chatwoot(&key, &headers, body, ts + 299).is_ok());
        assert!(verify_chatwoot(&key, &headers, body, ts + 301).is_err());
    }
}
