//! The outbound HTTP clients against the fake servers: the OpenAI-compatible agent and WAHA sending.

use std::sync::Arc;
use std::time::Duration;

use crate::support::fake_llm::FakeLlm;
use crate::support::fake_waha::FakeWaha;
use secrecy::SecretString;
use serde_json::{Value, json};
use wa_agent::agent::{Agent, AgentInput, OpenAiAgent};
use wa_agent::channel::Channel;
use wa_agent::channel::waha::WahaClient;
use wa_agent::config::{LlmSettings, WahaSettings};
use wa_agent::domain::{HistoryEntry, Role};
use wa_agent::outbound::OutboundError;

const API_KEY: &str = "sk-test-key-123";
const WAHA_KEY: &str = "waha-test-key";
const CHAT: &str = "31641238876@c.us";

fn agent(llm: &FakeLlm, timeout: Duration) -> OpenAiAgent {
    let settings = LlmSettings {
        base_url: llm.url(),
        api_key: Some(SecretString::from(API_KEY)),
        model: Some("gpt-4o-mini".into()),
    };
    OpenAiAgent::new(&settings, timeout)
}

fn waha(fake: &FakeWaha, key: Option<&str>) -> WahaClient {
    let settings = WahaSettings {
        base_url: fake.url(),
        api_key: key.map(SecretString::from),
        session: "default".into(),
    };
    WahaClient::new(&settings, Duration::from_secs(5))
}

/// Waits until nothing listens at `url` (`http://host:port`) any more.
async fn refused(url: &str) -> bool {
    let addr = url.trim_start_matches("http://").to_owned();
    crate::support::app::eventually_async(Duration::from_secs(5), || {
        let addr = addr.clone();
        async move { tokio::net::TcpStream::connect(addr).await.is_err() }
    })
    .await
}

fn history() -> Vec<HistoryEntry> {
    vec![
        HistoryEntry {
            id: "m1".into(),
            role: Role::Customer,
            text: "Is de BMW X5 er nog?".into(),
            at: 1,
        },
        HistoryEntry {
            id: "r-1".into(),
            role: Role::Agent,
            text: "Ja!".into(),
            at: 2,
        },
    ]
}

async fn ask(agent: &OpenAiAgent, new: &[&str]) -> Result<String, OutboundError> {
    let history = history();
    let new_messages: Vec<String> = new.iter().map(|s| (*s).to_owned()).collect();
    let input = AgentInput {
        system_prompt: "Wees kort.",
        history: &history,
        new_messages: &new_messages,
        new_images: &[],
        offer_handoff: false,
        tail: None,
    };
    agent.reply(input).await.map(|r| r.text)
}

#[tokio::test]
async fn openai_agent_sends_the_conversation_and_returns_the_answer() {
    let llm = FakeLlm::start().await;
    let agent = agent(&llm, Duration::from_secs(5));

    let text = ask(&agent, &["Mag ik een proefrit?", "Zaterdag?"]).await.unwrap();

    assert_eq!(text, "Antwoord op: Mag ik een proefrit? | Zaterdag?");
    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0];
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["stream"], false);
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user", "user"]);
    let auth = llm.request_headers()[0]
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(auth, format!("Bearer {API_KEY}"));
}

#[tokio::test]
async fn the_default_brain_remembers_the_car_from_history() {
    let llm = FakeLlm::start().await;
    let text = ask(&agent(&llm, Duration::from_secs(5)), &["Welke auto bedoelde ik?"])
        .await
        .unwrap();
    assert_eq!(text, "Ja, je vroeg naar de BMW X5!");
}

#[tokio::test]
async fn openai_agent_without_key_or_model_sends_neither() {
    let llm = FakeLlm::start().await;
    let settings = LlmSettings {
        base_url: llm.url(),
        api_key: None,
        model: None,
    };
    let agent = OpenAiAgent::new(&settings, Duration::from_secs(5));
    llm.set_brain(Arc::new(|_: &Value| "  vast antwoord \n".to_owned()));

    assert_eq!(ask(&agent, &["hoi"]).await.unwrap(), "vast antwoord");
    assert!(llm.requests()[0].get("model").is_none());
    assert!(llm.request_headers()[0].get("authorization").is_none());
}

#[tokio::test]
async fn rate_limit_is_retryable_with_retry_after() {
    let llm = FakeLlm::start().await;
    llm.fail_next(1, 429);
    let agent = agent(&llm, Duration::from_secs(5));

    match ask(&agent, &["hoi"]).await {
        Err(OutboundError::Retryable {
            service,
            status,
            retry_after,
            message,
        }) => {
            assert_eq!((service, status), ("agent", Some(429)));
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
            assert!(message.contains("429"), "{message}");
            assert!(!message.contains(API_KEY));
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    // Only the next request failed.
    assert!(ask(&agent, &["hoi"]).await.is_ok());
}

#[tokio::test]
async fn server_errors_are_retryable_and_client_errors_fatal() {
    let llm = FakeLlm::start().await;
    let agent = agent(&llm, Duration::from_secs(5));

    llm.set_always_fail(Some(503));
    assert!(ask(&agent, &["hoi"]).await.unwrap_err().is_retryable());
    llm.set_always_fail(Some(400));
    let err = ask(&agent, &["hoi"]).await.unwrap_err();
    assert!(
        matches!(
            err,
            OutboundError::Fatal {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
    llm.set_always_fail(Some(401));
    assert!(!ask(&agent, &["hoi"]).await.unwrap_err().is_retryable());
    llm.set_always_fail(None);
    assert!(ask(&agent, &["hoi"]).await.is_ok());
}

#[tokio::test]
async fn an_empty_answer_is_fatal() {
    let llm = FakeLlm::start().await;
    llm.set_brain(Arc::new(|_: &Value| "   ".to_owned()));
    let err = ask(&agent(&llm, Duration::from_secs(5)), &["hoi"])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OutboundError::Fatal { message, .. } if message == "empty reply"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_model_times_out_as_retryable() {
    let llm = FakeLlm::start().await;
    llm.set_delay(Duration::from_millis(1500));
    let agent = agent(&llm, Duration::from_millis(200));

    let err = ask(&agent, &["hoi"]).await.unwrap_err();
    assert!(
        matches!(err, OutboundError::Retryable { status: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    // The request was recorded when it arrived, not when it was answered.
    assert!(llm.wait_for_requests(1, Duration::from_millis(100)).await);
}

#[tokio::test]
async fn an_unreachable_model_is_retryable() {
    let llm = FakeLlm::start().await;
    let url = llm.url();
    drop(llm);
    assert!(refused(&url).await, "the fake stopped listening");
    let settings = LlmSettings {
        base_url: url,
        api_key: Some(SecretString::from(API_KEY)),
        model: None,
    };
    let agent = OpenAiAgent::new(&settings, Duration::from_secs(2));
    let err = ask(&agent, &["hoi"]).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(!err.to_string().contains(API_KEY));
}

#[tokio::test]
async fn waha_send_text_posts_the_contract_body_with_the_api_key() {
    let fake = FakeWaha::start(WAHA_KEY).await;
    let client = waha(&fake, Some(WAHA_KEY));

    let first = client.send_text(CHAT, "Goedemiddag Sanne!").await.unwrap();
    let second = client.send_text(CHAT, "Tot zaterdag.").await.unwrap();

    let first_id = first.id.expect("id from the WEBJS answer");
    assert!(first_id.starts_with(&format!("true_{CHAT}_")), "{first_id}");
    assert_ne!(Some(first_id), second.id);
    assert_eq!(
        fake.sent(),
        vec![
            json!({ "session": "default", "chatId": CHAT, "text": "Goedemiddag Sanne!" }),
            json!({ "session": "default", "chatId": CHAT, "text": "Tot zaterdag." }),
        ]
    );
    assert_eq!(fake.sent_to(CHAT), ["Goedemiddag Sanne!", "Tot zaterdag."]);
    assert!(fake.wait_for_sent(2, Duration::from_millis(100)).await);
}

#[tokio::test]
async fn waha_wrong_or_missing_key_is_fatal() {
    let fake = FakeWaha::start(WAHA_KEY).await;
    for key in [Some("wrong-key"), None] {
        match waha(&fake, key).send_text(CHAT, "hoi").await {
            Err(OutboundError::Fatal {
                service: "waha",
                status: Some(401),
                message,
            }) => {
                assert!(message.contains("401"), "{message}");
                assert!(!message.contains("wrong-key"), "{message}");
            }
            other => panic!("expected fatal, got {other:?}"),
        }
    }
    assert!(fake.sent().is_empty());
    assert_eq!(fake.attempts(), 2);
}

#[tokio::test]
async fn waha_session_not_ready_and_server_errors_are_retryable() {
    let fake = FakeWaha::start(WAHA_KEY).await;
    let client = waha(&fake, Some(WAHA_KEY));

    fake.set_fail(Some(422));
    match client.send_text(CHAT, "hoi").await {
        Err(OutboundError::Retryable {
            status: Some(422),
            message,
            ..
        }) => assert!(message.contains("STARTING"), "{message}"),
        other => panic!("expected retryable, got {other:?}"),
    }
    fake.set_fail(Some(500));
    assert!(client.send_text(CHAT, "hoi").await.unwrap_err().is_retryable());
    fake.set_fail(Some(404));
    assert!(!client.send_text(CHAT, "hoi").await.unwrap_err().is_retryable());
    fake.set_fail(None);
    assert!(client.send_text(CHAT, "hoi").await.is_ok());
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn waha_unreachable_is_retryable() {
    let fake = FakeWaha::start(WAHA_KEY).await;
    let client = waha(&fake, Some(WAHA_KEY));
    let url = fake.url();
    drop(fake);
    assert!(refused(&url).await, "the fake stopped listening");
    let err = client.send_text(CHAT, "hoi").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(!err.to_string().contains(WAHA_KEY));
}
