use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::SecretString;

use super::openai::status_error;
use super::*;
use crate::config::LlmSettings;
use reqwest::header::RETRY_AFTER;

const RESPONSE_SIMPLE: &str = include_str!("../../tests/fixtures/openai/chat_response_simple.json");
const RESPONSE_TOOL_CALL: &str = include_str!("../../tests/fixtures/openai/chat_response_tool_call.json");
const REQUEST_SIMPLE: &str = include_str!("../../tests/fixtures/openai/chat_request_simple.json");
const ERROR_RATE_LIMIT: &str = include_str!("../../tests/fixtures/openai/error_rate_limit.json");

fn entry(id: &str, role: Role, text: &str) -> HistoryEntry {
    HistoryEntry {
        id: id.into(),
        role,
        text: text.into(),
        at: 0,
    }
}

fn roles_and_contents(messages: &[Value]) -> Vec<(&str, &str)> {
    messages
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

#[test]
fn build_messages_orders_system_history_then_each_new_message() {
    let history = vec![
        entry("m1", Role::Customer, "Is de BMW X5 er nog?"),
        entry("r-1", Role::Agent, "Ja, die staat er nog."),
        entry("cw-9", Role::Human, "Ik ben Piet, verkoper."),
        entry("m2", Role::Customer, "Top, dank je."),
    ];
    let new_messages = vec!["Mag ik een proefrit?".to_owned(), "Zaterdag?".to_owned()];
    let input = AgentInput {
        system_prompt: "Wees kort.",
        history: &history,
        new_messages: &new_messages,
        new_images: &[],
        offer_handoff: false,
        tail: None,
    };

    let messages = build_messages(&input);

    assert_eq!(
        roles_and_contents(&messages),
        vec![
            ("system", "Wees kort."),
            ("user", "Is de BMW X5 er nog?"),
            ("assistant", "Ja, die staat er nog."),
            ("assistant", "Ik ben Piet, verkoper."),
            ("user", "Top, dank je."),
            ("user", "Mag ik een proefrit?"),
            ("user", "Zaterdag?"),
        ]
    );
}

#[test]
fn a_new_message_with_an_image_becomes_text_and_image_parts() {
    let new_messages = vec!["Eerst dit".to_owned(), "[image] Mijn auto".to_owned()];
    let images = vec![None, Some("data:image/jpeg;base64,/9j/".to_owned())];
    let input = AgentInput {
        system_prompt: "s",
        history: &[],
        new_messages: &new_messages,
        new_images: &images,
        offer_handoff: false,
        tail: None,
    };
    let messages = build_messages(&input);
    assert_eq!(messages[1]["content"], "Eerst dit");
    assert_eq!(
        messages[2]["content"],
        serde_json::json!([
            {"type": "text", "text": "[image] Mijn auto"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}
        ])
    );
}

#[test]
fn build_messages_without_history_matches_the_fixture_request() {
    let fixture: Value = serde_json::from_str(REQUEST_SIMPLE).unwrap();
    let expected = fixture["messages"].as_array().unwrap();
    let new_messages = vec![expected[1]["content"].as_str().unwrap().to_owned()];
    let input = AgentInput {
        system_prompt: expected[0]["content"].as_str().unwrap(),
        history: &[],
        new_messages: &new_messages,
        new_images: &[],
        offer_handoff: false,
        tail: None,
    };
    assert_eq!(&build_messages(&input), expected);
}

#[test]
fn request_body_has_model_temperature_and_no_stream_and_omits_absent_model() {
    let mut settings = LlmSettings {
        base_url: "http://llm.test/v1/".into(),
        api_key: None,
        model: Some("gpt-4o-mini".into()),
    };
    let new_messages = vec!["hoi".to_owned()];
    let input = AgentInput {
        system_prompt: "s",
        history: &[],
        new_messages: &new_messages,
        new_images: &[],
        offer_handoff: false,
        tail: None,
    };

    let agent = OpenAiAgent::new(&settings, Duration::from_secs(5));
    assert_eq!(agent.endpoint, "http://llm.test/v1/chat/completions");
    let messages = build_messages(&input);
    let request = ChatRequest {
        messages: &messages,
        tools: &[],
    };
    let body = agent.request_body(request);
    assert!(body.get("tools").is_none());
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["stream"], false);
    assert_eq!(body["messages"].as_array().unwrap().len(), 2);

    settings.model = None;
    let tools = vec![handoff_tool()];
    let request = ChatRequest {
        messages: &messages,
        tools: &tools,
    };
    let body = OpenAiAgent::new(&settings, Duration::from_secs(5)).request_body(request);
    assert!(body.get("model").is_none());
    assert_eq!(body["tools"][0]["function"]["name"], HANDOFF_TOOL);
    assert_eq!(body["tool_choice"], "auto");
}

#[test]
fn debug_output_hides_the_api_key() {
    let settings = LlmSettings {
        base_url: "http://llm.test".into(),
        api_key: Some(SecretString::from("sk-very-secret")),
        model: None,
    };
    let shown = format!("{:?}", OpenAiAgent::new(&settings, Duration::from_secs(5)));
    assert!(!shown.contains("sk-very-secret"), "{shown}");
}

#[test]
fn parses_the_simple_fixture_response() {
    let reply = parse_chat_response(RESPONSE_SIMPLE.as_bytes()).unwrap();
    assert_eq!(reply.handoff, None);
    let text = reply.text;
    assert!(text.starts_with("Goedemiddag Sanne! Ja, de BMW X5 xDrive50e"));
    assert!(text.ends_with("Zal ik een proefrit voor u inplannen?"));
}

#[test]
fn the_handoff_tool_call_is_read_and_no_tool_text_leaks() {
    let reply = parse_chat_response(RESPONSE_TOOL_CALL.as_bytes()).unwrap();
    assert_eq!(reply.text, "", "tool calls never become customer text");
    let handoff = reply.handoff.expect("handoff_to_human was called");
    assert_eq!(handoff.reason, "trade_in");
}

#[test]
fn other_tool_calls_without_content_are_an_empty_reply() {
    let body = br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
        {"id":"c1","type":"function","function":{"name":"schedule_test_drive","arguments":"{}"}}]}}]}"#;
    let err = parse_chat_response(body).unwrap_err();
    assert!(
        matches!(&err, OutboundError::Fatal { service: "agent", message, .. } if message == "empty reply"),
        "{err:?}"
    );
}

#[test]
fn unparseable_handoff_arguments_still_hand_off() {
    let body = br#"{"choices":[{"message":{"content":null,"tool_calls":[
        {"id":"c1","type":"function","function":{"name":"handoff_to_human","arguments":"{not json"}}]}}]}"#;
    let reply = parse_chat_response(body).unwrap();
    assert_eq!(reply.handoff.unwrap().reason, "unspecified");
}

#[test]
fn content_is_trimmed_and_blank_content_is_fatal() {
    let body = br#"{"choices":[{"message":{"role":"assistant","content":"  Hallo!\n"}}]}"#;
    assert_eq!(parse_chat_response(body).unwrap().text, "Hallo!");
    let blank = br#"{"choices":[{"message":{"role":"assistant","content":" \n "}}]}"#;
    assert!(matches!(
        parse_chat_response(blank),
        Err(OutboundError::Fatal { .. })
    ));
}

#[test]
fn unparseable_bodies_are_fatal_not_panics() {
    for body in [
        &b""[..],
        b"not json",
        b"[]",
        b"{}",
        b"{\"choices\":[]}",
        b"{\"choices\":[{\"message\":1}]}",
    ] {
        let err = parse_chat_response(body).unwrap_err();
        assert!(!err.is_retryable(), "{err:?}");
    }
}

#[test]
fn statuses_are_classified_by_code_not_by_body() {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, "7".parse().unwrap());
    let err = status_error(
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        ERROR_RATE_LIMIT.as_bytes(),
    );
    match err {
        OutboundError::Retryable {
            service,
            status,
            message,
            retry_after,
        } => {
            assert_eq!((service, status), ("agent", Some(429)));
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert_eq!(message, "LLM answered 429: rate_limit_exceeded");
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    // The same body under another status follows the status.
    let err = status_error(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        ERROR_RATE_LIMIT.as_bytes(),
    );
    assert!(!err.is_retryable());
    for code in [500u16, 502, 503, 504, 408, 425] {
        let err = status_error(StatusCode::from_u16(code).unwrap(), &HeaderMap::new(), b"oops");
        assert!(err.is_retryable(), "{code}");
    }
    for code in [400u16, 401, 403, 404, 422] {
        let err = status_error(StatusCode::from_u16(code).unwrap(), &HeaderMap::new(), b"");
        assert!(!err.is_retryable(), "{code}");
    }
}

#[tokio::test]
async fn echo_agent_repeats_new_messages_and_shows_memory() {
    let new_messages = vec!["Hoi".to_owned(), "Is de X5 er nog?".to_owned()];
    let reply = EchoAgent
        .reply(AgentInput {
            system_prompt: "",
            history: &[],
            new_messages: &new_messages,
            new_images: &[],
            offer_handoff: false,
            tail: None,
        })
        .await
        .unwrap();
    assert_eq!(reply.text, "Echo: Hoi / Is de X5 er nog?");

    let history = vec![entry("m1", Role::Customer, "a"), entry("r-1", Role::Agent, "b")];
    let reply = EchoAgent
        .reply(AgentInput {
            system_prompt: "",
            history: &history,
            new_messages: &new_messages,
            new_images: &[],
            offer_handoff: false,
            tail: None,
        })
        .await
        .unwrap();
    assert_eq!(
        reply.text,
        "Echo: Hoi / Is de X5 er nog? (I remember 2 earlier messages.)"
    );
    assert_eq!(EchoAgent.name(), "echo");
}

#[test]
fn completions_carry_every_tool_call_with_its_id_and_arguments() {
    let body = br#"{"choices":[{"message":{"role":"assistant","content":"Even kijken.","tool_calls":[
        {"id":"c1","type":"function","function":{"name":"search_catalogue","arguments":"{\"query\":\"X5\"}"}},
        {"id":"c2","type":"function","function":{"name":"dealer__slots","arguments":{"day":"sat"}}},
        {"id":"c3","type":"function","function":{"arguments":"{}"}}]}}]}"#;
    let completion = parse_completion(body).unwrap();
    assert_eq!(completion.text, "Even kijken.");
    assert_eq!(
        completion.tool_calls,
        vec![
            ToolCall {
                id: "c1".into(),
                name: "search_catalogue".into(),
                arguments: r#"{"query":"X5"}"#.into()
            },
            ToolCall {
                id: "c2".into(),
                name: "dealer__slots".into(),
                arguments: r#"{"day":"sat"}"#.into()
            },
        ]
    );
}
