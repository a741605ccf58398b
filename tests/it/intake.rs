//! Intake over HTTP: signatures, malformed bodies, limits, health, readiness and metrics.

use crate::support;

use std::time::Duration;

use crate::support::app::{TestApp, error_of, spawn_app};
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::message;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha512;

const HMAC_KEY: &str = "wa-agent-test-key";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(HMAC_KEY.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn app_with(redis: &RedisServer, waha: &FakeWaha, extra: &[(&str, &str)]) -> TestApp {
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("WAHA_BASE_URL", waha.url()),
        ("WAHA_API_KEY", "k".into()),
        ("DEBOUNCE_MS", "50".into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    spawn_app(&vars).await
}

#[tokio::test]
async fn waha_signatures_good_bad_and_missing() {
    let redis = RedisServer::start();
    let waha = FakeWaha::start("k").await;
    let app = app_with(&redis, &waha, &[("WAHA_WEBHOOK_HMAC_KEY", HMAC_KEY)]).await;
    let body = message("31641238876@c.us", "SIG00001", "Hallo");

    let (status, code, msg) = error_of(app.post("/webhooks/waha", body.clone(), &[]).await).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"));
    assert!(msg.contains("X-Webhook-Hmac"), "{msg}");

    let bad = sign(b"something else");
    let (status, code, _) = error_of(
        app.post("/webhooks/waha", body.clone(), &[("X-Webhook-Hmac", &bad)])
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"));

    let good = sign(&body);
    let resp = app
        .post("/webhooks/waha", body.clone(), &[("X-Webhook-Hmac", &good)])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        waha.wait_for_sent(1, Duration::from_secs(10)).await,
        "the signed message is answered"
    );
    assert_eq!(waha.sent().len(), 1, "the refused ones were never queued");
    app.stop().await;
}

#[tokio::test]
async fn the_shared_signature_vector_is_accepted_over_http() {
    let redis = RedisServer::start();
    let waha = FakeWaha::start("k").await;
    let app = app_with(&redis, &waha, &[("WAHA_WEBHOOK_HMAC_KEY", HMAC_KEY)]).await;
    let raw = std::fs::read_to_string(format!(
        "{}/tests/fixtures/signatures.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    for vector in v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["sender"] == "WAHA" && v["key"] == HMAC_KEY)
    {
        let body = vector["body"].as_str().unwrap().as_bytes().to_vec();
        let sig = vector["headers"]["X-Webhook-Hmac"].as_str().unwrap();
        let resp = app.post("/webhooks/waha", body, &[("X-Webhook-Hmac", sig)]).await;
        let expected = if vector["valid"] == true { 200 } else { 401 };
        assert_eq!(resp.status(), expected, "vector {}", vector["name"]);
    }
    app.stop().await;
}

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies_get_clear_errors() {
    let redis = RedisServer::start();
    let waha = FakeWaha::start("k").await;
    let app = app_with(&redis, &waha, &[]).await;

    let (status, code, _) = error_of(app.post("/webhooks/waha", b"{not json".to_vec(), &[]).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"));

    let (status, code, msg) = error_of(
        app.post(
            "/webhooks/waha",
            br#"{"event":"message","payload":{}}"#.to_vec(),
            &[],
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_payload"));
    assert!(msg.contains("payload.id"), "names the field: {msg}");

    let big = vec![b' '; 2 * 1024 * 1024];
    let (status, code, _) = error_of(app.post("/webhooks/waha", big, &[]).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));

    let resp = app
        .http
        .post(format!("{}/webhooks/waha", app.url))
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(resp).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));

    let (status, code, _) = error_of(app.get("/nope").await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, code, _) = error_of(app.get("/webhooks/waha").await).await;
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
    assert!(waha.sent().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let redis = RedisServer::start();
    let waha = FakeWaha::start("k").await;
    let app = app_with(&redis, &waha, &[]).await;
    let health: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let counted = [
        r#"wa_agent_webhooks_total{route="waha",outcome="accepted"}"#,
        r#"wa_agent_webhooks_total{route="waha",outcome="invalid"}"#,
        r#"wa_agent_turns_total{outcome="replied"}"#,
        r#"wa_agent_history_loads_total{source="store"}"#,
    ];
    let mut before = Vec::new();
    for series in counted {
        before.push(app.metric(series).await);
    }

    app.post(
        "/webhooks/waha",
        message("31641238876@c.us", "MET00001", "Hallo"),
        &[],
    )
    .await;
    app.post("/webhooks/waha", b"{}".to_vec(), &[]).await;
    assert!(waha.wait_for_sent(1, Duration::from_secs(10)).await);
    app.run_until_idle().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    // Deltas, not absolute counts: other tests in the same process may count too.
    for (series, before) in counted.iter().zip(before) {
        let now = support::app::metric(&text, series);
        assert!(
            now >= before + 1.0,
            "{series}: {before} before, {now} after:\n{text}"
        );
    }
    for needle in [
        "wa_agent_agent_duration_seconds_bucket",
        "wa_agent_gateway_send_duration_seconds_bucket",
        "wa_agent_queue_pending_signals",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    app.stop().await;
}
