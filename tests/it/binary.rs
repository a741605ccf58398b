//! The real binary on its embedded defaults, driven the way the README tells a person to.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The JSON body of the README's curl example.
fn readme_example_body() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("-d '").expect("README has a curl -d example") + 4;
    let end = start + readme[start..].find('\'').expect("closing quote");
    readme[start..end].to_owned()
}

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
fn embedded_defaults_answer_the_readme_example_with_the_echo_agent() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wa-agent"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info,wa_agent::channel=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.contains("listening") && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            log.push_str(&l);
            log.push('\n');
        }
    }
    assert!(
        log.contains("REDIS_URL is not set"),
        "says it runs without Redis:\n{log}"
    );
    assert!(
        log.contains("LLM_BASE_URL is not set"),
        "says it runs the echo agent:\n{log}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let resp = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/webhooks/waha"))
            .header("Content-Type", "application/json")
            .body(readme_example_body())
            .send()
            .await
            .unwrap()
    });
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !log.contains("unsent reply") && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            log.push_str(&l);
            log.push('\n');
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        log.contains("reply logged, not sent"),
        "the log says the reply was not sent:\n{log}"
    );
    assert!(
        log.contains("Echo: Is the BMW X5 from your advert still available?"),
        "echo answer in the log:\n{log}"
    );
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
