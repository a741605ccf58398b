//! A newcomer's first run, as the README tells it: the binary started with exactly the settings
//! `scripts/run.sh` gives it (read from the script, so the two cannot drift), the log saying it runs
//! without Redis and with the echo agent, the README's WAHA webhook example posted to it, and the log
//! showing what the README promises: the echo agent's answer and the line saying it was logged instead
//! of sent. And `wa-agent healthcheck`, the image's health check,
//! against a running instance, a closed port, a server that is unwell and one that never answers.
//!
//! Every wait is for an event (the log line, `/health`), with a deadline; none is a fixed sleep.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use crate::support::proc::{Instance, run_command};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What `scripts/run.sh` runs: the defaults it exports and the arguments it passes to the binary.
struct RunScript {
    /// Each `export NAME="${NAME:-default}"`, as (NAME, default).
    defaults: Vec<(String, String)>,
    /// The words after `cargo run --release --`, without the caller's `"$@"`.
    args: Vec<String>,
}

/// Read `scripts/run.sh`; any `export` not in the `NAME="${NAME:-default}"` form fails the test, so
/// a setting the script adds cannot be silently left out here.
fn run_script() -> RunScript {
    let text = std::fs::read_to_string(format!("{ROOT}/scripts/run.sh")).unwrap();
    let mut defaults = Vec::new();
    let mut args = None;
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, value) = assignment.split_once('=').unwrap();
            let default = value
                .strip_prefix(&format!("\"${{{name}:-"))
                .and_then(|v| v.strip_suffix("}\""))
                .unwrap_or_else(|| panic!("scripts/run.sh:{n}: expected {name}=\"${{{name}:-…}}\": {line}"));
            defaults.push((name.to_owned(), default.to_owned()));
        } else if let Some(rest) = line.strip_prefix("exec cargo run") {
            let (_, words) = rest.split_once(" -- ").expect("`cargo run … -- ARGS`");
            args = Some(
                words
                    .split_whitespace()
                    .filter(|w| *w != "\"$@\"")
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    RunScript {
        defaults,
        args: args.expect("scripts/run.sh ends with `exec cargo run … -- ARGS`"),
    }
}

/// The JSON body of the README's WAHA webhook example (the `curl … /webhooks/waha … -d '…'`).
fn readme_waha_example() -> String {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    let curl = readme
        .find("curl -sS http://127.0.0.1:3000/webhooks/waha")
        .expect("README has the WAHA webhook curl example");
    let start = curl + readme[curl..].find("-d '").expect("its -d '…' body") + 4;
    let end = start + readme[start..].find('\'').expect("the body's closing quote");
    readme[start..end].to_owned()
}

/// A `RUST_LOG` directive's `wa_agent::path` must name a module that exists in `src/`.
fn assert_log_targets_exist(filter: &str) {
    for directive in filter.split(',') {
        let target = directive.split('=').next().unwrap_or_default();
        let Some(path) = target.strip_prefix("wa_agent::") else {
            continue;
        };
        let file = path.replace("::", "/");
        let exists = Path::new(&format!("{ROOT}/src/{file}.rs")).is_file()
            || Path::new(&format!("{ROOT}/src/{file}/mod.rs")).is_file();
        assert!(exists, "RUST_LOG names `{target}`, which is no module of src/");
    }
}

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn port_of(instance: &Instance) -> u16 {
    instance.url.rsplit(':').next().unwrap().parse().unwrap()
}

/// `wa-agent healthcheck` with this `LISTEN_ADDR`, off the async runtime: (exit code, output).
async fn healthcheck(listen: String) -> (i32, String) {
    tokio::task::spawn_blocking(move || run_command(&["healthcheck"], &[("LISTEN_ADDR", listen)]))
        .await
        .unwrap()
}

#[tokio::test]
async fn run_sh_settings_show_the_echo_text_the_readme_promises() {
    let script = run_script();
    assert_eq!(
        script.args,
        ["serve"],
        "Instance::start runs the default command, serve: follow scripts/run.sh here"
    );
    let rust_log = script.defaults.iter().find(|(k, _)| k == "RUST_LOG");
    let (_, filter) = rust_log.expect("scripts/run.sh sets a RUST_LOG default");
    assert_log_targets_exist(filter);
    let vars: Vec<(&str, String)> = script
        .defaults
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let instance = Instance::start(&vars);
    assert!(
        instance.wait_up(Duration::from_secs(30)).await,
        "not up:\n{}",
        instance.logs()
    );
    for said in [
        ("REDIS_URL is not set", "it runs without Redis"),
        ("LLM_BASE_URL is not set", "it runs the echo agent"),
    ] {
        assert!(
            instance.wait_log(said.0, Duration::from_secs(5)).await,
            "says {}:\n{}",
            said.1,
            instance.logs()
        );
    }

    let status = instance
        .post("/webhooks/waha", readme_waha_example().into_bytes())
        .await;
    assert_eq!(status, 200, "{}", instance.logs());
    let echo = "Echo: Is the BMW X5 from your advert still available?";
    assert!(
        instance.wait_log(echo, Duration::from_secs(20)).await,
        "the echo text is in the log:\n{}",
        instance.logs()
    );
    let logs = instance.logs();
    assert!(
        logs.contains("no gateway configured: reply logged, not sent"),
        "the log says it was logged instead of sent:\n{logs}"
    );
    assert!(
        logs.contains("31641238876@c.us"),
        "the log names the chat:\n{logs}"
    );
}

#[tokio::test]
async fn healthcheck_is_healthy_for_a_running_instance_on_either_address_form() {
    let instance = Instance::start(&[]);
    assert!(
        instance.wait_up(Duration::from_secs(30)).await,
        "{}",
        instance.logs()
    );
    let port = port_of(&instance);
    for listen in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
        let (code, out) = healthcheck(listen.clone()).await;
        assert_eq!(code, 0, "{listen}: {out}");
        assert_eq!(
            out,
            format!("healthy: http://127.0.0.1:{port}/health answered 200\n")
        );
    }
}

#[tokio::test]
async fn healthcheck_fails_in_one_line_on_a_closed_port() {
    let port = closed_port();
    let (code, out) = healthcheck(format!("0.0.0.0:{port}")).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "unhealthy: cannot connect to http://127.0.0.1:{port}/health: "
        )),
        "{out}"
    );
}

#[tokio::test]
async fn healthcheck_fails_when_health_is_not_200_or_never_comes() {
    let unwell = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = unwell.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "store down") }),
    );
    tokio::spawn(async move { axum::serve(unwell, app).await });
    let (code, out) = healthcheck(format!("127.0.0.1:{port}")).await;
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            format!("unhealthy: http://127.0.0.1:{port}/health answered 503 Service Unavailable\n").as_str()
        )
    );

    // Accepted by the kernel (the backlog), never answered: the timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let (code, out) = healthcheck(format!("127.0.0.1:{port}")).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not answer within 3 s"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[test]
fn healthcheck_says_which_setting_is_wrong_and_has_help() {
    let (code, out) = run_command(&["healthcheck"], &[("LISTEN_ADDR", "not an address".to_owned())]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("LISTEN_ADDR"), "{out}");
    let (code, out) = run_command(&["healthcheck", "--help"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Exit status: 0 when /health answered 200"), "{out}");
}

/// The image checks itself with the binary, not curl: the Dockerfile's runtime stage (the last
/// `FROM`) and the compose example both call `wa-agent healthcheck`, and nothing installs curl.
/// (No container engine here can pull the base images; see the README's dependency section.)
#[test]
fn the_image_and_the_compose_example_check_health_with_the_binary() {
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    let runtime = &dockerfile[dockerfile.rfind("\nFROM ").expect("a FROM")..];
    assert!(
        runtime.contains(r#"CMD ["/usr/local/bin/wa-agent", "healthcheck"]"#),
        "{runtime}"
    );
    assert!(!uses_curl(&dockerfile), "no curl in the image:\n{dockerfile}");
    assert!(
        dockerfile.contains("cargo chef prepare") && dockerfile.contains("cargo chef cook"),
        "the dependency layer is cargo-chef's"
    );
    let compose = std::fs::read_to_string(format!("{ROOT}/docker-compose.example.yml")).unwrap();
    assert!(
        compose.contains(r#"test: ["CMD", "/usr/local/bin/wa-agent", "healthcheck"]"#),
        "{compose}"
    );
    assert!(!uses_curl(&compose), "{compose}");
}

/// Whether a line that is not a comment names curl.
fn uses_curl(text: &str) -> bool {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.contains("curl"))
}
