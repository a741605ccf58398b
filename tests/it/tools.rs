//! The agent's built-in and catalogue tools over HTTP, with real Redis and the fakes: a catalogue
//! lookup quoted in the reply and remembered in the next prompt; `update_contact` against a fake
//! Chatwoot that merges contact attributes and replaces label lists as the real one does.

use crate::support;

use std::io::Write;
use std::time::Duration;

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_llm::{FakeLlm, tool_call, tool_results};
use crate::support::redis::RedisServer;
use crate::support::stack::{Fakes, fakes, vars};
use crate::support::waha_hooks::message;
use serde_json::{Value, json};

const CHAT: &str = "31641238876@c.us";

struct World {
    _redis: RedisServer,
    f: Fakes,
    app: TestApp,
}

async fn world(extra: &[(&str, &str)]) -> World {
    let redis = RedisServer::start();
    let f = fakes().await;
    let app = spawn_app(&vars(&redis, &f, extra)).await;
    World {
        _redis: redis,
        f,
        app,
    }
}

async fn customer_says(w: &World, id: &str, text: &str) {
    let resp = w.app.post("/webhooks/waha", message(CHAT, id, text), &[]).await;
    assert_eq!(resp.status(), 200);
}

/// The model quotes the last tool result it was given, or says what it was asked.
fn quoting_brain(llm: &FakeLlm) {
    llm.set_brain(std::sync::Arc::new(|request: &Value| {
        match tool_results(request).last() {
            Some(result) => format!("Gevonden: {result}"),
            None => support::fake_llm::default_brain(request),
        }
    }));
}

/// Every system message of a request (the leading prompt and the changing tail), joined: the
/// customer's profile lives in the tail.
fn system_prompt(request: &Value) -> String {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_catalogue_lookup_is_quoted_in_the_reply_and_remembered_in_the_next_prompt() {
    let mut csv = tempfile::NamedTempFile::new().unwrap();
    writeln!(csv, "merk,model,bouwjaar,km,prijs").unwrap();
    writeln!(csv, "BMW,X5 xDrive50e,2023,18500,64950").unwrap();
    writeln!(csv, "Škoda,Octavia,2021,61000,21950").unwrap();
    let path = csv.path().to_str().unwrap().to_owned();
    let w = world(&[("CATALOGUE_FILE", &path)]).await;
    quoting_brain(&w.f.llm);
    w.f.llm.call_tools_next(vec![tool_call(
        "c1",
        "search_catalogue",
        json!({"query": "BMW X5"}),
    )]);
    customer_says(
        &w,
        "CAT00001",
        "Ik ben geïnteresseerd in een BMW X5. Wat heeft jullie op voorraad?",
    )
    .await;
    assert!(w.f.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    let sent = w.f.waha.sent_to(CHAT);
    assert!(
        sent[0].contains("64950") && sent[0].contains("X5 xDrive50e"),
        "{sent:?}"
    );
    let first = w.f.llm.requests();
    assert_eq!(first.len(), 2, "a tool round and the answer");
    let offered = first[0]["tools"].to_string();
    assert!(
        offered.contains("search_catalogue") && offered.contains("min_prijs"),
        "{offered}"
    );
    assert_eq!(
        first[1]["messages"].as_array().unwrap().last().unwrap()["role"],
        "tool"
    );

    // What was looked up is carried into the next turn's prompt and noted for the humans.
    customer_says(&w, "CAT00002", "En hoeveel kilometer heeft die gereden?").await;
    assert!(w.f.waha.wait_for_sent(2, Duration::from_secs(10)).await);
    let next = w.f.llm.requests().pop().unwrap();
    let remembered = next["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .find(|c| c.starts_with("[tool] search_catalogue"))
        .unwrap_or_else(|| panic!("the lookup is in the prompt: {next}"))
        .to_owned();
    assert!(
        remembered.contains("18500") && remembered.contains("BMW X5"),
        "{remembered}"
    );
    assert_eq!(w.f.waha.sent().len(), 2, "only customer-facing text was sent");
    let conv = w.f.chatwoot.conversation_for_chat(CHAT).unwrap();
    let notes: Vec<String> =
        w.f.chatwoot
            .messages(conv)
            .iter()
            .filter(|m| m["private"] == true)
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("wa-agent tool: search_catalogue {\"query\":\"BMW X5\"} →")),
        "{notes:?}"
    );
    // At least once: the recorder is process-wide, so other tests of this process may count too.
    let series = r#"wa_agent_tool_calls_total{tool="search_catalogue",outcome="ok"}"#;
    assert!(w.app.metric(series).await >= 1.0, "{series}");
    w.app.stop().await;
}

#[tokio::test]
async fn update_contact_merges_attributes_adds_labels_refuses_unknown_keys_and_shows_the_profile() {
    let w = world(&[]).await;
    customer_says(&w, "UPD00001", "Hallo, ik zoek een auto.").await;
    assert!(w.f.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    assert!(
        eventually(Duration::from_secs(10), || w
            .f
            .chatwoot
            .conversation_for_chat(CHAT)
            .is_some())
        .await
    );
    let conv = w.f.chatwoot.conversation_for_chat(CHAT).unwrap();
    let contact =
        w.f.chatwoot
            .conversations()
            .iter()
            .find(|c| c["id"] == conv)
            .unwrap()["meta"]["sender"]["id"]
            .as_u64()
            .unwrap();
    // Someone else's attribute and label, set before the agent records anything.
    w.f.chatwoot.set_contact_attribute(contact, "source", "autobeurs");
    w.f.chatwoot.set_labels(conv, &["vip"]);

    w.f.llm.call_tools_next(vec![tool_call(
        "c1",
        "update_contact",
        json!({"attributes": {"budget": "60000", "shoe_size": "44"}}),
    )]);
    w.f.llm.call_tools_next(vec![tool_call(
        "c2",
        "update_contact",
        json!({"attributes": {"budget": "60000", "interest": "BMW X5"}, "labels": ["hot lead"]}),
    )]);
    customer_says(&w, "UPD00002", "Mijn budget is 60.000 euro, ik wil een X5.").await;
    assert!(w.f.waha.wait_for_sent(2, Duration::from_secs(10)).await);
    let requests = w.f.llm.requests();
    let refused = tool_results(&requests[2]);
    assert_eq!(
        refused,
        vec!["error: unknown attribute shoe_size; allowed: interest, budget, timeline".to_owned()]
    );
    let merged = eventually(Duration::from_secs(10), || {
        let a = w.f.chatwoot.contact_attributes(contact);
        a["budget"] == "60000" && a["interest"] == "BMW X5"
    })
    .await;
    let attributes = w.f.chatwoot.contact_attributes(contact);
    assert!(merged, "{attributes}");
    assert_eq!(
        attributes["source"], "autobeurs",
        "someone else's attribute survives"
    );
    assert!(attributes.get("shoe_size").is_none());
    // At least once each: the recorder is process-wide, so other tests of this process may count too.
    for outcome in ["invalid", "ok"] {
        let series = format!(r#"wa_agent_tool_calls_total{{tool="update_contact",outcome="{outcome}"}}"#);
        assert!(w.app.metric(&series).await >= 1.0, "{series}");
    }
    assert!(eventually(Duration::from_secs(5), || w.f.chatwoot.labels(conv).len() == 2).await);
    assert_eq!(w.f.chatwoot.labels(conv), vec!["vip", "hot-lead"]);

    customer_says(&w, "UPD00003", "Wanneer kan ik langskomen?").await;
    assert!(w.f.waha.wait_for_sent(3, Duration::from_secs(10)).await);
    let prompt = system_prompt(&w.f.llm.requests().pop().unwrap());
    assert!(
        prompt.contains("- budget: 60000") && prompt.contains("- interest: BMW X5"),
        "{prompt}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn without_chatwoot_the_profile_is_still_kept_and_a_bad_catalogue_fails_start_up() {
    let redis = RedisServer::start();
    let f = fakes().await;
    let mut v = vars(&redis, &f, &[]);
    v.retain(|(k, _)| !k.starts_with("CHATWOOT_"));
    let app = spawn_app(&v).await;
    f.llm.call_tools_next(vec![tool_call(
        "c1",
        "update_contact",
        json!({"name": "Sanne", "attributes": {"timeline": "maart"}}),
    )]);
    let resp = app
        .post(
            "/webhooks/waha",
            message(CHAT, "NOCW0001", "Ik heet Sanne, in maart."),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(f.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    let offered = f.llm.requests()[0]["tools"].to_string();
    assert!(
        !offered.contains("private_note") && !offered.contains("handoff_to_human"),
        "{offered}"
    );
    let resp = app
        .post("/webhooks/waha", message(CHAT, "NOCW0002", "Nog iets."), &[])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(f.waha.wait_for_sent(2, Duration::from_secs(10)).await);
    let prompt = system_prompt(&f.llm.requests().pop().unwrap());
    assert!(
        prompt.contains("- name: Sanne") && prompt.contains("- timeline: maart"),
        "{prompt}"
    );
    app.stop().await;

    let mut bad = tempfile::NamedTempFile::new().unwrap();
    writeln!(bad, "merk,prijs\nBMW,1\n\"Audi,2").unwrap();
    let path = bad.path().to_str().unwrap().to_owned();
    let v = vars(&redis, &f, &[("CATALOGUE_FILE", &path)]);
    let app = spawn_app(&v).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), app.task)
        .await
        .unwrap()
        .unwrap();
    let err = ended.expect_err("start-up fails").to_string();
    assert!(err.contains("CATALOGUE_FILE") && err.contains("line 3"), "{err}");
}
