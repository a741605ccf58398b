//! Unit tests of settings read from variables only (the file layer is tested in `tests/config.rs`).

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_vars(|k| map.get(k).cloned())
}

fn err(pairs: &[(&str, &str)]) -> ConfigError {
    from(pairs).expect_err("settings should be rejected")
}

const CHATWOOT: [(&str, &str); 4] = [
    ("CHATWOOT_BASE_URL", "https://chatwoot.example.com/"),
    ("CHATWOOT_API_TOKEN", "cw-token-secret-1"),
    ("CHATWOOT_ACCOUNT_ID", "3"),
    ("CHATWOOT_INBOX_ID", "7"),
];

#[test]
fn defaults_match_the_interface() {
    let s = from(&[]).unwrap();
    assert_eq!(s.listen_addr, "0.0.0.0:3000".parse().unwrap());
    assert_eq!(s.role, Role::All);
    assert!(s.redis_url.is_none());
    assert_eq!(s.redis_key_prefix, "wa-agent:");
    assert_eq!(s.history_window, 20);
    assert_eq!(s.history_ttl, Duration::from_secs(86_400));
    assert_eq!(s.debounce, Duration::from_millis(1500));
    assert!(s.chatwoot.is_none() && s.waha.is_none() && s.llm.is_none());
    assert!(s.chatwoot_webhook_secret.is_none() && s.waha_webhook_hmac_key.is_none());
    assert_eq!(s.meta.graph_base_url, "https://graph.facebook.com/v25.0");
    assert!(s.meta.access_token.is_none() && s.meta.phone_number_id.is_none());
    assert_eq!(s.llm_timeout, Duration::from_secs(60));
    assert_eq!(s.system_prompt, DEFAULT_SYSTEM_PROMPT);
    assert_eq!(s.handoff_message, "");
    assert_eq!(s.reply_max_chars, 1000);
    assert!(s.send_presence && !s.allow_groups && !s.require_signatures);
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert_eq!(s.worker_concurrency, 64);
    assert_eq!(s.reclaim_after, Duration::from_secs(12));
    assert_eq!(s.shutdown_grace, Duration::from_secs(30));
    assert_eq!(s.timezone.iana_name(), Some("UTC"));
    assert_eq!(s.legacy_timezone.iana_name(), Some("UTC"));
    assert!(s.mcp_servers.is_empty());
}

#[test]
fn new_settings_are_parsed_and_bounded() {
    let s = from(&[
        ("RECLAIM_AFTER_SECS", "60"),
        ("SHUTDOWN_GRACE_SECS", "5"),
        ("TIMEZONE", "Europe/Amsterdam"),
        ("CONSUMER_NAME", "wa-1"),
    ])
    .unwrap();
    assert_eq!(s.reclaim_after, Duration::from_secs(60));
    assert_eq!(s.shutdown_grace, Duration::from_secs(5));
    assert_eq!(s.timezone.iana_name(), Some("Europe/Amsterdam"));
    assert_eq!(
        s.legacy_timezone.iana_name(),
        Some("Europe/Amsterdam"),
        "defaults to TIMEZONE"
    );
    assert_eq!(s.consumer_name, "wa-1");
    let s = from(&[
        ("TIMEZONE", "Europe/Amsterdam"),
        ("LEGACY_TIMEZONE", "America/Sao_Paulo"),
    ])
    .unwrap();
    assert_eq!(s.legacy_timezone.iana_name(), Some("America/Sao_Paulo"));
    for (name, value) in [
        ("RECLAIM_AFTER_SECS", "11"),
        ("RECLAIM_AFTER_SECS", "3601"),
        ("SHUTDOWN_GRACE_SECS", "0"),
        ("SHUTDOWN_GRACE_SECS", "3601"),
        ("TIMEZONE", "Mars/Olympus_Mons"),
        ("LEGACY_TIMEZONE", "CEST+2"),
        ("CONSUMER_NAME", "two words"),
    ] {
        let e = err(&[(name, value)]);
        assert_eq!(e.variable, name, "{name}={value}: {e}");
    }
    assert!(err(&[("TIMEZONE", "Mars/Olympus_Mons")]).reason.contains("IANA"));
}

#[test]
fn consumer_name_defaults_to_host_and_port() {
    let s = from(&[("HOSTNAME", "box-7"), ("LISTEN_ADDR", "127.0.0.1:8081")]).unwrap();
    assert_eq!(s.consumer_name, "box-7:8081");
    let s = from(&[("LISTEN_ADDR", "127.0.0.1:8082")]).unwrap();
    assert!(
        s.consumer_name.ends_with(":8082") && s.consumer_name.len() > 5,
        "{}",
        s.consumer_name
    );
}

#[test]
fn empty_values_count_as_unset() {
    let s = from(&[
        ("HISTORY_WINDOW", ""),
        ("ROLE", "  "),
        ("WAHA_BASE_URL", ""),
        ("CHATWOOT_API_TOKEN", ""),
    ])
    .unwrap();
    assert_eq!(s.history_window, 20);
    assert_eq!(s.role, Role::All);
    assert!(s.waha.is_none() && s.chatwoot.is_none());
}

#[test]
fn values_are_parsed() {
    let mut vars = vec![
        ("LISTEN_ADDR", "127.0.0.1:8080"),
        ("ROLE", "Worker"),
        ("REDIS_URL", "redis://localhost:6379/2"),
        ("REDIS_KEY_PREFIX", "test-1:"),
        ("HISTORY_WINDOW", "50"),
        ("DEBOUNCE_MS", "0"),
        ("WAHA_BASE_URL", "http://waha:3000//"),
        ("WAHA_SESSION", "shop"),
        ("LLM_BASE_URL", "https://llm.example.com/v1/"),
        ("LLM_MODEL", "small-model"),
        ("SEND_PRESENCE", "no"),
        ("ALLOW_GROUPS", "YES"),
        ("LOG_FORMAT", "json"),
        ("WORKER_CONCURRENCY", "8"),
        ("HANDOFF_MESSAGE", "A colleague will reply soon."),
    ];
    vars.extend(CHATWOOT);
    let s = from(&vars).unwrap();
    assert_eq!(s.listen_addr.port(), 8080);
    assert_eq!(s.role, Role::Worker);
    assert_eq!(
        s.redis_url.as_ref().unwrap().expose_secret(),
        "redis://localhost:6379/2"
    );
    assert_eq!(s.redis_key_prefix, "test-1:");
    assert_eq!(s.history_window, 50);
    assert_eq!(s.debounce, Duration::ZERO);
    let waha = s.waha.as_ref().unwrap();
    assert_eq!(
        (waha.base_url.as_str(), waha.session.as_str()),
        ("http://waha:3000", "shop")
    );
    let llm = s.llm.as_ref().unwrap();
    assert_eq!(llm.base_url, "https://llm.example.com/v1");
    assert_eq!(llm.model.as_deref(), Some("small-model"));
    let cw = s.chatwoot.as_ref().unwrap();
    assert_eq!(
        (cw.base_url.as_str(), cw.account_id, cw.inbox_id),
        ("https://chatwoot.example.com", 3, 7)
    );
    assert!(!s.send_presence && s.allow_groups);
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.worker_concurrency, 8);
    assert_eq!(s.handoff_message, "A colleague will reply soon.");
}

#[test]
fn every_bad_value_names_its_variable() {
    let cases = [
        ("LISTEN_ADDR", "localhost"),
        ("ROLE", "both"),
        ("REDIS_URL", "http://redis:6379"),
        ("HISTORY_WINDOW", "abc"),
        ("HISTORY_WINDOW", "0"),
        ("HISTORY_WINDOW", "1001"),
        ("HISTORY_TTL_SECS", "59"),
        ("DEBOUNCE_MS", "60001"),
        ("DEBOUNCE_MS", "-1"),
        ("WAHA_BASE_URL", "waha:3000"),
        ("META_GRAPH_BASE_URL", "ftp://graph.example.com"),
        ("LLM_BASE_URL", "https://"),
        ("LLM_TIMEOUT_SECS", "0"),
        ("LLM_TIMEOUT_SECS", "601"),
        ("REPLY_MAX_CHARS", "99"),
        ("REPLY_MAX_CHARS", "4097"),
        ("SEND_PRESENCE", "maybe"),
        ("ALLOW_GROUPS", "2"),
        ("REQUIRE_SIGNATURES", "on"),
        ("LOG_FORMAT", "text"),
        ("WORKER_CONCURRENCY", "0"),
        ("WORKER_CONCURRENCY", "10001"),
    ];
    for (name, value) in cases {
        let e = err(&[(name, value)]);
        assert_eq!(e.variable, name, "{name}={value}: {e}");
        assert_eq!(e.origin.as_deref(), Some("environment"), "{e}");
        assert!(
            e.to_string().starts_with(&format!("{name} (environment): ")),
            "{e}"
        );
    }
    let e = err(&[("HISTORY_WINDOW", "abc")]);
    assert_eq!(
        e.to_string(),
        "HISTORY_WINDOW (environment): expected a whole number from 1 to 1000, got \"abc\""
    );
}

#[test]
fn redis_url_error_does_not_echo_the_value() {
    let e = err(&[("REDIS_URL", "http://user:hunter2@redis:6379")]);
    assert!(!e.to_string().contains("hunter2"), "{e}");
    for ok in [
        "redis://localhost",
        "rediss://:pw@host:6380/1",
        "unix:///run/redis.sock",
    ] {
        assert!(from(&[("REDIS_URL", ok)]).is_ok(), "{ok}");
    }
}

#[test]
fn chatwoot_ids_must_be_positive_integers() {
    let mut vars = CHATWOOT.to_vec();
    vars[2] = ("CHATWOOT_ACCOUNT_ID", "0");
    let e = err(&vars);
    assert_eq!(e.variable, "CHATWOOT_ACCOUNT_ID");
    assert!(e.reason.contains("positive whole number"), "{e}");
    vars[2] = ("CHATWOOT_ACCOUNT_ID", "3");
    vars[3] = ("CHATWOOT_INBOX_ID", "seven");
    assert_eq!(err(&vars).variable, "CHATWOOT_INBOX_ID");
}

#[test]
fn a_partial_chatwoot_group_names_the_missing_variables() {
    let e = err(&CHATWOOT[..2]);
    assert_eq!(e.variable, "CHATWOOT_ACCOUNT_ID, CHATWOOT_INBOX_ID");
    let e = err(&[CHATWOOT[3]]);
    assert!(
        e.to_string()
            .starts_with("CHATWOOT_BASE_URL, CHATWOOT_API_TOKEN, CHATWOOT_ACCOUNT_ID: ")
    );
    assert!(!err(&CHATWOOT[..3]).to_string().contains("cw-token-secret-1"));
}

#[test]
fn require_signatures_needs_the_waha_key() {
    let e = err(&[("REQUIRE_SIGNATURES", "true")]);
    assert_eq!(e.variable, "WAHA_WEBHOOK_HMAC_KEY");
    assert!(e.reason.contains("REQUIRE_SIGNATURES"), "{e}");
    assert!(from(&[("REQUIRE_SIGNATURES", "1"), ("WAHA_WEBHOOK_HMAC_KEY", "k")]).is_ok());
}

#[test]
fn require_signatures_needs_the_chatwoot_secret_when_chatwoot_is_on() {
    let mut vars = CHATWOOT.to_vec();
    vars.extend([("REQUIRE_SIGNATURES", "true"), ("WAHA_WEBHOOK_HMAC_KEY", "k")]);
    assert_eq!(err(&vars).variable, "CHATWOOT_WEBHOOK_SECRET");
    vars.push(("CHATWOOT_WEBHOOK_SECRET", "s"));
    assert!(from(&vars).is_ok());
}

#[test]
fn require_signatures_needs_the_meta_secret_when_meta_is_on() {
    let base = [("REQUIRE_SIGNATURES", "yes"), ("WAHA_WEBHOOK_HMAC_KEY", "k")];
    for meta in ["META_ACCESS_TOKEN", "META_VERIFY_TOKEN", "META_PHONE_NUMBER_ID"] {
        let mut vars = base.to_vec();
        vars.push((meta, "x"));
        assert_eq!(err(&vars).variable, "META_APP_SECRET", "{meta}");
        vars.push(("META_APP_SECRET", "s"));
        assert!(from(&vars).is_ok(), "{meta}");
    }
    let e = err(&[("REQUIRE_SIGNATURES", "true"), ("META_VERIFY_TOKEN", "v")]);
    assert_eq!(e.variable, "WAHA_WEBHOOK_HMAC_KEY, META_APP_SECRET");
}

#[test]
fn system_prompt_comes_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prompt.txt");
    std::fs::write(&path, "You sell cars.\n").unwrap();
    let s = from(&[("SYSTEM_PROMPT_FILE", path.to_str().unwrap())]).unwrap();
    assert_eq!(s.system_prompt, "You sell cars.");
    let s = from(&[("SYSTEM_PROMPT", "Be brief.")]).unwrap();
    assert_eq!(s.system_prompt, "Be brief.");
}

#[test]
fn system_prompt_file_errors_name_the_variable_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let missing = missing.to_str().unwrap();
    let e = err(&[("SYSTEM_PROMPT_FILE", missing)]);
    assert_eq!(e.variable, "SYSTEM_PROMPT_FILE");
    assert!(e.reason.contains(missing), "{e}");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, " \n").unwrap();
    let e = err(&[("SYSTEM_PROMPT_FILE", empty.to_str().unwrap())]);
    assert!(
        e.reason.contains("empty") && e.reason.contains("empty.txt"),
        "{e}"
    );
    let e = err(&[("SYSTEM_PROMPT", "a"), ("SYSTEM_PROMPT_FILE", "/etc/hostname")]);
    assert_eq!(e.variable, "SYSTEM_PROMPT, SYSTEM_PROMPT_FILE");
}

fn all_secrets() -> Vec<(&'static str, &'static str)> {
    let mut vars = CHATWOOT.to_vec();
    vars.extend([
        (
            "REDIS_URL",
            "redis://admin:redis-pass-2@redis.internal:6379/0?timeout=5",
        ),
        ("CHATWOOT_WEBHOOK_SECRET", "cw-hook-secret-3"),
        ("WAHA_BASE_URL", "http://waha:3000"),
        ("WAHA_API_KEY", "waha-key-secret-4"),
        ("WAHA_WEBHOOK_HMAC_KEY", "waha-hmac-secret-5"),
        ("META_ACCESS_TOKEN", "meta-token-secret-6"),
        ("META_PHONE_NUMBER_ID", "1234567890"),
        ("META_APP_SECRET", "meta-app-secret-7"),
        ("META_VERIFY_TOKEN", "meta-verify-secret-8"),
        ("LLM_BASE_URL", "https://llm.example.com/v1"),
        ("LLM_API_KEY", "llm-key-secret-9"),
        ("REQUIRE_SIGNATURES", "true"),
    ]);
    vars
}

#[test]
fn debug_and_summary_never_show_a_secret() {
    let vars = all_secrets();
    let s = from(&vars).unwrap();
    let printed = format!("{s:?}\n{}", s.summary());
    for secret in [
        "cw-token-secret-1",
        "redis-pass-2",
        "admin",
        "cw-hook",
        "waha-key",
        "waha-hmac",
        "meta-",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked");
    }
    for secret in ["meta-verify-secret-8", "llm-key-secret-9", "timeout=5"] {
        assert!(!printed.contains(secret), "{secret} leaked");
    }
}

#[test]
fn summary_describes_the_setup_in_one_line() {
    let s = from(&all_secrets()).unwrap();
    let line = s.summary();
    assert!(!line.contains('\n'));
    assert!(
        line.contains("store=redis(redis://redis.internal:6379/0, password hidden)"),
        "{line}"
    );
    assert!(line.contains("chatwoot=on(account 3, inbox 7)"), "{line}");
    assert!(line.contains("role=all listen=0.0.0.0:3000"), "{line}");
    let line = from(&[]).unwrap().summary();
    assert!(
        line.contains("store=embedded") && line.contains("llm=off(echo agent)"),
        "{line}"
    );
    assert!(line.contains("debounce_ms=1500 history_window=20"), "{line}");
    assert_eq!(redact_redis_url("redis://host:6379").0, "redis://host:6379");
}
