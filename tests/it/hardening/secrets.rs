//! The binary never prints a secret: distinctive secrets in every setting, `RUST_LOG=trace`, JSON logs.

use super::*;

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

fn secret(name: &str) -> &'static str {
    SECRETS.iter().find(|(n, _)| *n == name).expect("secret").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_never_logs_a_secret_even_at_trace_level() {
    use crate::support::fake_chatwoot::FakeChatwoot;
    use crate::support::fake_llm::FakeLlm;
    use crate::support::fake_meta::FakeMeta;
    use crate::support::fake_waha::FakeWaha;

    let redis = crate::support::redis::RedisServer::start_with_password(REDIS_PASSWORD);
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
        .env("REDIS_URL", redis.url())
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
    let listening = crate::support::app::eventually_async(Duration::from_secs(30), || async {
        http.get(format!("{base}/health")).send().await.is_ok()
    })
    .await;
    assert!(
        listening,
        "the binary did not listen:\n{}",
        output.lock().unwrap()
    );

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
    redis.run_until_idle(Duration::from_secs(20)).await;

    let pid = child.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    crate::support::app::eventually(Duration::from_secs(40), || {
        child.0.try_wait().ok().flatten().is_some()
    })
    .await;
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
