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

mod support;

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
// Generators.

#[rustfmt::skip]
const KEYS: &[&str] = &[
    "object", "entry", "id", "changes", "field", "value", "metadata", "phone_number_id", "contacts",
    "profile", "name", "wa_id", "user_id", "messages", "from", "from_user_id", "timestamp", "type",
    "text", "body", "image", "video", "audio", "voice", "document", "sticker", "caption", "filename",
    "interactive", "button_reply", "list_reply", "title", "description", "button", "statuses", "status",
    "recipient_id", "event", "session", "payload", "fromMe", "source", "to", "participant", "hasMedia",
    "media", "mimetype", "url", "_data", "notifyName", "Info", "PushName", "Message", "message",
    "message_type", "content", "private", "sender", "conversation", "account", "inbox", "source_id",
    "assignee", "meta", "changed_attributes", "content_attributes", "additional_attributes",
];

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "whatsapp_business_account", "messages", "message", "message.any", "message.ack",
    "session.status", "text", "image", "video", "audio", "voice", "document", "sticker",
    "interactive", "button_reply", "list_reply", "button", "location", "reaction", "unsupported",
    "31628471930", "31641238876@c.us", "183742059381207@lid", "120363@g.us", "status@broadcast",
    "false_31641238876@c.us_A5C1E0F7", "true_1@c.us_X", "false__", "_", "wamid.HBgL", "api", "app",
    "618273645019283", "delivered", "read", "failed", "message_created", "message_updated",
    "conversation_status_changed", "conversation_updated", "incoming", "outgoing", "pending", "open",
    "wa-agent:r-1", "user", "agent_bot", "contact", "", " ", "1784106097", "-1", "1e309", "null",
];

fn word() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[ -~]{0,24}",
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        word().prop_map(Value::from),
    ]
    .boxed()
}

/// Arbitrary JSON trees whose keys and strings are often the ones the parsers look for.
fn json_value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(5, 96, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..8)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
        .boxed()
}

/// `good` most of the time, else any JSON.
fn mostly(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![3 => good, 1 => json_value()].boxed()
}

fn s(words: &'static [&'static str]) -> BoxedStrategy<Value> {
    mostly(prop::sample::select(words).prop_map(Value::from))
}

/// Values shaped like a Cloud API notification, each part possibly wrong.
fn meta_like() -> BoxedStrategy<Value> {
    let media = (
        s(&["image", "video", "audio", "voice", "document", "sticker"]),
        json_value(),
    );
    let message = (
        s(&["31628471930", "", "NL.29"]),
        s(&["wamid.A", "wamid.B", ""]),
        s(&[
            "text",
            "image",
            "interactive",
            "button",
            "reaction",
            "document",
            "audio",
            "x",
        ]),
        mostly(word().prop_map(|w| json!({ "body": w }))),
        mostly(
            word().prop_map(|w| json!({"type": "list_reply", "list_reply": {"title": w, "description": w}})),
        ),
        media,
        s(&["1784106097", "", "-5", "99999999999999999999"]),
    )
        .prop_map(|(from, id, kind, text, interactive, (mk, mv), ts)| {
            let mut m = json!({"from": from, "id": id, "type": kind, "text": text,
                "interactive": interactive, "timestamp": ts});
            if let Some(k) = mk.as_str() {
                m[k] = mv;
            }
            m
        });
    let status = mostly(
        (
            s(&["wamid.S", ""]),
            s(&["sent", "delivered", "read", "failed", "odd"]),
        )
            .prop_map(|(id, st)| json!({"id": id, "status": st, "recipient_id": "31628471930"})),
    );
    let value = (
        mostly(s(&["618273645019283", "1"]).prop_map(|id| json!({ "phone_number_id": id }))),
        prop::collection::vec(mostly(message), 0..4),
        prop::collection::vec(status, 0..3),
        mostly(Just(json!([{"profile": {"name": "Jeroen"}, "wa_id": "31628471930"}]))),
    )
        .prop_map(|(metadata, messages, statuses, contacts)| {
            json!({"metadata": metadata, "messages": messages, "statuses": statuses, "contacts": contacts})
        });
    let change = (s(&["messages", "account_update"]), mostly(value))
        .prop_map(|(field, value)| json!({"field": field, "value": value}));
    let entry = prop::collection::vec(mostly(change), 0..3).prop_map(|changes| json!({"changes": changes}));
    (
        s(&["whatsapp_business_account", "page"]),
        mostly(prop::collection::vec(mostly(entry), 0..3).prop_map(Value::Array)),
    )
        .prop_map(|(object, entry)| json!({"object": object, "entry": entry}))
        .boxed()
}

/// Values shaped like a WAHA event, each part possibly wrong.
fn waha_like() -> BoxedStrategy<Value> {
    let payload = (
        mostly(word().prop_map(Value::from)),
        s(&["31641238876@c.us", "1@lid", "1@g.us", "status@broadcast", ""]),
        mostly(any::<bool>().prop_map(Value::from)),
        mostly(word().prop_map(Value::from)),
        mostly(any::<bool>().prop_map(Value::from)),
        json_value(),
        json_value(),
    )
        .prop_map(|(id, from, from_me, body, has_media, data, media)| {
            json!({"id": id, "from": from, "fromMe": from_me, "body": body, "hasMedia": has_media,
                "_data": data, "media": media, "timestamp": 1784016891})
        });
    (
        s(&["message", "message.any", "session.status", "message.ack"]),
        s(&["default", ""]),
        mostly(payload),
    )
        .prop_map(|(event, session, payload)| json!({"event": event, "session": session, "payload": payload}))
        .boxed()
}

/// The webhook fixtures of every sender, compact.
fn fixtures() -> Vec<Value> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for sender in ["waha", "meta", "chatwoot"] {
        let mut names: Vec<_> = std::fs::read_dir(format!("{dir}/{sender}"))
            .expect("fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("webhook_"))
            })
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).expect("fixture");
            out.push(serde_json::from_str(&text).expect("fixture JSON"));
        }
    }
    assert!(out.len() >= 18, "{} webhook fixtures", out.len());
    out
}

fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Applies one structural mutation at the node `at` picks: replace, remove, stringify or empty it.
fn mutate(v: &mut Value, at: Index, op: u8, replacement: Value) {
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    let pointer = all[at.index(all.len())].clone();
    let Some(node) = v.pointer_mut(&pointer) else {
        return;
    };
    match op % 4 {
        0 => *node = replacement,
        1 => *node = Value::String(node.to_string()),
        2 => {
            *node = match node {
                Value::Object(_) => json!({}),
                Value::Array(_) => json!([]),
                Value::String(_) => json!(""),
                Value::Number(_) => json!(0),
                _ => Value::Null,
            }
        }
        _ => {
            let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", ""));
            let last = last.replace("~1", "/").replace("~0", "~");
            match v.pointer_mut(parent) {
                Some(Value::Object(m)) if !pointer.is_empty() => {
                    m.remove(&last);
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => *v = Value::Null,
            }
        }
    }
}

/// Fixture bodies with structural mutations, then possibly byte-level ones.
fn mutated_fixture(fixtures: Arc<Vec<Value>>) -> BoxedStrategy<Vec<u8>> {
    let structural = prop::collection::vec((any::<Index>(), any::<u8>(), json_value()), 0..4);
    let bytes = prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..4), 0..3);
    (any::<Index>(), structural, bytes)
        .prop_map(move |(which, changes, byte_changes)| {
            let mut v = fixtures[which.index(fixtures.len())].clone();
            for (at, op, replacement) in changes {
                mutate(&mut v, at, op, replacement);
            }
            let mut body = serde_json::to_vec(&v).expect("json");
            for (at, byte, op) in byte_changes {
                if body.is_empty() {
                    break;
                }
                let i = at.index(body.len());
                match op {
                    0 => body[i] ^= byte | 1,
                    1 => body.insert(i, byte),
                    2 => {
                        body.remove(i);
                    }
                    _ => body.truncate(i),
                }
            }
            body
        })
        .boxed()
}

/// Any JSON-ish body: generic trees, gateway-shaped values, or mutated fixtures.
fn json_body(fixtures: Arc<Vec<Value>>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        meta_like().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        waha_like().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        mutated_fixture(fixtures),
    ]
    .boxed()
}

/// Arbitrary bytes, JSON-looking text, or cut-off JSON.
fn any_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        "[\\[\\]{}\":,. a-z0-9\\\\-]{0,256}".prop_map(String::into_bytes),
        (json_value(), any::<Index>()).prop_map(|(v, at)| {
            let mut b = serde_json::to_vec(&v).expect("json");
            b.truncate(at.index(b.len() + 1));
            b
        }),
    ]
    .boxed()
}

/// Header values as a sender might get them wrong: arbitrary bytes, near-miss formats, hex.
fn header_value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..160),
        "sha256=[0-9a-fA-F]{0,70}".prop_map(String::into_bytes),
        "[0-9a-f]{120,130}".prop_map(String::into_bytes),
        "(sha256=|sha1=|SHA256=| )?[ -~]{0,80}".prop_map(String::into_bytes),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
    ]
    .boxed()
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

// ---------------------------------------------------------------------------------------------
// Properties over HTTP.

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

// ---------------------------------------------------------------------------------------------
// Properties of the parsers and signature checks, called directly.

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

// ---------------------------------------------------------------------------------------------
// The binary never prints a secret.

const SECRETS: [(&str, &str); 8] = [
    ("WAHA_API_KEY", "waha-api-key-S3CR3T-1a"),
    ("WAHA_WEBHOOK_HMAC_KEY", "waha-hmac-S3CR3T-2b"),
    ("META_ACCESS_TOKEN", "EAAG-meta-token-S3CR3T-3c"),
    ("META_APP_SECRET", "meta-app-S3CR3T-4d"),
    ("META_VERIFY_TOKEN", "meta-verify-S3CR3T-5e"),
    ("CHATWOOT_API_TOKEN", "cw-api-S3CR3T-6f"),
    ("CHATWOOT_WEBHOOK_SECRET", "cw-hook-S3CR3T-7g"),
    ("LLM_API_KEY", "sk-llm-S3CR3T-8h"),
];
const REDIS_PASSWORD: &str = "redis-pw-S3CR3T-9i";

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` that requires a password.
fn redis_with_password() -> (Killed, u16) {
    let port = free_port();
    let dir = std::env::temp_dir();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--requirepass", REDIS_PASSWORD])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Killed(child), port)
}

fn secret(name: &str) -> &'static str {
    SECRETS.iter().find(|(n, _)| *n == name).expect("secret").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_never_logs_a_secret_even_at_trace_level() {
    use support::fake_chatwoot::FakeChatwoot;
    use support::fake_llm::FakeLlm;
    use support::fake_meta::FakeMeta;
    use support::fake_waha::FakeWaha;

    let (_redis, redis_port) = redis_with_password();
    let waha = FakeWaha::start(secret("WAHA_API_KEY")).await;
    let graph = FakeMeta::start(secret("META_ACCESS_TOKEN")).await;
    let llm = FakeLlm::start().await;
    let chatwoot = FakeChatwoot::start(3, 7, secret("CHATWOOT_API_TOKEN")).await;
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wa-agent"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .env("DEBOUNCE_MS", "100")
        .env(
            "REDIS_URL",
            format!("redis://default:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0"),
        )
        .env("WAHA_BASE_URL", waha.url())
        .env("META_GRAPH_BASE_URL", graph.url())
        .env("META_PHONE_NUMBER_ID", "618273645019283")
        .env("LLM_BASE_URL", llm.url())
        .env("CHATWOOT_BASE_URL", chatwoot.url())
        .env("CHATWOOT_ACCOUNT_ID", "3")
        .env("CHATWOOT_INBOX_ID", "7")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in SECRETS {
        command.env(name, value);
    }
    let mut child = Killed(command.spawn().expect("the binary starts"));
    let output = Arc::new(std::sync::Mutex::new(String::new()));
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.0.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.0.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut out = output.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        }));
    }
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the binary did not listen:\n{}",
            output.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let post = |path: &str, body: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let mut request = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    let waha_body = support::waha_hooks::message("31641238876@c.us", "SECRET0001", "Hallo, is de X5 er nog?");
    let waha_sig = hmac512(secret("WAHA_WEBHOOK_HMAC_KEY"), &[&waha_body]);
    let meta_body = support::waha_hooks::fixture("meta/webhook_text_message.json");
    let meta_sig = format!("sha256={}", hmac256(secret("META_APP_SECRET"), &[&meta_body]));
    let cw_body = support::waha_hooks::fixture("chatwoot/webhook_message_created_outgoing_human.json");
    let ts = now_secs().to_string();
    let cw_sig = hmac256(
        secret("CHATWOOT_WEBHOOK_SECRET"),
        &[ts.as_bytes(), b".", &cw_body],
    );
    let mut statuses = Vec::new();
    for (path, body, headers) in [
        (
            "/webhooks/waha",
            waha_body.clone(),
            vec![("x-webhook-hmac", waha_sig)],
        ),
        (
            "/webhooks/waha",
            waha_body,
            vec![("x-webhook-hmac", "00".repeat(64))],
        ),
        (
            "/webhooks/meta",
            meta_body.clone(),
            vec![("x-hub-signature-256", meta_sig)],
        ),
        (
            "/webhooks/meta",
            meta_body,
            vec![("x-hub-signature-256", format!("sha256={}", "ab".repeat(32)))],
        ),
        (
            "/webhooks/chatwoot",
            cw_body.clone(),
            vec![
                ("x-chatwoot-signature", format!("sha256={cw_sig}")),
                ("x-chatwoot-timestamp", ts.clone()),
            ],
        ),
        (
            "/webhooks/chatwoot",
            cw_body,
            vec![
                ("x-chatwoot-signature", "sha256=00".into()),
                ("x-chatwoot-timestamp", ts),
            ],
        ),
    ] {
        let resp = post(path, body, headers).await.expect("request");
        statuses.push((path, resp.status().as_u16()));
    }
    let verify = secret("META_VERIFY_TOKEN");
    for token in [verify, "wrong-token"] {
        let url =
            format!("{base}/webhooks/meta?hub.mode=subscribe&hub.challenge=42&hub.verify_token={token}");
        statuses.push((
            "handshake",
            http.get(url).send().await.expect("request").status().as_u16(),
        ));
    }
    for path in ["/ready", "/metrics", "/nope"] {
        statuses.push((
            path,
            http.get(format!("{base}{path}"))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16(),
        ));
    }
    assert_eq!(statuses[0], ("/webhooks/waha", 200), "{statuses:?}");
    assert_eq!(statuses[1], ("/webhooks/waha", 401), "{statuses:?}");
    assert_eq!(statuses[2], ("/webhooks/meta", 200), "{statuses:?}");
    assert_eq!(statuses[3], ("/webhooks/meta", 401), "{statuses:?}");
    assert_eq!(statuses[5].1, 401, "{statuses:?}");
    assert_eq!(statuses[6], ("handshake", 200), "{statuses:?}");
    assert_eq!(statuses[7], ("handshake", 403), "{statuses:?}");
    assert_eq!(statuses[8], ("/ready", 200), "{statuses:?}");

    // Let the turns run: replies go out through WAHA and the Graph API with their credentials.
    assert!(waha.wait_for_sent(1, Duration::from_secs(20)).await, "WAHA reply");
    assert!(
        graph.wait_for_sent(1, Duration::from_secs(20)).await,
        "Graph API reply"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pid = child.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(40);
    while child.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(child);
    for reader in readers {
        let _ = reader.join();
    }
    let output = output.lock().unwrap().clone();
    let _ = std::fs::write(
        format!("{}/hardening-binary-output.log", env!("CARGO_TARGET_TMPDIR")),
        &output,
    );
    assert!(
        output.contains("\"level\":\"TRACE\""),
        "trace logging was on:\n{output}"
    );
    assert!(output.contains("wa-agent stopped"), "stopped cleanly:\n{output}");
    // A control: a setting that is not secret (the phone number id) is in the start-up summary, so the
    // scan below reads the real log.
    assert!(
        output.contains("618273645019283"),
        "the settings summary is logged"
    );
    for (name, value) in SECRETS
        .iter()
        .copied()
        .chain([("REDIS_URL password", REDIS_PASSWORD)])
    {
        if let Some(at) = output.find(value) {
            let from = output[..at].rfind('\n').map_or(0, |i| i + 1);
            let to = output[at..].find('\n').map_or(output.len(), |i| at + i);
            panic!("{name} leaked in the output: {}", &output[from..to]);
        }
    }
    assert_webhook_spans(&output);
    println!(
        "binary output checked: {} lines, no secret",
        output.lines().count()
    );
}

/// Every stdout line is one JSON object, and the WAHA webhooks' lines carry their span's fields: the
/// accepted one with the ids recorded after parsing, the refused one without them.
fn assert_webhook_spans(output: &str) {
    let lines: Vec<serde_json::Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let webhook_span = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message && l["span"]["route"] == "waha")
            .map(|l| l["span"].clone())
            .unwrap_or_else(|| panic!("no {message:?} line for the WAHA route:\n{output}"))
    };
    let accepted = webhook_span("webhook accepted");
    assert_eq!(accepted["name"], "webhook");
    assert_eq!(accepted["chat_id"], "31641238876@c.us", "{accepted}");
    assert_eq!(accepted["message_id"], "SECRET0001", "{accepted}");
    assert_eq!(
        accepted["request_id"].as_str().map(str::len),
        Some(36),
        "a generated request id: {accepted}"
    );
    let refused = webhook_span("webhook refused");
    assert!(refused.get("chat_id").is_none(), "{refused}");
    assert_eq!(
        refused["request_id"].as_str().map(str::len),
        Some(36),
        "{refused}"
    );
}

// ---------------------------------------------------------------------------------------------
// A slow sender.

#[tokio::test]
async fn a_sender_that_never_finishes_its_body_gets_a_408_within_the_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = support::app::spawn_app(&[]).await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut answers = Vec::new();
    for route in ["/webhooks/waha", "/webhooks/meta"] {
        answers.push(tokio::spawn({
            let addr = addr.clone();
            async move {
                let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
                let head = format!(
                    "POST {route} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                     Content-Length: 1000\r\n\r\n{{\"event\":\"mess"
                );
                stream.write_all(head.as_bytes()).await.expect("write");
                // Read until the connection closes or a whole JSON error has arrived.
                let mut answer = Vec::new();
                let read = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(5), async {
                    let mut chunk = [0u8; 1024];
                    loop {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => answer.extend_from_slice(&chunk[..n]),
                        }
                        if answer.ends_with(b"}}") {
                            break;
                        }
                    }
                })
                .await;
                (route, read.is_ok(), String::from_utf8_lossy(&answer).into_owned())
            }
        }));
    }
    for answer in answers {
        let (route, finished, answer) = answer.await.expect("task");
        assert!(finished, "{route}: the connection hung past the request timeout");
        let closed_or_408 = answer.is_empty() || answer.starts_with("HTTP/1.1 408");
        assert!(closed_or_408, "{route}: {answer}");
        if !answer.is_empty() {
            assert!(
                answer.contains("\"request_timeout\""),
                "{route}: a JSON error: {answer}"
            );
        }
    }
    assert!(started.elapsed() < REQUEST_TIMEOUT + Duration::from_secs(5));
    app.stop().await;
}
