//! An intake that no input can break.
//!
//! Property tests drive the real router (`wa_agent::http::router` over the embedded store) with
//! arbitrary bytes, generated JSON trees, gateway-shaped JSON, mutated fixtures, arbitrary signature
//! headers and arbitrary handshake queries, on every webhook route. Whatever arrives: no panic, never
//! a 5xx, every 4xx a JSON `{"error":{"code","message"}}` with a message, every 2xx a JSON `status`.
//! The parsers and signature checks get the same inputs directly. Each property prints how many
//! generated inputs it ran and writes it, with the statuses
//! answered, to `$CARGO_TARGET_TMPDIR/hardening-<property>.txt`.
//!
//! Then the binary itself: with distinctive secrets in every setting and `RUST_LOG=trace`, no secret
//! ever reaches its output; and a sender that never finishes its body gets a 408 within the timeout.
//!
//! Here: running a property and the router every answer must satisfy; `generators`, `http` (the
//! properties over HTTP), `parsers` (called directly), `secrets` (the binary's log) and `slow_body`.

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Sha256, Sha512};
use tower::ServiceExt;
use wa_agent::channel::meta::parse_notification;
use wa_agent::channel::waha::{WahaEvent, parse_webhook};
use wa_agent::config::Settings;
use wa_agent::http::signatures::{verify_chatwoot, verify_meta, verify_waha};
use wa_agent::http::{AppState, REQUEST_TIMEOUT, router};
use wa_agent::store::memory::MemoryStore;

/// Generated inputs per property.
const CASES: u32 = 2000;
/// Every POST webhook route.
const ROUTES: [&str; 3] = ["/webhooks/waha", "/webhooks/meta", "/webhooks/chatwoot"];
const WAHA_KEY: &str = "hardening-waha-key";
const META_SECRET: &str = "hardening-meta-secret";
const CHATWOOT_SECRET: &str = "hardening-chatwoot-secret";
const VERIFY_TOKEN: &str = "hardening-verify";

// ---------------------------------------------------------------------------------------------
// Running properties and counting their cases.

/// Runs `test` on `cases` inputs of `strategy`, panicking with the minimal failing input; returns and
/// records how many inputs ran.
fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl FnMut(S::Value) -> Result<(), TestCaseError>,
) -> u32
where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    ANSWERS.with(|a| a.borrow_mut().clear());
    let ran = std::cell::Cell::new(0u32);
    let test = std::cell::RefCell::new(test);
    let result = runner.run(&strategy, |input| {
        ran.set(ran.get() + 1);
        (test.borrow_mut())(input)
    });
    let ran = ran.get();
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    assert!(ran >= cases, "{name}: only {ran} cases ran");
    let answers: Vec<String> =
        ANSWERS.with(|a| a.borrow().iter().map(|(k, n)| format!("{k}: {n}")).collect());
    let mut line = format!("{name}: {ran} generated inputs survived");
    if !answers.is_empty() {
        line.push_str(&format!(" (answers: {})", answers.join(", ")));
    }
    println!("{line}");
    let slug: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let _ = std::fs::write(
        format!("{}/hardening-{slug}.txt", env!("CARGO_TARGET_TMPDIR")),
        format!("{line}\n"),
    );
    ran
}

thread_local! {
    /// How often each route answered each status during the current property.
    static ANSWERS: std::cell::RefCell<std::collections::BTreeMap<String, usize>> =
        std::cell::RefCell::default();
}

/// How often `path` answered `status` during the current property.
fn answered(path: &str, status: u16) -> usize {
    ANSWERS.with(|a| a.borrow().get(&format!("{path} {status}")).copied().unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// The router and what every answer must look like.

/// The router over the embedded store, with Chatwoot configured (so its route parses) plus `vars`.
fn app(vars: &[(&str, &str)]) -> Router {
    let chatwoot = [
        ("CHATWOOT_BASE_URL", "http://127.0.0.1:9"),
        ("CHATWOOT_API_TOKEN", "t"),
        ("CHATWOOT_ACCOUNT_ID", "3"),
        ("CHATWOOT_INBOX_ID", "7"),
    ];
    let settings = Settings::from_vars(|k| {
        vars.iter()
            .chain(chatwoot.iter())
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("settings");
    let state = AppState {
        settings: Arc::new(settings),
        store: Arc::new(MemoryStore::new()),
        metrics: wa_agent::telemetry::metrics_handle(),
        accepting: Arc::new(AtomicBool::new(true)),
        draining: Arc::new(AtomicBool::new(false)),
    };
    router(state, true)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Sends `request` and checks the error policy; returns the status and body.
fn send(
    rt: &tokio::runtime::Runtime,
    app: &Router,
    request: Request<Body>,
) -> Result<(u16, Vec<u8>), TestCaseError> {
    let what = format!("{} {}", request.method(), request.uri());
    let path = request.uri().path().to_owned();
    let response = rt
        .block_on(app.clone().oneshot(request))
        .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = rt
        .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
        .map_err(|e| TestCaseError::fail(format!("{what}: body: {e}")))?
        .to_vec();
    let text = String::from_utf8_lossy(&body);
    ANSWERS.with(|a| {
        *a.borrow_mut()
            .entry(format!("{path} {}", status.as_u16()))
            .or_default() += 1
    });
    prop_assert!(!status.is_server_error(), "{what} answered {status}: {text}");
    if status.is_client_error() {
        prop_assert!(
            content_type.starts_with("application/json"),
            "{what} {status}: {content_type}"
        );
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| TestCaseError::fail(format!("{what} {status}: not JSON ({e}): {text}")))?;
        prop_assert!(
            v["error"]["code"].as_str().is_some_and(|c| !c.is_empty()),
            "{what}: {text}"
        );
        prop_assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.trim().is_empty()),
            "{what}: {text}"
        );
    } else if status == StatusCode::OK && content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| TestCaseError::fail(format!("{what}: 200 not JSON ({e})")))?;
        prop_assert!(v["status"].is_string(), "{what}: {text}");
    }
    Ok((status.as_u16(), body))
}

fn post(route: &str, body: Vec<u8>, content_type: Option<&[u8]>, headers: &HeaderMap) -> Request<Body> {
    let mut request = Request::builder().method("POST").uri(route);
    if let Some(ct) = content_type.and_then(|ct| HeaderValue::from_bytes(ct).ok()) {
        request = request.header("content-type", ct);
    }
    let mut request = request.body(Body::from(body)).expect("request");
    request.headers_mut().extend(headers.clone());
    request
}

/// Hex HMAC-SHA512 of the concatenated parts (WAHA).
fn hmac512(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("key");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Hex HMAC-SHA256 of the concatenated parts (Meta, Chatwoot).
fn hmac256(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

mod generators;
mod http;
mod parsers;
mod secrets;
mod slow_body;

use generators::*;
