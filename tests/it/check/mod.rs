//! `wa-agent check` over the built binary against real Redis and one small fake of every external:
//! all reachable gives ✓ lines and exit 0; each external down or misconfigured gives its ✗ line (the
//! reason and a hint) and exit 1; nothing configured gives `-` lines and exit 0. `fake` is that one
//! server standing in for every external.

mod fake;

use crate::mcp_support::dealer;

use crate::support::proc::{Ran, run_in};
use crate::support::redis::RedisServer;
use fake::{Fake, fake};

const CW_TOKEN: &str = "cw-token-secret-1";
const WAHA_KEY: &str = "waha-key-secret-2";
const META_TOKEN: &str = "meta-token-secret-3";
const LLM_KEY: &str = "llm-key-secret-4";

/// Every external configured against `fake` and `redis_url`.
fn settings(fake: &Fake, redis_url: String) -> Vec<(&'static str, String)> {
    let u = &fake.url;
    vec![
        ("REDIS_URL", redis_url),
        ("CHATWOOT_BASE_URL", format!("{u}/cw")),
        ("CHATWOOT_API_TOKEN", CW_TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("WAHA_BASE_URL", format!("{u}/waha")),
        ("WAHA_API_KEY", WAHA_KEY.into()),
        ("META_GRAPH_BASE_URL", format!("{u}/graph")),
        ("META_ACCESS_TOKEN", META_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", "1234567890".into()),
        ("LLM_BASE_URL", format!("{u}/llm")),
        ("LLM_API_KEY", LLM_KEY.into()),
        ("LLM_MODEL", "tiny".into()),
        ("HTTP_TIMEOUT_SECS", "2".into()),
        ("MCP_SERVERS", "crm=http://127.0.0.1:9/mcp".into()),
    ]
}

fn with(
    mut vars: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    vars.retain(|(k, _)| *k != name);
    vars.push((name, value.to_owned()));
    vars
}

async fn check(vars: Vec<(&'static str, String)>) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let ran = tokio::task::spawn_blocking(move || run_in(dir.path(), &["check"], &vars))
        .await
        .unwrap();
    for secret in [CW_TOKEN, WAHA_KEY, META_TOKEN, LLM_KEY] {
        assert!(
            !ran.stdout.contains(secret) && !ran.stderr.contains(secret),
            "{secret} printed"
        );
    }
    ran
}

/// The line about `target`.
fn line<'a>(ran: &'a Ran, target: &str) -> &'a str {
    let prefix = format!("{target}: ");
    ran.stdout
        .lines()
        .find(|l| {
            l.split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("no {target} line in:\n{}", ran.stdout))
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_reachable_is_all_ticks_and_exit_0() {
    let redis = RedisServer::start_persistent();
    let f = fake().await;
    let mcp = dealer::start(dealer::Dealer::default(), true).await;
    let mut vars = settings(&f, redis.url());
    vars.retain(|(k, _)| *k != "MCP_SERVERS");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wa-agent.toml");
    let toml = format!(
        "[[mcp_servers]]\nname = \"crm\"\nurl = \"{}\"\nheaders = {{ Authorization = \"Bearer {}\" }}\n",
        mcp.url(),
        dealer::TOKEN
    );
    std::fs::write(&file, toml).unwrap();
    vars.push(("CONFIG_FILE", file.to_str().unwrap().to_owned()));
    let ran = check(vars).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(line(&ran, "settings").starts_with("✓ settings: valid"));
    let redis_line = line(&ran, "redis");
    assert!(
        redis_line.starts_with("✓ redis: ") && redis_line.contains("PONG"),
        "{redis_line}"
    );
    assert!(
        redis_line.contains("Redis ") && redis_line.ends_with("AOF on"),
        "{redis_line}"
    );
    assert_eq!(
        line(&ran, "chatwoot"),
        "✓ chatwoot: token of wa-agent bot <bot@example.com>; inbox 7 \"WhatsApp\" is an API inbox"
    );
    assert_eq!(
        line(&ran, "waha"),
        "✓ waha: session default is WORKING as 31332045566@c.us"
    );
    assert_eq!(
        line(&ran, "cloud api"),
        "✓ cloud api: phone number +31 6 1234 5678 (Autohuis)"
    );
    assert!(line(&ran, "llm").starts_with("✓ llm: ") && line(&ran, "llm").contains("(tiny)"));
    assert_eq!(
        line(&ran, "mcp crm"),
        "✓ mcp crm: reachable, 4 tool(s): crm__check_test_drive_slots, crm__book_service, crm__slow_quote, crm__brochure"
    );
    assert!(
        !ran.stdout.contains(dealer::TOKEN),
        "the header value is never printed"
    );
    let asked = f.behaviour.lock().unwrap().llm_bodies.clone();
    assert_eq!(asked.len(), 1, "one tiny completion");
    assert_eq!(
        (asked[0]["max_tokens"].as_u64(), asked[0]["model"].as_str()),
        (Some(1), Some("tiny"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_external_down_or_misconfigured_is_a_cross_and_exit_1() {
    let redis = RedisServer::start_persistent();
    let f = fake().await;
    let ok = settings(&f, redis.url());

    let ran = check(with(ok.clone(), "CHATWOOT_API_TOKEN", "wrong-token")).await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let mcp = line(&ran, "mcp crm");
    assert!(
        mcp.starts_with("✗ mcp crm: unreachable") && mcp.contains("hint: "),
        "{mcp}"
    );
    assert!(
        line(&ran, "chatwoot").starts_with("✗ chatwoot: the token was refused (401) (hint: "),
        "{}",
        ran.stdout
    );
    assert!(
        line(&ran, "waha").starts_with('✓'),
        "the others still pass: {}",
        ran.stdout
    );

    f.behaviour.lock().unwrap().channel_type = "Channel::WebWidget";
    let ran = check(ok.clone()).await;
    assert_eq!(ran.code, 1);
    let cw = line(&ran, "chatwoot");
    assert!(
        cw.starts_with("✗ chatwoot: ") && cw.contains("Channel::WebWidget inbox, not an API inbox"),
        "{cw}"
    );
    assert!(cw.contains("hint: create an API-channel inbox"), "{cw}");
    f.behaviour.lock().unwrap().channel_type = "Channel::Api";

    let ran = check(with(ok.clone(), "CHATWOOT_INBOX_ID", "8")).await;
    assert_eq!(ran.code, 1);
    assert!(
        line(&ran, "chatwoot").contains("inbox 8 of account 3 answered 404"),
        "{}",
        ran.stdout
    );

    f.behaviour.lock().unwrap().waha_status = "STOPPED";
    let ran = check(ok.clone()).await;
    assert_eq!(ran.code, 1);
    let waha = line(&ran, "waha");
    assert!(
        waha.starts_with("✗ waha: session default is STOPPED (hint: start the session"),
        "{waha}"
    );
    f.behaviour.lock().unwrap().waha_status = "WORKING";

    let ran = check(with(ok.clone(), "WAHA_API_KEY", "nope")).await;
    assert!(
        line(&ran, "waha").starts_with("✗ waha: the API key was refused"),
        "{}",
        ran.stdout
    );

    let ran = check(with(ok.clone(), "META_ACCESS_TOKEN", "expired")).await;
    assert_eq!(ran.code, 1);
    let meta = line(&ran, "cloud api");
    assert!(
        meta.starts_with("✗ cloud api: ") && meta.contains("Invalid OAuth access token."),
        "{meta}"
    );

    let ran = check(with(ok.clone(), "LLM_API_KEY", "sk-wrong")).await;
    assert_eq!(ran.code, 1);
    assert!(
        line(&ran, "llm").starts_with("✗ llm: the API key was refused (401"),
        "{}",
        ran.stdout
    );

    let ran = check(with(ok.clone(), "LLM_BASE_URL", "http://127.0.0.1:9/v1")).await;
    assert!(
        line(&ran, "llm").starts_with("✗ llm: http://127.0.0.1:9/v1: cannot connect"),
        "{}",
        ran.stdout
    );

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ran = check(with(
        ok.clone(),
        "REDIS_URL",
        &format!("redis://:pw-secret@127.0.0.1:{dead}"),
    ))
    .await;
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    let r = line(&ran, "redis");
    assert!(
        r.starts_with(&format!("✗ redis: redis://127.0.0.1:{dead}")) && r.contains("hint: is Redis running"),
        "{r}"
    );
    assert!(
        !ran.stdout.contains("pw-secret"),
        "the Redis password is never printed"
    );
    assert!(line(&ran, "chatwoot").starts_with('✓'));
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_without_aof_is_a_tick_with_a_note() {
    let redis = RedisServer::start();
    let ran = check(vec![("REDIS_URL", redis.url())]).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    let r = line(&ran, "redis");
    assert!(r.starts_with("✓ redis: ") && r.contains("AOF off (note: "), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_configured_is_dashes_and_exit_0() {
    let ran = check(Vec::new()).await;
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert!(line(&ran, "redis").starts_with("✓ redis: REDIS_URL is not set: the embedded"));
    for target in ["chatwoot", "waha", "cloud api", "llm", "evolution", "agent bot"] {
        assert!(
            line(&ran, target).starts_with(&format!("- {target}: not configured")),
            "{}",
            ran.stdout
        );
    }
    assert!(line(&ran, "mcp").starts_with("- mcp: no servers configured"));
    assert_eq!(
        ran.stdout.lines().count(),
        9,
        "settings plus one line per external:\n{}",
        ran.stdout
    );
    assert!(
        !ran.stderr.contains('✓') && !ran.stderr.contains("- llm"),
        "the report is on stdout only"
    );

    let ran = check(vec![("META_ACCESS_TOKEN", "t".into())]).await;
    assert_eq!(ran.code, 1);
    assert!(line(&ran, "cloud api").starts_with("✗ cloud api: only one of"));
}
