//! The browser playground over HTTP: the page, the `web` channel's message and event routes, the
//! token, bad input, resuming the event stream and the settings' safe defaults; `chatwoot`: a web chat
//! mirrored to Chatwoot with a human taking over, and tool notes. Real Redis, fake LLM and Chatwoot.

use std::time::{Duration, Instant};

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_chatwoot::FakeChatwoot;
use crate::support::fake_llm::{FakeLlm, tool_call};
use crate::support::proc::run_command;
use crate::support::redis::RedisServer;
use serde_json::{Value, json};

const TOKEN: &str = "play-token-1234";

/// One server-sent event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: String,
    event: String,
    data: Value,
}

/// A reader of a `text/event-stream` response.
struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> SseReader {
        let mut req = app
            .http
            .get(format!("{}/playground/api/events?{query}", app.url))
            .header("Authorization", format!("Bearer {TOKEN}"));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("events request");
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseReader {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (comments and `retry:` skipped), or `None` after `timeout`.
    async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !event.is_empty() {
                    let data = serde_json::from_str(&data).expect("event data is JSON");
                    return Some(SseEvent { id, event, data });
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next event named `name`, skipping others.
    async fn next_named(&mut self, name: &str, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let e = self.next(left).await?;
            if e.event == name {
                return Some(e);
            }
        }
    }
}

async fn with_redis(llm: &FakeLlm, redis: &RedisServer, extra: &[(&str, String)]) -> TestApp {
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("LLM_BASE_URL", llm.url()),
        ("DEBOUNCE_MS", "100".into()),
        ("PLAYGROUND", "on".into()),
        ("PLAYGROUND_TOKEN", TOKEN.into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v.clone()));
    }
    spawn_app(&vars).await
}

async fn send(app: &TestApp, body: Value, auth: Option<&str>) -> (u16, Value) {
    let auth = auth.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let resp = app
        .post("/playground/api/messages", body.to_string(), &headers)
        .await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn embedded_default_serves_a_self_contained_page_and_answers_without_a_token() {
    let llm = FakeLlm::start().await;
    let app = spawn_app(&[("LLM_BASE_URL", llm.url()), ("DEBOUNCE_MS", "100".into())]).await;
    let page = app.get("/playground").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"data-token-required="false""#));
    assert!(html.contains("aria-live") && html.contains("New customer"));
    for external in ["http://", "https://", "src=\"//", "<link"] {
        assert!(
            !html.contains(external),
            "the page loads nothing from elsewhere: {external}"
        );
    }
    let (status, body) = send(&app, json!({"text": "Hallo daar"}), None).await;
    assert_eq!(status, 200, "{body}");
    let chat = body["chat_id"].as_str().unwrap().to_owned();
    assert!(chat.starts_with("web:"), "{chat}");
    assert!(body["message_id"].as_str().is_some_and(|m| !m.is_empty()));
    let mut sse = SseReader::open(&app, &format!("chat_id={chat}"), None).await;
    let reply = sse
        .next_named("reply", Duration::from_secs(10))
        .await
        .expect("a reply");
    assert_eq!(reply.data["text"], "Antwoord op: Hallo daar");
    app.stop().await;
}

#[tokio::test]
async fn the_token_is_required_and_checked_on_both_routes() {
    let (redis, llm) = (RedisServer::start(), FakeLlm::start().await);
    let app = with_redis(&llm, &redis, &[]).await;
    let page = app.get("/playground").await.text().await.unwrap();
    assert!(page.contains(r#"data-token-required="true""#) && !page.contains(TOKEN));
    for auth in [None, Some("wrong"), Some("")] {
        let (status, body) = send(&app, json!({"text": "Hoi"}), auth).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    let (status, _) = send(&app, json!({"text": "Hoi"}), Some(TOKEN)).await;
    assert_eq!(status, 200);
    let events = |q: &str| format!("{}/playground/api/events?{q}", app.url);
    for q in ["chat_id=web:abcdefgh", "chat_id=web:abcdefgh&token=wrong"] {
        let resp = app.http.get(events(q)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{q}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let resp = app
        .http
        .get(events(&format!("chat_id=web:abcdefgh&token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "an EventSource gives the token in the query");
    // The query token is for the event stream only.
    let resp = app
        .post(
            &format!("/playground/api/messages?token={TOKEN}"),
            json!({"text": "x"}).to_string(),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_400_with_a_json_body() {
    let (redis, llm) = (RedisServer::start(), FakeLlm::start().await);
    let app = with_redis(&llm, &redis, &[]).await;
    let auth = format!("Bearer {TOKEN}");
    let cases: Vec<(String, &str)> = vec![
        (json!({"text": ""}).to_string(), "invalid_payload"),
        (json!({"text": "   \n "}).to_string(), "invalid_payload"),
        (json!({"text": "x".repeat(4097)}).to_string(), "invalid_payload"),
        (
            json!({"text": "hoi", "chat_id": "31641238876@c.us"}).to_string(),
            "invalid_payload",
        ),
        (
            json!({"text": "hoi", "chat_id": "web:a b"}).to_string(),
            "invalid_payload",
        ),
        (json!({"chat_id": "web:abcdefgh"}).to_string(), "invalid_payload"),
        ("{not json".to_owned(), "invalid_json"),
    ];
    for (body, code) in cases {
        let resp = app
            .post(
                "/playground/api/messages",
                body.clone(),
                &[("Authorization", &auth)],
            )
            .await;
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let ok = json!({"text": "x".repeat(4096)}).to_string();
    let resp = app
        .post("/playground/api/messages", ok, &[("Authorization", &auth)])
        .await;
    assert_eq!(resp.status(), 200, "4096 characters are allowed");
    let resp = app
        .http
        .post(format!("{}/playground/api/messages", app.url))
        .header("Authorization", &auth)
        .header("Content-Type", "text/plain")
        .body("hoi")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let big = json!({"text": "x".repeat(2 * 1024 * 1024)}).to_string();
    let resp = app
        .post("/playground/api/messages", big, &[("Authorization", &auth)])
        .await;
    assert_eq!(resp.status(), 413);
    for q in ["", "chat_id=nope", "chat_id=web:abcdefgh&last_event_id=yesterday"] {
        let resp = app
            .http
            .get(format!("{}/playground/api/events?{q}", app.url))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{q}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_payload", "{q}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_event_stream_resumes_after_a_reconnect_without_losing_a_reply() {
    let (redis, llm) = (RedisServer::start(), FakeLlm::start().await);
    let app = with_redis(&llm, &redis, &[]).await;
    llm.set_delay(Duration::from_millis(300)); // typing shows while the model thinks
    let (_, body) = send(&app, json!({"text": "Eerste vraag"}), Some(TOKEN)).await;
    let chat = body["chat_id"].as_str().unwrap().to_owned();
    let mut sse = SseReader::open(&app, &format!("chat_id={chat}"), None).await;
    let typing = sse.next(Duration::from_secs(10)).await.expect("typing first");
    assert_eq!(
        (typing.event.as_str(), &typing.data["on"]),
        ("typing", &json!(true))
    );
    let first = sse
        .next_named("reply", Duration::from_secs(10))
        .await
        .expect("first reply");
    assert_eq!(first.data["text"], "Antwoord op: Eerste vraag");
    drop(sse); // the page goes away
    let (status, _) = send(
        &app,
        json!({"chat_id": chat, "text": "Tweede vraag"}),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert!(llm.wait_for_requests(2, Duration::from_secs(10)).await);
    // Wait until the second reply is logged while nobody listens.
    let key = format!("wa-agent:web-events:{chat}");
    assert!(
        eventually(Duration::from_secs(10), || redis
            .command(&["XRANGE", &key, "-", "+"])
            .is_some_and(|r| r.contains("Antwoord op: Tweede vraag")))
        .await
    );
    let mut sse = SseReader::open(&app, &format!("chat_id={chat}"), Some(&first.id)).await;
    let mut after = Vec::new();
    while let Some(e) = sse.next(Duration::from_millis(800)).await {
        after.push(e);
    }
    let replies: Vec<&Value> = after
        .iter()
        .filter(|e| e.event == "reply")
        .map(|e| &e.data["text"])
        .collect();
    assert_eq!(replies, [&json!("Antwoord op: Tweede vraag")], "{after:?}");
    assert!(
        after.iter().all(|e| e.id != first.id),
        "nothing before Last-Event-ID comes again"
    );
    // The second request's history held the first exchange: one engine, one memory.
    let second = llm.requests()[1].to_string();
    assert!(second.contains("Eerste vraag") && second.contains("Antwoord op: Eerste vraag"));
    app.stop().await;
}

#[tokio::test]
async fn the_playground_is_off_by_default_with_redis_and_when_turned_off() {
    let redis = RedisServer::start();
    let app = spawn_app(&[("REDIS_URL", redis.url())]).await;
    for path in ["/playground", "/playground/api/events?chat_id=web:abcdefgh"] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found");
    }
    let resp = app
        .post("/playground/api/messages", json!({"text": "x"}).to_string(), &[])
        .await;
    assert_eq!(resp.status(), 404);
    app.stop().await;
    let app = spawn_app(&[("PLAYGROUND", "off".into())]).await;
    assert_eq!(app.get("/playground").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn turning_it_on_with_redis_and_no_token_fails_at_start_up() {
    let vars = [
        ("REDIS_URL", "redis://127.0.0.1:1".to_owned()),
        ("PLAYGROUND", "on".to_owned()),
    ];
    let (code, out) = run_command(&["serve"], &vars);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("PLAYGROUND_TOKEN"), "{out}");
    let (code, out) = run_command(&["serve"], &[("PLAYGROUND", "sometimes".to_owned())]);
    assert_ne!(code, 0);
    assert!(out.contains("PLAYGROUND"), "{out}");
}

mod chatwoot;
