//! MCP servers as a tool source, against a real rmcp server over streamable HTTP on real sockets.

use crate::mcp_support::dealer;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dealer::{Dealer, McpServer, TOKEN};
use secrecy::SecretString;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::fmt::MakeWriter;
use wa_agent::agent::tools::mcp::{McpOptions, McpServerConfig, McpTools, RESULT_MAX_CHARS, ToolError};

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Short intervals so loss and return show within a second or two; the refresh stays at 5 minutes so
/// a new tool can only come from the `list_changed` notification.
fn fast() -> McpOptions {
    McpOptions {
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(400),
        refresh_every: Duration::from_secs(300),
        health_every: Duration::from_millis(200),
        request_timeout: Duration::from_secs(2),
    }
}

fn config(url: String, headers: Vec<(&str, &str)>) -> McpServerConfig {
    let headers = headers
        .into_iter()
        .map(|(k, v)| (k.to_owned(), SecretString::from(v.to_owned())));
    McpServerConfig {
        name: "dealer".into(),
        url,
        headers: headers.collect(),
    }
}

async fn connected(server: &McpServer) -> McpTools {
    let tools = McpTools::start(
        vec![config(server.url(), vec![])],
        fast(),
        CancellationToken::new(),
    );
    tools.settle(Duration::from_secs(5)).await;
    assert!(tools.status()[0].reachable, "{:?}", tools.status());
    tools
}

fn offered(tools: &McpTools) -> Vec<String> {
    tools
        .definitions()
        .iter()
        .map(|d| d["function"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn eventually(what: &str, within: Duration, check: impl Fn() -> bool) {
    assert!(
        crate::support::app::eventually(within, check).await,
        "not within {within:?}: {what}"
    );
}

/// Log lines written while the guard lives (current-thread runtime: the supervisors log here too).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("wa_agent=debug")
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn calls_counted(tool: &str, outcome: &str) -> u64 {
    let rendered = wa_agent::telemetry::metrics_handle().render();
    let (tool, outcome) = (format!("tool=\"{tool}\""), format!("outcome=\"{outcome}\""));
    rendered
        .lines()
        .filter(|l| l.starts_with("wa_agent_tool_calls_total{") && l.contains(&tool) && l.contains(&outcome))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn offers_the_servers_tools_and_returns_a_calls_text() {
    let server = dealer::start(Dealer::default(), false).await;
    let tools = connected(&server).await;

    let defs = tools.definitions();
    let slots = defs
        .iter()
        .find(|d| d["function"]["name"] == "dealer__check_test_drive_slots");
    let slots = slots.unwrap_or_else(|| panic!("not offered: {defs:?}"));
    assert_eq!(slots["type"], "function");
    assert_eq!(
        slots["function"]["description"],
        "Free test-drive slots on a date."
    );
    assert_eq!(slots["function"]["parameters"]["required"], json!(["date"]));
    assert_eq!(tools.status()[0].tools, offered(&tools));
    assert!(tools.offers("dealer__check_test_drive_slots"));

    let before = calls_counted("dealer__check_test_drive_slots", "ok");
    let answer = tools
        .call(
            "dealer__check_test_drive_slots",
            r#"{"date":"2026-12-03"}"#,
            CALL_TIMEOUT,
        )
        .await;
    assert_eq!(
        answer.unwrap(),
        "Free test-drive slots on 2026-12-03: 10:00, 14:30"
    );
    assert_eq!(calls_counted("dealer__check_test_drive_slots", "ok"), before + 1);
    let rendered = wa_agent::telemetry::metrics_handle().render();
    assert!(
        rendered.contains("wa_agent_tool_duration_seconds_count{tool=\"dealer__check_test_drive_slots\"}")
    );
    server.stop().await;
}

#[tokio::test]
async fn error_results_timeouts_and_bad_calls_become_tool_errors() {
    let server = dealer::start(Dealer::default(), false).await;
    let tools = connected(&server).await;

    let before = calls_counted("dealer__book_service", "error");
    let failed = tools
        .call("dealer__book_service", "{}", CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        failed,
        ToolError::Failed("the workshop calendar is offline".into())
    );
    assert_eq!(calls_counted("dealer__book_service", "error"), before + 1);

    let start = Instant::now();
    let late = tools
        .call("dealer__slow_quote", "", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        late,
        ToolError::Timeout {
            after: Duration::from_millis(300)
        }
    );
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(late.to_string(), "the tool did not answer within 0.3 s");

    let unknown = tools
        .call("dealer__sell_car", "{}", CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(unknown, ToolError::UnknownTool("dealer__sell_car".into()));
    let bad = tools
        .call("dealer__check_test_drive_slots", "[1]", CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(bad, ToolError::InvalidArguments(_)), "{bad:?}");
    // The server stays usable after all of that.
    let ok = tools
        .call(
            "dealer__check_test_drive_slots",
            r#"{"date":"2026-12-04"}"#,
            CALL_TIMEOUT,
        )
        .await;
    assert!(ok.unwrap().contains("2026-12-04"));
    server.stop().await;
}

#[tokio::test]
async fn configured_headers_reach_the_server_and_a_refused_server_is_down() {
    let (logs, _guard) = Logs::capture();
    let server = dealer::start(Dealer::default(), true).await;
    let bearer = format!("Bearer {TOKEN}");
    let with = McpTools::start(
        vec![config(server.url(), vec![("Authorization", &bearer)])],
        fast(),
        CancellationToken::new(),
    );
    let without = McpTools::start(
        vec![config(server.url(), vec![])],
        fast(),
        CancellationToken::new(),
    );
    with.settle(Duration::from_secs(5)).await;
    without.settle(Duration::from_secs(5)).await;

    assert!(with.status()[0].reachable, "{:?}", with.status());
    let answer = with
        .call(
            "dealer__check_test_drive_slots",
            r#"{"date":"2026-12-05"}"#,
            CALL_TIMEOUT,
        )
        .await;
    assert!(answer.unwrap().contains("2026-12-05"));

    let down = &without.status()[0];
    assert!(!down.reachable && down.tools.is_empty(), "{down:?}");
    assert!(
        down.error.as_deref().is_some_and(|e| e.contains("401")),
        "{down:?}"
    );
    assert!(without.definitions().is_empty());
    let refused = without
        .call("dealer__check_test_drive_slots", "{}", CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(refused.outcome(), "unknown");
    assert!(
        !logs.text().contains(TOKEN),
        "the token reached the log:\n{}",
        logs.text()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_server_down_at_start_is_offered_once_it_comes_up() {
    let (logs, _guard) = Logs::capture();
    let reserved = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let tools = McpTools::start(
        vec![config(format!("http://{addr}/mcp"), vec![])],
        fast(),
        CancellationToken::new(),
    );
    tools.settle(Duration::from_secs(5)).await;
    let down = &tools.status()[0];
    assert!(!down.reachable && down.error.is_some(), "{down:?}");
    assert!(tools.definitions().is_empty());
    assert!(logs.text().contains("MCP server unreachable"), "{}", logs.text());
    assert!(logs.text().contains("WARN"), "{}", logs.text());

    let server = dealer::serve(TcpListener::bind(addr).await.unwrap(), Dealer::default(), false);
    eventually("offered after the server came up", Duration::from_secs(5), || {
        offered(&tools).contains(&"dealer__check_test_drive_slots".to_owned())
    })
    .await;
    let answer = tools
        .call(
            "dealer__check_test_drive_slots",
            r#"{"date":"2026-12-06"}"#,
            CALL_TIMEOUT,
        )
        .await;
    assert!(answer.unwrap().contains("2026-12-06"));
    server.stop().await;
}

#[tokio::test]
async fn a_server_lost_later_drops_out_and_comes_back() {
    let (logs, _guard) = Logs::capture();
    let server = dealer::start(Dealer::default(), false).await;
    let addr = server.addr;
    let tools = connected(&server).await;

    server.stop().await;
    eventually(
        "withdrawn after the server stopped",
        Duration::from_secs(5),
        || tools.definitions().is_empty(),
    )
    .await;
    assert!(logs.text().contains("MCP server lost"), "{}", logs.text());
    let down = tools
        .call("dealer__check_test_drive_slots", "{}", CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        down,
        ToolError::UnknownTool("dealer__check_test_drive_slots".into())
    );

    let server = dealer::serve(TcpListener::bind(addr).await.unwrap(), Dealer::default(), false);
    eventually("offered again", Duration::from_secs(5), || {
        tools.offers("dealer__check_test_drive_slots")
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_call_to_a_vanished_server_is_unavailable_and_withdraws_it_at_once() {
    let server = dealer::start(Dealer::default(), false).await;
    // No periodic ping: only the failed call can reveal the loss.
    let slow_probe = McpOptions {
        health_every: Duration::from_secs(300),
        ..fast()
    };
    let tools = McpTools::start(
        vec![config(server.url(), vec![])],
        slow_probe,
        CancellationToken::new(),
    );
    tools.settle(Duration::from_secs(5)).await;
    assert!(tools.offers("dealer__check_test_drive_slots"));

    server.stop().await;
    let before = calls_counted("dealer__check_test_drive_slots", "unavailable");
    let failed = tools
        .call("dealer__check_test_drive_slots", "{}", CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        failed,
        ToolError::Unavailable {
            server: "dealer".into()
        }
    );
    assert_eq!(
        failed.to_string(),
        "the dealer tool server cannot be reached right now"
    );
    assert_eq!(
        calls_counted("dealer__check_test_drive_slots", "unavailable"),
        before + 1
    );
    eventually("withdrawn after the failed call", Duration::from_secs(2), || {
        tools.definitions().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_tool_added_later_is_offered_on_list_changed() {
    let dealer = Dealer::default();
    let server = dealer::start(dealer.clone(), false).await;
    let tools = connected(&server).await;
    assert!(!tools.offers("dealer__trade_in_value"));

    dealer.add_tool("trade_in_value", "Estimate a trade-in.").await;
    eventually("the new tool offered", Duration::from_secs(3), || {
        tools.offers("dealer__trade_in_value")
    })
    .await;
    let value = tools
        .call("dealer__trade_in_value", "", CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(value, "Trade-in value: 12 500 EUR");
    server.stop().await;
}

#[tokio::test]
async fn a_long_result_is_cut_with_a_marker() {
    let server = dealer::start(Dealer::default(), false).await;
    let tools = connected(&server).await;

    let brochure = tools.call("dealer__brochure", "{}", CALL_TIMEOUT).await.unwrap();
    let (kept, marker) = brochure.split_once('\n').unwrap();
    assert_eq!(kept, "é".repeat(RESULT_MAX_CHARS));
    // 5,000 characters of text, a line break and `[image]`.
    assert_eq!(
        marker,
        "[cut: the result had 5008 characters; only the first 4000 are shown]"
    );
    server.stop().await;
}
