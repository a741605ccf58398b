//! A web chat mirrored to Chatwoot: a human reply and a handoff reach the page, and tool calls reach
//! it as notes before the reply.

use super::*;

#[tokio::test]
async fn a_web_chat_is_mirrored_and_a_human_reply_and_a_handoff_reach_the_page() {
    let (redis, llm) = (RedisServer::start(), FakeLlm::start().await);
    let cw = FakeChatwoot::start(3, 7, "cw-token").await;
    let extra = [
        ("CHATWOOT_BASE_URL", cw.url()),
        ("CHATWOOT_API_TOKEN", "cw-token".to_owned()),
        ("CHATWOOT_ACCOUNT_ID", "3".to_owned()),
        ("CHATWOOT_INBOX_ID", "7".to_owned()),
        ("HANDOFF_MESSAGE", "Een collega neemt het over.".to_owned()),
    ];
    let app = with_redis(&llm, &redis, &extra).await;
    cw.set_webhook(&format!("{}/webhooks/chatwoot", app.url), None);
    let (_, body) = send(
        &app,
        json!({"text": "Hebben jullie een Volvo XC60?"}),
        Some(TOKEN),
    )
    .await;
    let chat = body["chat_id"].as_str().unwrap().to_owned();
    let mut sse = SseReader::open(&app, &format!("chat_id={chat}"), None).await;
    assert!(sse.next_named("reply", Duration::from_secs(10)).await.is_some());
    assert!(
        eventually(Duration::from_secs(10), || cw
            .conversation_for_chat(&chat)
            .is_some())
        .await
    );
    let conv = cw.conversation_for_chat(&chat).unwrap();
    assert!(
        cw.wait_for_messages(conv, 2, Duration::from_secs(10)).await,
        "both mirrored"
    );
    let contact = cw
        .contacts()
        .into_iter()
        .find(|c| c["identifier"] == chat.as_str());
    assert!(contact.is_some(), "the contact's identifier is the web chat id");

    cw.human_reply(conv, "Ja, morgen staat hij klaar.");
    let reply = sse
        .next_named("reply", Duration::from_secs(10))
        .await
        .expect("human reply");
    assert_eq!(reply.data["text"], "Ja, morgen staat hij klaar.");
    let note = sse
        .next_named("note", Duration::from_secs(5))
        .await
        .expect("note");
    assert_eq!(note.data, json!({"kind": "human_reply", "reply_id": reply.id}));

    cw.set_status(conv, "pending");
    cw.set_assignee(conv, None);
    app.run_until_quiet(&cw).await;
    llm.handoff_next("wants_a_salesperson");
    send(
        &app,
        json!({"chat_id": chat, "text": "Ik wil een verkoper"}),
        Some(TOKEN),
    )
    .await;
    let said = sse
        .next_named("reply", Duration::from_secs(10))
        .await
        .expect("handoff message");
    assert_eq!(said.data["text"], "Een collega neemt het over.");
    let note = sse
        .next_named("note", Duration::from_secs(5))
        .await
        .expect("handoff note");
    assert_eq!(note.data["kind"], "handoff");
    assert!(
        note.data["reason"]
            .as_str()
            .unwrap()
            .contains("wants_a_salesperson"),
        "{note:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn tool_calls_reach_the_page_as_notes_before_the_reply() {
    let (redis, llm) = (RedisServer::start(), FakeLlm::start().await);
    let catalogue = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/catalogue/voorraad.csv"
    );
    let app = with_redis(&llm, &redis, &[("CATALOGUE_FILE", catalogue.to_owned())]).await;
    llm.call_tools_next(vec![
        tool_call("c1", "search_catalogue", json!({"query": "BMW X5"})),
        tool_call("c2", "no_such_tool", json!({})),
    ]);
    let (status, body) = send(&app, json!({"text": "Hebben jullie een BMW X5?"}), Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let chat = body["chat_id"].as_str().unwrap().to_owned();
    let mut sse = SseReader::open(&app, &format!("chat_id={chat}"), None).await;
    let mut seen = Vec::new();
    while let Some(e) = sse.next(Duration::from_secs(10)).await {
        if e.event == "typing" {
            continue;
        }
        let done = e.event == "reply";
        seen.push((e.event, e.data));
        if done {
            break;
        }
    }
    assert_eq!(
        seen[..2],
        [
            (
                "note".to_owned(),
                json!({"kind": "tool_call", "name": "search_catalogue", "ok": true})
            ),
            (
                "note".to_owned(),
                json!({"kind": "tool_call", "name": "no_such_tool", "ok": false})
            ),
        ],
        "{seen:?}"
    );
    assert_eq!(seen.len(), 3, "two notes, then the reply: {seen:?}");
    assert_eq!(seen[2].0, "reply");
    let reply = seen[2].1["text"].as_str().unwrap_or_default();
    assert!(!reply.is_empty() && !reply.contains("no_such_tool"), "{reply}");
    app.stop().await;
}
