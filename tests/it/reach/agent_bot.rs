//! Chatwoot Agent Bot chats: the seed scenario through a website widget inbox, a handoff with the bot
//! token, and a mirror chat beside an Agent Bot chat without leaks.

use super::*;

/// An Agent Bot `message_created` of the website-widget conversation `conv`.
fn bot_message(conv: u64, id: u64, text: &str, created_at: &str) -> Value {
    let mut v = fixture("chatwoot/agent_bot_message_created_web_widget.json");
    v["id"] = json!(id);
    v["content"] = json!(text);
    v["created_at"] = json!(created_at);
    v["conversation"]["id"] = json!(conv);
    v
}

fn history(w: &World, chat: &str) -> String {
    w.redis
        .command(&["LRANGE", &format!("test:history:{chat}"), "0", "-1"])
        .unwrap_or_default()
}

fn bot_replies(cw: &FakeChatwoot, conv: u64) -> Vec<String> {
    cw.messages(conv)
        .iter()
        .filter(|m| m["sender"]["type"] == "agent_bot" && m["private"] == false)
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn seed_scenario_through_a_website_widget_inbox_as_agent_bot() {
    let w = world().await;
    // The widget conversation exists in Chatwoot (the fake's ids); nothing of it is mirrored.
    let conv = w.cw.seed_conversation("widget-visitor", "Jeroen Bakker", vec![]);
    let chat = format!("cw:3:{conv}");
    let conversations_before = w.cw.conversations().len();

    let (status, ack) = post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48390, BMW, "2026-07-14T09:12:40.512Z"),
        &[],
    )
    .await;
    assert_eq!((status, ack["status"].as_str()), (200, Some("accepted")), "{ack}");
    assert!(
        eventually(Duration::from_secs(10), || bot_replies(&w.cw, conv).len() == 1).await,
        "first bot reply"
    );
    w.app.run_until_quiet(&w.cw).await;
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48397, WHICH, "2026-07-14T09:12:48.512Z"),
        &[],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || bot_replies(&w.cw, conv).len() == 2).await,
        "second bot reply"
    );
    let replies = bot_replies(&w.cw, conv);
    assert!(replies[1].contains("BMW X5"), "the bot remembers: {replies:?}");

    // Created with the bot token (so they show as the bot), through bot endpoints only; typing with
    // the user token; nothing to any gateway, nothing mirrored, no conversation created.
    let bot_posts: Vec<_> =
        w.cw.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/conversations/{conv}/messages")))
            .collect();
    assert_eq!(bot_posts.len(), 2, "{bot_posts:?}");
    assert!(
        w.cw.requests()
            .iter()
            .any(|r| r.path.ends_with("/toggle_typing_status"))
    );
    assert!(
        w.waha.sent().is_empty() && w.evo.sent().is_empty(),
        "nothing sent to a gateway"
    );
    assert_eq!(
        w.cw.conversations().len(),
        conversations_before,
        "no mirror conversation"
    );
    assert_eq!(
        w.cw.messages(conv)
            .iter()
            .filter(|m| m["message_type"] == 0)
            .count(),
        0,
        "customer messages not mirrored"
    );

    // The bot's own reply coming back is not answered.
    let mut echo = bot_message(conv, 48398, &replies[1], "2026-07-14T09:12:50.000Z");
    echo["message_type"] = json!("outgoing");
    echo["sender"] = json!({"id": 5, "name": "wa-agent bot", "type": "agent_bot"});
    let (_, body) = post(&w.app, "/webhooks/chatwoot", &echo, &[]).await;
    assert_eq!(body["status"], "ignored");

    // A human opens the conversation: silence, but the customer's message is remembered.
    let mut opened = fixture("chatwoot/webhook_conversation_status_changed_open.json");
    opened["event"] = json!("conversation_opened");
    opened["id"] = json!(conv);
    opened["inbox_id"] = json!(12);
    opened["updated_at"] = json!(4_102_444_800.0);
    let (_, body) = post(&w.app, "/webhooks/chatwoot", &opened, &[]).await;
    assert_eq!(body["status"], "accepted", "{body}");
    let mut human = bot_message(
        conv,
        48400,
        "Hoi Jeroen, Mark hier. Ik help je verder.",
        "2026-07-14T09:13:00.000Z",
    );
    human["message_type"] = json!("outgoing");
    human["sender"] = json!({"id": 9, "name": "Mark", "type": "user"});
    post(&w.app, "/webhooks/chatwoot", &human, &[]).await;
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(
            conv,
            48402,
            "Zaterdag om tien uur dan?",
            "2026-07-14T09:13:10.000Z",
        ),
        &[],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || history(&w, &chat)
            .contains("Zaterdag om tien uur"))
        .await,
        "remembered"
    );
    assert!(
        history(&w, &chat).contains("Mark hier"),
        "the human's reply is in the history"
    );
    w.app.run_until_quiet(&w.cw).await;
    assert_eq!(bot_replies(&w.cw, conv).len(), 2, "silent while a human owns it");
    assert_eq!(w.llm.requests().len(), 2);
    assert_eq!(
        w.cw.messages(conv)
            .iter()
            .filter(|m| m["sender"]["type"] == "user")
            .count(),
        0,
        "the human reply is not re-sent"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_handoff_opens_the_conversation_with_the_bot_token() {
    let w = world().await;
    let conv =
        w.cw.seed_conversation("widget-visitor-2", "Jeroen Bakker", vec![]);
    w.llm.handoff_next("customer asks for a test drive");
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48500, "Ik wil een proefrit", "2026-07-14T09:12:40.512Z"),
        &[],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || w
            .cw
            .conversations()
            .iter()
            .any(|c| c["id"] == conv && c["status"] == "open"))
        .await,
        "conversation open: {:?}",
        w.cw.requests()
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect::<Vec<_>>()
    );
    assert!(
        w.cw.messages(conv)
            .iter()
            .any(|m| m["private"] == true && m["sender"]["type"] == "agent_bot"),
        "private note by the bot"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_mirror_chat_and_an_agent_bot_chat_side_by_side_do_not_leak() {
    let w = world().await;
    let conv =
        w.cw.seed_conversation("widget-visitor-3", "Jeroen Bakker", vec![]);
    let wa_chat = "31639121747@c.us";
    let resp = w
        .app
        .post(
            "/webhooks/waha",
            message(wa_chat, "SIDE0001", "Ik zoek een Volvo XC60."),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 200);
    post(
        &w.app,
        "/webhooks/chatwoot",
        &bot_message(conv, 48600, "Ik zoek een Audi Q5.", "2026-07-14T09:12:40.512Z"),
        &[],
    )
    .await;
    assert!(w.waha.wait_for_sent(1, Duration::from_secs(10)).await);
    assert!(eventually(Duration::from_secs(10), || bot_replies(&w.cw, conv).len() == 1).await);
    w.app.run_until_quiet(&w.cw).await;
    let wa_reply = &w.waha.sent_to(wa_chat)[0];
    assert!(
        wa_reply.contains("Volvo") && !wa_reply.contains("Audi"),
        "{wa_reply}"
    );
    let bot_reply = &bot_replies(&w.cw, conv)[0];
    assert!(
        bot_reply.contains("Audi") && !bot_reply.contains("Volvo"),
        "{bot_reply}"
    );
    let mirror = w.cw.conversation_for_chat(wa_chat).expect("mirror conversation");
    let mirrored: Vec<String> =
        w.cw.messages(mirror)
            .iter()
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
    assert!(mirrored.iter().all(|t| !t.contains("Audi")), "{mirrored:?}");
    assert_eq!(w.waha.sent().len(), 1, "the bot chat sent nothing through WAHA");
    for req in w.llm.requests() {
        let text = req.to_string();
        assert!(
            !(text.contains("Volvo") && text.contains("Audi")),
            "one prompt saw both chats"
        );
    }
    w.app.stop().await;
}
