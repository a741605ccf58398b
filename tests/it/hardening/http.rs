//! Properties over HTTP: arbitrary bytes, JSON and signature headers on every route, and the Cloud API
//! handshake answered only for the verify token.

use super::*;

#[test]
fn arbitrary_bytes_on_every_route_never_break_the_intake() {
    let rt = runtime();
    let app = app(&[]);
    let content_type = prop_oneof![
        Just(Some(b"application/json".to_vec())),
        Just(None),
        Just(Some(b"application/json; charset=utf-8".to_vec())),
        Just(Some(b"text/plain".to_vec())),
        header_value().prop_map(Some),
    ];
    run(
        "HTTP arbitrary bytes x3 routes",
        CASES,
        (any_body(), content_type),
        |(body, ct)| {
            for route in ROUTES {
                send(
                    &rt,
                    &app,
                    post(route, body.clone(), ct.as_deref(), &HeaderMap::new()),
                )?;
            }
            Ok(())
        },
    );
}

#[test]
fn arbitrary_json_on_every_route_never_breaks_the_intake() {
    let rt = runtime();
    let app = app(&[]);
    let fixtures = Arc::new(fixtures());
    let ct = Some(b"application/json".as_slice());
    run(
        "HTTP JSON trees and mutated fixtures x3 routes",
        CASES,
        json_body(fixtures),
        |body| {
            for route in ROUTES {
                send(&rt, &app, post(route, body.clone(), ct, &HeaderMap::new()))?;
            }
            Ok(())
        },
    );
    for route in ROUTES {
        assert!(answered(route, 200) > 0, "no generated body got through {route}");
        assert!(
            answered(route, 400) > 0,
            "no generated body was refused by {route}"
        );
    }
}

#[test]
fn arbitrary_signature_headers_never_break_the_intake() {
    let rt = runtime();
    let app = app(&[
        ("WAHA_WEBHOOK_HMAC_KEY", WAHA_KEY),
        ("META_APP_SECRET", META_SECRET),
        ("CHATWOOT_WEBHOOK_SECRET", CHATWOOT_SECRET),
    ]);
    let fixtures = Arc::new(fixtures());
    let headers = (
        header_value(),
        header_value(),
        header_value(),
        header_value(),
        0u8..3,
    );
    let ct = Some(b"application/json".as_slice());
    run(
        "HTTP signature headers x3 routes",
        CASES,
        (json_body(fixtures), headers),
        |(body, h)| {
            let (waha, meta, cw_sig, cw_ts, mode) = h;
            let mut headers = HeaderMap::new();
            let mut set = |name: &'static str, value: Vec<u8>| {
                if let Ok(v) = HeaderValue::from_bytes(&value) {
                    headers.insert(name, v);
                }
            };
            if mode == 0 {
                set("x-webhook-hmac", waha);
                set("x-hub-signature-256", meta);
                set("x-chatwoot-signature", cw_sig);
                set("x-chatwoot-timestamp", cw_ts);
            } else {
                // Correct signatures (mode 1), or correct ones over a body that then gains a space (mode 2).
                let ts = now_secs().to_string();
                set("x-webhook-hmac", hmac512(WAHA_KEY, &[&body]).into_bytes());
                let meta = format!("sha256={}", hmac256(META_SECRET, &[&body]));
                set("x-hub-signature-256", meta.into_bytes());
                let cw = hmac256(CHATWOOT_SECRET, &[ts.as_bytes(), b".", &body]);
                set("x-chatwoot-signature", format!("sha256={cw}").into_bytes());
                set("x-chatwoot-timestamp", ts.into_bytes());
            }
            let mut sent = body.clone();
            if mode == 2 {
                sent.push(b' ');
            }
            for route in ROUTES {
                let (status, _) = send(&rt, &app, post(route, sent.clone(), ct, &headers))?;
                if mode == 2 || (mode == 0 && status != 404) {
                    prop_assert!(
                        status == 401 || status == 404,
                        "{route}: unsigned body answered {status}"
                    );
                }
            }
            Ok(())
        },
    );
}

/// Percent-encodes every byte that is not unreserved.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn arbitrary_handshake_queries_are_answered_only_for_the_verify_token() {
    let rt = runtime();
    let app = app(&[("META_VERIFY_TOKEN", VERIFY_TOKEN)]);
    let part = prop_oneof![
        Just(VERIFY_TOKEN.to_owned()),
        Just("subscribe".to_owned()),
        any::<String>()
    ];
    let structured = (part.clone(), part.clone(), part).prop_map(|(mode, token, challenge)| {
        let q = format!(
            "hub.mode={}&hub.verify_token={}&hub.challenge={}",
            encode(&mode),
            encode(&token),
            encode(&challenge)
        );
        (q, Some((mode, token, challenge)))
    });
    let query = prop_oneof![structured, "[a-zA-Z0-9._=&%+~-]{0,200}".prop_map(|q| (q, None)),];
    run("HTTP handshake queries", CASES, query, |(q, parts)| {
        let request = Request::builder()
            .uri(format!("/webhooks/meta?{q}"))
            .body(Body::empty())
            .expect("request");
        let (status, body) = send(&rt, &app, request)?;
        prop_assert!(status == 200 || status == 403, "{q}: {status}");
        if status == 200 {
            prop_assert!(q.contains(VERIFY_TOKEN) || q.contains("%"), "{q} was verified");
        }
        if let Some((mode, token, challenge)) = parts {
            let good = mode == "subscribe" && token == VERIFY_TOKEN && !challenge.is_empty();
            prop_assert_eq!(status == 200, good, "{}", q);
            if good {
                prop_assert_eq!(String::from_utf8_lossy(&body), challenge);
            }
        }
        Ok(())
    });
}
