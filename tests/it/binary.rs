//! The real binary's face to a person: `--help` lists every setting with its default, a bad setting
//! stops start-up naming the variable, and every metric has its row in the README. The first run on
//! the embedded defaults (the README's example answered by the echo agent, with `scripts/run.sh`'s
//! `RUST_LOG` read from the script) is `first_run`'s.

use std::process::Command;

#[test]
fn help_lists_every_setting_with_its_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_wa-agent"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for s in wa_agent::config::SETTINGS {
        assert!(text.contains(s.name), "--help lacks {}", s.name);
    }
    assert!(text.contains("0.0.0.0:3000") && text.contains("1500"));
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_wa-agent"))
        .env_clear()
        .env("HISTORY_WINDOW", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HISTORY_WINDOW"));
}

#[test]
fn every_metric_is_in_the_readme_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (name, _, _) in wa_agent::telemetry::METRICS {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README lacks metric {name}"
        );
    }
}
