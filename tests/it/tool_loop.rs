//! The tool loop over HTTP with real Redis, a real MCP server (rmcp's server side on port 0) and the
//! fakes: an MCP tool's answer reaches the reply; a server that went down leaves the turn answering;
//! two calls of one step run concurrently; a tool timeout answers the model; `AGENT_MAX_STEPS` hands
//! the chat over; a customer message mid-loop gives one reply without repeating the tool.

use crate::mcp_support::dealer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_llm::{default_brain, last_is_user, tool_call, tool_results};
use crate::support::redis::RedisServer;
use crate::support::stack::{Fakes, fakes, vars};
use crate::support::waha_hooks::message;
use dealer::{Dealer, McpServer};
use serde_json::{Value, json};

const CHAT: &str = "31641238876@c.us";
const SLOTS: &str = "dealer__check_test_drive_slots";

struct World {
    _redis: RedisServer,
    f: Fakes,
    dealer: Dealer,
    mcp: Option<McpServer>,
    app: TestApp,
}

async fn world(extra: &[(&str, &str)]) -> World {
    let redis = RedisServer::start();
    let f = fakes().await;
    let dealer = Dealer::default();
    let mcp = dealer::start(dealer.clone(), false).await;
    let servers = format!("dealer={}", mcp.url());
    let mut all = vec![("MCP_SERVERS", servers.as_str())];
    all.extend_from_slice(extra);
    let app = spawn_app(&vars(&redis, &f, &all)).await;
    // The model quotes the tool results it was given.
    f.llm.set_brain(Arc::new(|request: &Value| {
        let results = tool_results(request);
        if results.is_empty() {
            default_brain(request)
        } else {
            format!("Gevonden: {}", results.join(" + "))
        }
    }));
    let w = World {
        _redis: redis,
        f,
        dealer,
        mcp: Some(mcp),
        app,
    };
    // The MCP server is listed in the background: wait until a turn would see its tools.
    assert!(
        eventually(Duration::from_secs(10), || w.dealer.lists() > 0).await,
        "the app listed the MCP server's tools"
    );
    w
}

async fn customer_says(w: &World, id: &str, text: &str) {
    let resp = w.app.post("/webhooks/waha", message(CHAT, id, text), &[]).await;
    assert_eq!(resp.status(), 200);
}

fn slots(id: &str, delay_ms: u64) -> Value {
    tool_call(id, SLOTS, json!({"date": "2026-12-05", "delay_ms": delay_ms}))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_tool_answers_through_the_agent_and_a_server_that_went_down_leaves_the_turn_answering() {
    let mut w = world(&[]).await;
    let offered = |request: &Value| request["tools"].to_string().contains(SLOTS);
    w.f.llm.set_tool_brain(Arc::new(move |request: &Value| {
        (last_is_user(request) && offered(request)).then(|| json!([slots("c1", 0)]))
    }));
    customer_says(&w, "MCP00001", "Kan ik zaterdag een proefrit maken?").await;
    assert!(w.f.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    assert!(offered(&w.f.llm.requests()[0]), "the MCP tool is offered");
    assert_eq!(
        w.f.waha.sent_to(CHAT)[0],
        "Gevonden: Free test-drive slots on 2026-12-05: 10:00, 14:30"
    );
    assert_eq!(w.dealer.calls(), vec!["check_test_drive_slots"]);

    w.mcp.take().unwrap().stop().await;
    customer_says(&w, "MCP00002", "En zondag?").await;
    assert!(
        w.f.waha.wait_for_sent(2, Duration::from_secs(15)).await,
        "the turn still answers"
    );
    let reply = w.f.waha.sent_to(CHAT)[1].clone();
    assert!(!reply.contains("10:00"), "{reply}");
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_calls_of_one_step_run_concurrently() {
    let w = world(&[]).await;
    w.f.llm.call_tools_next(vec![
        slots("c1", 1500),
        tool_call("c2", SLOTS, json!({"date": "2026-12-06", "delay_ms": 1500})),
    ]);
    customer_says(&w, "PAR00001", "Zaterdag of zondag?").await;
    assert!(w.f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let started = Instant::now();
    assert!(w.f.llm.wait_for_requests(2, Duration::from_secs(10)).await);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(2700),
        "{took:?}"
    );
    assert!(w.f.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    let reply = &w.f.waha.sent_to(CHAT)[0];
    assert!(
        reply.contains("2026-12-05") && reply.contains("2026-12-06"),
        "{reply}"
    );
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_that_times_out_answers_the_model_with_an_error() {
    let w = world(&[("TOOL_TIMEOUT_SECS", "1")]).await;
    w.f.llm
        .call_tools_next(vec![tool_call("c1", "dealer__slow_quote", json!({}))]);
    customer_says(&w, "SLOW0001", "Wat kost onderhoud?").await;
    assert!(w.f.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    let results = tool_results(&w.f.llm.requests()[1]);
    assert_eq!(
        results,
        vec!["error: the tool did not answer within 1 s".to_owned()]
    );
    assert_eq!(
        w.f.waha.sent_to(CHAT)[0],
        "Gevonden: error: the tool did not answer within 1 s"
    );
    // At least once: the recorder is process-wide, so other tests of this process may count too.
    let series = r#"wa_agent_tool_calls_total{tool="dealer__slow_quote",outcome="timeout"}"#;
    assert!(w.app.metric(series).await >= 1.0, "{series}");
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_keeps_calling_tools_is_handed_to_a_human_after_agent_max_steps() {
    let w = world(&[
        ("AGENT_MAX_STEPS", "2"),
        ("HANDOFF_MESSAGE", "Een collega helpt u verder."),
    ])
    .await;
    w.f.llm.set_tool_brain(Arc::new(|request: &Value| {
        let n = tool_results(request).len();
        Some(json!([slots(&format!("c{n}"), 0)]))
    }));
    customer_says(&w, "LOOP0001", "Proefrit?").await;
    let conv = eventually(Duration::from_secs(10), || {
        w.f.chatwoot.conversations().iter().any(|c| c["status"] == "open")
    })
    .await;
    assert!(conv, "handed over: {:?}", w.f.chatwoot.conversations());
    assert_eq!(w.f.llm.requests().len(), 2, "AGENT_MAX_STEPS model calls");
    let id = w.f.chatwoot.conversation_for_chat(CHAT).unwrap();
    let noted = eventually(Duration::from_secs(5), || {
        w.f.chatwoot.messages(id).iter().any(|m| {
            m["private"] == true
                && m["content"]
                    .as_str()
                    .is_some_and(|t| t.contains("AGENT_MAX_STEPS"))
        })
    })
    .await;
    assert!(noted, "{:?}", w.f.chatwoot.messages(id));
    assert!(
        w.f.waha.sent_to(CHAT).iter().all(|t| !t.contains("Gevonden")),
        "no draft reached the customer"
    );
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_message_mid_loop_gives_one_reply_and_the_tool_is_not_called_again() {
    let w = world(&[]).await;
    w.f.llm.set_tool_brain(Arc::new(|request: &Value| {
        last_is_user(request).then(|| json!([slots("c1", 1000)]))
    }));
    customer_says(&w, "MID00001", "Kan ik zaterdag een proefrit maken?").await;
    assert!(w.f.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    // The second message arrives while the tool call (1 s) runs.
    assert!(eventually(Duration::from_secs(10), || !w.dealer.calls().is_empty()).await);
    customer_says(&w, "MID00002", "Liefst 's ochtends.").await;
    assert!(w.f.waha.wait_for_sent(1, Duration::from_secs(15)).await);
    w.app.run_until_idle().await;
    let sent = w.f.waha.sent_to(CHAT);
    assert_eq!(sent.len(), 1, "one reply: {sent:?}");
    assert_eq!(
        w.dealer.calls(),
        vec!["check_test_drive_slots"],
        "the tool ran once"
    );
    assert_eq!(
        w.f.llm.requests().len(),
        4,
        "the superseded draft's two steps and the rerun's two"
    );
    let last = w.f.llm.requests().pop().unwrap();
    let users: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        users.contains(&"Liefst 's ochtends."),
        "the rerun answers both: {last}"
    );
    w.app.stop().await;
}
