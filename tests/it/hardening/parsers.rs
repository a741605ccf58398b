//! Properties of the parsers and signature checks, called directly.

use super::*;

fn parser_input(fixtures: Arc<Vec<Value>>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![any_body(), json_body(fixtures)].boxed()
}

#[test]
fn the_waha_parser_survives_any_input() {
    let fixtures = Arc::new(fixtures());
    run(
        "parse_webhook (WAHA)",
        CASES * 2,
        (parser_input(fixtures), any::<bool>()),
        |(body, groups)| {
            if let Ok(WahaEvent::Message { message, .. }) = parse_webhook(&body, groups) {
                prop_assert!(!message.chat_id.is_empty() && !message.message_id.is_empty());
                prop_assert!(!message.text.trim().is_empty());
            }
            Ok(())
        },
    );
}

#[test]
fn the_meta_parser_survives_any_input() {
    let fixtures = Arc::new(fixtures());
    let input = prop_oneof![
        parser_input(fixtures),
        meta_like().prop_map(|v| serde_json::to_vec(&v).unwrap())
    ];
    run("parse_notification (Meta)", CASES * 2, input, |body| {
        if let Ok(n) = parse_notification(&body) {
            for m in &n.messages {
                prop_assert!(!m.message.chat_id.is_empty() && !m.message.message_id.is_empty());
                prop_assert!(!m.message.text.trim().is_empty());
            }
        }
        Ok(())
    });
}

fn headers_of(pairs: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            h.insert(*name, v);
        }
    }
    h
}

#[test]
fn signature_checks_never_panic_accept_correct_macs_and_refuse_flipped_bytes() {
    let secret = "[ -~]{1,40}";
    let input = (
        secret,
        prop::collection::vec(any::<u8>(), 1..512),
        header_value(),
        header_value(),
        any::<Index>(),
        1u8..=255,
    );
    run(
        "verify_waha/verify_meta/verify_chatwoot",
        CASES,
        input,
        |(key, body, h1, h2, at, flip)| {
            let secret = SecretString::from(key.clone());
            let now = now_secs();
            // Random headers: an answer, never a panic.
            let _ = verify_waha(&secret, &headers_of(&[("x-webhook-hmac", h1.clone())]), &body);
            let _ = verify_meta(
                &secret,
                &headers_of(&[("x-hub-signature-256", h1.clone())]),
                &body,
            );
            let random = headers_of(&[("x-chatwoot-signature", h1), ("x-chatwoot-timestamp", h2)]);
            let _ = verify_chatwoot(&secret, &random, &body, now);

            // Correct signatures verify.
            let ts = now.to_string();
            let waha = headers_of(&[("x-webhook-hmac", hmac512(&key, &[&body]).into_bytes())]);
            let meta_sig = format!("sha256={}", hmac256(&key, &[&body]));
            let meta = headers_of(&[("x-hub-signature-256", meta_sig.into_bytes())]);
            let cw_sig = format!("sha256={}", hmac256(&key, &[ts.as_bytes(), b".", &body]));
            let cw = headers_of(&[
                ("x-chatwoot-signature", cw_sig.into_bytes()),
                ("x-chatwoot-timestamp", ts.into_bytes()),
            ]);
            prop_assert!(verify_waha(&secret, &waha, &body).is_ok());
            prop_assert!(verify_meta(&secret, &meta, &body).is_ok());
            prop_assert!(verify_chatwoot(&secret, &cw, &body, now).is_ok());

            // One flipped byte of the body never does.
            let mut flipped = body.clone();
            flipped[at.index(body.len())] ^= flip;
            prop_assert!(verify_waha(&secret, &waha, &flipped).is_err());
            prop_assert!(verify_meta(&secret, &meta, &flipped).is_err());
            prop_assert!(verify_chatwoot(&secret, &cw, &flipped, now).is_err());
            Ok(())
        },
    );
}
