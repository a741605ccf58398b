//! The settings layers through the public API: defaults < settings file < environment, errors that
//! name the setting, its layer and the file's line, the MCP server list, and `.env` for local runs
//! (through the built binary, since only `main` reads it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::proc::run_in;
use secrecy::ExposeSecret;
use wa_agent::config::{ConfigError, Settings, config_file_path};

/// Write `text` as `wa-agent.toml` in a fresh directory.
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa-agent.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load(vars: &[(&str, &str)], path: Option<&Path>) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::load(|k| map.get(k).cloned(), path)
}

#[test]
fn the_environment_wins_over_the_file_which_wins_over_the_defaults() {
    let (_dir, path) =
        file("history_window = 30\ndebounce_ms = 200\nrole = \"api\"\nsend_presence = false\n");
    let s = load(&[("HISTORY_WINDOW", "40")], Some(&path)).unwrap();
    assert_eq!(s.history_window, 40, "environment over file");
    assert_eq!(s.debounce, Duration::from_millis(200), "file over default");
    assert_eq!(s.role, wa_agent::config::Role::Api);
    assert!(!s.send_presence, "a TOML boolean is read");
    assert_eq!(s.reply_max_chars, 1000, "default where neither sets it");
}

#[test]
fn an_empty_variable_counts_as_unset_and_keeps_the_file_value() {
    let (_dir, path) = file("history_window = 30\nllm_base_url = \"http://llm.local/v1/\"\n");
    let s = load(&[("HISTORY_WINDOW", ""), ("LLM_BASE_URL", "  ")], Some(&path)).unwrap();
    assert_eq!(s.history_window, 30);
    assert_eq!(s.llm.unwrap().base_url, "http://llm.local/v1");
    let s = load(&[("HISTORY_WINDOW", "")], None).unwrap();
    assert_eq!(s.history_window, 20);
}

#[test]
fn a_bad_value_in_the_file_is_named_with_its_line() {
    let (_dir, path) = file("# settings\nrole = \"all\"\nhistory_window = 0\n");
    let e = load(&[], Some(&path)).unwrap_err();
    assert_eq!(e.variable, "history_window");
    assert_eq!(e.origin.as_deref(), Some(&*format!("{} line 3", path.display())));
    assert_eq!(
        e.to_string(),
        format!(
            "history_window ({} line 3): expected a whole number from 1 to 1000, got \"0\"",
            path.display()
        )
    );
    // The same value from the environment names the variable and its layer.
    let e = load(&[("HISTORY_WINDOW", "0")], Some(&path)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "HISTORY_WINDOW (environment): expected a whole number from 1 to 1000, got \"0\""
    );
    // A value the environment fixes is not an error.
    assert!(load(&[("HISTORY_WINDOW", "5")], Some(&path)).is_ok());
    let (_dir, path) = file("history_window = [1, 2]\n");
    let e = load(&[], Some(&path)).unwrap_err();
    assert!(
        e.to_string().contains("line 1") && e.reason.contains("single value"),
        "{e}"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_refused_with_its_line() {
    let (_dir, path) = file("history_window = 30\n\nhistory_windwo = 40\n");
    let e = load(&[], Some(&path)).unwrap_err();
    assert_eq!(e.variable, "history_windwo");
    assert!(e.origin.as_deref().unwrap().ends_with("line 3"), "{e}");
    assert!(e.reason.contains("unknown setting"), "{e}");
    let (_dir, path) = file("HISTORY_WINDOW = 30\n");
    let e = load(&[], Some(&path)).unwrap_err();
    assert!(e.reason.contains("lower-case: history_window"), "{e}");
    for env_only in [
        "config_file = \"x.toml\"\n",
        "rust_log = \"debug\"\n",
        "[chatwoot]\nbase_url = \"x\"\n",
    ] {
        let (_dir, path) = file(env_only);
        assert!(load(&[], Some(&path)).is_err(), "{env_only}");
    }
}

#[test]
fn a_toml_syntax_error_names_the_file_and_line() {
    let (_dir, path) = file("role = \"all\"\nhistory_window = \n");
    let e = load(&[], Some(&path)).unwrap_err();
    assert_eq!(e.variable, "CONFIG_FILE");
    assert!(
        e.to_string().contains("line 2") && e.reason.contains("not valid TOML"),
        "{e}"
    );
}

#[test]
fn the_settings_file_is_found_or_its_absence_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(config_file_path(&|_: &str| None, dir.path()).unwrap(), None);
    std::fs::write(dir.path().join("wa-agent.toml"), "history_window = 3\n").unwrap();
    assert_eq!(
        config_file_path(&|_: &str| None, dir.path()).unwrap(),
        Some(dir.path().join("wa-agent.toml"))
    );
    let e = config_file_path(
        &|k: &str| (k == "CONFIG_FILE").then(|| "missing.toml".into()),
        dir.path(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "CONFIG_FILE (environment): no such file \"missing.toml\""
    );
    let empty = config_file_path(&|k: &str| (k == "CONFIG_FILE").then(String::new), dir.path());
    assert!(empty.unwrap().is_some(), "an empty CONFIG_FILE counts as unset");
}

#[test]
fn mcp_servers_from_the_file_and_the_environment_merge() {
    let (_dir, path) = file(
        "[[mcp_servers]]\nname = \"crm\"\nurl = \"https://crm.example.com/mcp\"\n\
         headers = { Authorization = \"Bearer crm-secret-1\" }\n\n\
         [[mcp_servers]]\nname = \"docs\"\nurl = \"https://docs.example.com/mcp/\"\n",
    );
    let s = load(
        &[(
            "MCP_SERVERS",
            "crm=http://crm.internal/mcp, stock=http://stock:8080",
        )],
        Some(&path),
    )
    .unwrap();
    let got: Vec<(&str, &str, usize)> = s
        .mcp_servers
        .iter()
        .map(|m| (m.name.as_str(), m.url.as_str(), m.headers.len()))
        .collect();
    assert_eq!(
        got,
        [
            ("crm", "http://crm.internal/mcp", 1),
            ("docs", "https://docs.example.com/mcp", 0),
            ("stock", "http://stock:8080", 0)
        ]
    );
    let (name, value) = &s.mcp_servers[0].headers[0];
    assert_eq!(
        (name.as_str(), value.expose_secret()),
        ("Authorization", "Bearer crm-secret-1")
    );
    assert!(
        !format!("{s:?}").contains("crm-secret-1"),
        "header values are secrets"
    );
    // The file may hold the list form too.
    let (_dir, path) = file("mcp_servers = \"a=http://a, b=http://b\"\n");
    assert_eq!(load(&[], Some(&path)).unwrap().mcp_servers.len(), 2);
}

#[test]
fn bad_mcp_servers_are_refused_naming_where() {
    for (list, why) in [
        ("crm", "name=url"),
        ("CRM=http://x", "not allowed"),
        ("a=http://x,a=http://y", "twice"),
        ("a=ftp://x", "http://"),
    ] {
        let e = load(&[("MCP_SERVERS", list)], None).unwrap_err();
        assert_eq!(e.variable, "MCP_SERVERS", "{list}");
        assert_eq!(e.origin.as_deref(), Some("environment"));
        assert!(e.reason.contains(why), "{list}: {e}");
    }
    let (_dir, path) = file(
        "[[mcp_servers]]\nname = \"a\"\nurl = \"http://a\"\n\n[[mcp_servers]]\nname = \"a\"\nurl = \"http://b\"\n",
    );
    let e = load(&[], Some(&path)).unwrap_err();
    assert!(
        e.to_string().contains("line 5") && e.reason.contains("twice"),
        "{e}"
    );
    let (_dir, path) = file("[[mcp_servers]]\nname = \"a\"\nurl = \"http://a\"\ntoken = \"t\"\n");
    let e = load(&[], Some(&path)).unwrap_err();
    assert_eq!(e.variable, "mcp_servers.token");
    assert!(e.to_string().contains("line 4"), "{e}");
    let (_dir, path) =
        file("[[mcp_servers]]\nname = \"a\"\nurl = \"http://a\"\nheaders = { \"Bad Header\" = \"v\" }\n");
    assert!(load(&[], Some(&path)).unwrap_err().reason.contains("header name"));
}

#[test]
fn an_unknown_time_zone_is_refused() {
    let e = load(&[("TIMEZONE", "Europe/Amsterdamm")], None).unwrap_err();
    assert_eq!(e.variable, "TIMEZONE");
    assert!(
        e.reason.contains("IANA time zone") && e.reason.contains("Europe/Amsterdamm"),
        "{e}"
    );
    let (_dir, path) = file("timezone = \"Asia/Tokyo\"\nlegacy_timezone = \"Nowhere/City\"\n");
    let e = load(&[], Some(&path)).unwrap_err();
    assert_eq!(e.variable, "legacy_timezone");
    assert!(e.to_string().contains("line 2"), "{e}");
    let s = load(&[("LEGACY_TIMEZONE", "Europe/London")], Some(&path)).unwrap();
    assert_eq!(s.timezone.iana_name(), Some("Asia/Tokyo"));
    assert_eq!(s.legacy_timezone.iana_name(), Some("Europe/London"));
}

#[test]
fn from_vars_reads_variables_only() {
    let (dir, _path) = file("history_window = 30\n");
    // Even with a wa-agent.toml in the working directory of a test, from_vars ignores files.
    let s = Settings::from_vars(|k| {
        (k == "CONFIG_FILE").then(|| dir.path().join("wa-agent.toml").display().to_string())
    })
    .unwrap();
    assert_eq!(s.history_window, 20);
}

#[test]
fn dot_env_is_read_by_the_binary_without_overriding_real_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "HISTORY_WINDOW=lots\nWAHA_SESSION=from-dotenv\n",
    )
    .unwrap();
    let ran = run_in(dir.path(), &["check"], &[]);
    assert_eq!(
        ran.code, 2,
        "the .env value is read:\n{}{}",
        ran.stdout, ran.stderr
    );
    assert!(
        ran.stdout.contains("HISTORY_WINDOW (environment): expected"),
        "{}",
        ran.stdout
    );
    let ran = run_in(dir.path(), &["check"], &[("HISTORY_WINDOW", "30".into())]);
    assert_eq!(
        ran.code, 0,
        "the real variable wins:\n{}{}",
        ran.stdout, ran.stderr
    );
    // And the file layer works from the working directory, under the environment.
    std::fs::write(dir.path().join(".env"), "").unwrap();
    std::fs::write(dir.path().join("wa-agent.toml"), "history_window = 0\n").unwrap();
    let ran = run_in(dir.path(), &["check"], &[]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stdout.contains("history_window (wa-agent.toml line 1)"),
        "{}",
        ran.stdout
    );
    let ran = run_in(dir.path(), &["check"], &[("HISTORY_WINDOW", "9".into())]);
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert!(
        ran.stdout.contains("environment over wa-agent.toml"),
        "{}",
        ran.stdout
    );
}
