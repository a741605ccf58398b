//! The command line of the built binary: `--help` everywhere with an empty environment (no settings
//! read, nothing connected), secrets never shown, usage errors exit 2, and operator commands keep their
//! report on stdout and their logs on stderr.

use crate::support::proc::run_in;
use crate::support::redis::RedisServer;

fn here() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn every_command_has_help_with_an_empty_environment() {
    let dir = here();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["dlq", "--help"],
        &["dlq", "list", "--help"],
        &["dlq", "replay", "--help"],
        &["check", "--help"],
        &["healthcheck", "--help"],
        &["help", "dlq"],
    ] {
        let ran = run_in(dir.path(), args, &[]);
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
        assert!(ran.stdout.contains("Usage: wa-agent"), "{args:?}: {}", ran.stdout);
        assert!(ran.stderr.is_empty(), "{args:?} logs nothing: {}", ran.stderr);
    }
    for (args, status) in [
        (&["migrate", "--help"][..], "Exit status: 0 once the keyspace"),
        (
            &["dlq", "replay", "--help"],
            "Exit status: 0 ok; 1 when the store failed",
        ),
        (
            &["check", "--help"],
            "Exit status: 0 when nothing failed; 1 on any ✗; 2",
        ),
        (&["serve", "--help"], "Exit status: 0 after a clean shutdown"),
        (
            &["healthcheck", "--help"],
            "Exit status: 0 when /health answered 200; 1 otherwise; 2",
        ),
    ] {
        let ran = run_in(dir.path(), args, &[]);
        assert!(ran.stdout.contains(status), "{args:?}:\n{}", ran.stdout);
    }
    let top = run_in(dir.path(), &["--help"], &[]);
    for command in ["serve", "migrate", "dlq", "check", "healthcheck"] {
        assert!(
            top.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "--help lists the {command} command:\n{}",
            top.stdout
        );
    }
}

#[test]
fn dlq_help_never_connects_even_with_redis_configured() {
    // A Redis URL that would hang or fail if anything tried to connect, and bad settings besides.
    let vars = [
        ("REDIS_URL", "redis://10.255.255.1:6379".to_owned()),
        ("HISTORY_WINDOW", "not a number".to_owned()),
    ];
    let started = std::time::Instant::now();
    let ran = run_in(here().path(), &["dlq", "--help"], &vars);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("replay") && ran.stdout.contains("list"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn help_lists_every_setting_and_hides_secret_values() {
    let dir = here();
    let secrets = [
        ("CHATWOOT_API_TOKEN", "cw-token-secret-1"),
        ("LLM_API_KEY", "llm-key-secret-2"),
        ("REDIS_URL", "redis://:redis-pass-3@localhost:6379"),
        ("META_APP_SECRET", "meta-secret-4"),
        ("CONFIG_FILE", "/secret/path-5.toml"),
        ("MCP_SERVERS", "crm=http://crm-6"),
    ];
    let vars: Vec<(&str, String)> = secrets.iter().map(|(k, v)| (*k, v.to_string())).collect();
    for args in [&["--help"][..], &["serve", "--help"], &["-h"]] {
        let ran = run_in(dir.path(), args, &vars);
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
        for s in wa_agent::config::SETTINGS {
            assert!(ran.stdout.contains(s.name), "{args:?} lacks {}", s.name);
        }
        assert!(ran.stdout.contains("(default: 0.0.0.0:3000)") && ran.stdout.contains("(default: 1500)"));
        for (_, value) in secrets {
            assert!(!ran.stdout.contains(value), "{args:?} shows {value}");
        }
    }
}

#[test]
fn bad_usage_exits_2() {
    let dir = here();
    for args in [
        &["launch"][..],
        &["dlq"],
        &["dlq", "replay"],
        &["dlq", "replay", "abc", "--all"],
        &["check", "--verbose"],
    ] {
        let ran = run_in(dir.path(), args, &[]);
        assert_eq!(ran.code, 2, "{args:?}: {}{}", ran.stdout, ran.stderr);
        assert!(ran.stderr.contains("Usage"), "{args:?}: {}", ran.stderr);
    }
    let ran = run_in(dir.path(), &["--version"], &[]);
    assert_eq!(ran.code, 0);
    assert!(ran.stdout.starts_with("wa-agent "));
}

#[test]
fn bad_settings_exit_2_naming_the_setting() {
    let dir = here();
    for args in [&[][..], &["migrate"], &["dlq", "list"], &["check"]] {
        let ran = run_in(dir.path(), args, &[("SHUTDOWN_GRACE_SECS", "0".into())]);
        assert_eq!(ran.code, 2, "{args:?}");
        let said = format!("{}{}", ran.stdout, ran.stderr);
        assert!(
            said.contains("SHUTDOWN_GRACE_SECS (environment): expected"),
            "{args:?}: {said}"
        );
    }
    let ran = run_in(dir.path(), &["migrate"], &[]);
    assert_eq!(ran.code, 2, "migrate without REDIS_URL is a settings error");
    assert!(ran.stderr.contains("REDIS_URL is not set"));
    let ran = run_in(dir.path(), &["check"], &[("CONFIG_FILE", "missing.toml".into())]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stdout
            .contains("✗ settings: CONFIG_FILE (environment): no such file"),
        "{}",
        ran.stdout
    );
}

#[test]
fn migrate_reports_on_stdout_and_logs_on_stderr() {
    let redis = RedisServer::start();
    let vars = [
        ("REDIS_URL", redis.url()),
        ("RUST_LOG", "info".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
    ];
    let ran = run_in(here().path(), &["migrate"], &vars);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let report: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(report.len(), 1, "only the report on stdout:\n{}", ran.stdout);
    assert!(report[0].starts_with("wa-agent migrate: "), "{}", ran.stdout);
    assert!(!ran.stdout.contains("\"level\""), "no log line on stdout");
    assert!(
        ran.stderr
            .lines()
            .any(|l| l.starts_with('{') && l.contains("\"level\":\"INFO\"")),
        "the logs are on stderr:\n{}",
        ran.stderr
    );
    let ran = run_in(here().path(), &["dlq", "list"], &vars);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), "0 dead letter(s)");
}
