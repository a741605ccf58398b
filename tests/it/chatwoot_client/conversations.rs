//! Conversations and messages through the client: reuse, direction, paging, the list lag, and the
//! errors (bad token, unknown ids, Chatwoot down or unreachable).

use super::*;

#[tokio::test]
async fn open_conversation_is_reused_and_resolved_one_is_not() {
    let (fake, client) = setup().await;
    let chat = "31641238876@c.us";
    let contact = client.create_contact(chat, Some("Sanne")).await.unwrap();
    assert_eq!(client.find_conversation(contact.id).await.unwrap(), None);

    let first = client
        .create_conversation(contact.id, chat, "waha")
        .await
        .unwrap();
    assert_eq!(
        (first.inbox_id, first.status.as_str(), first.assignee_id),
        (INBOX, "pending", None)
    );
    assert_eq!(
        client.find_conversation(contact.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(client.get_conversation(first.id).await.unwrap(), first);
    assert_eq!(fake.conversation_for_chat(chat), Some(first.id));
    let stored = &fake.conversations()[0];
    assert_eq!(
        stored["custom_attributes"],
        json!({ "wa_gateway": "waha", "wa_chat_id": chat })
    );

    client.toggle_status(first.id, "resolved").await.unwrap();
    assert_eq!(
        client.get_conversation(first.id).await.unwrap().status,
        "resolved"
    );
    assert_eq!(client.find_conversation(contact.id).await.unwrap(), None);

    let second = client
        .create_conversation(contact.id, chat, "waha")
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(
        client.find_conversation(contact.id).await.unwrap().map(|c| c.id),
        Some(second.id)
    );
    assert_eq!(fake.conversation_for_chat(chat), Some(second.id));

    // A human hand-off in the dashboard: open and assigned.
    fake.set_status(second.id, "open");
    fake.set_assignee(second.id, Some(14));
    let handed_off = client.find_conversation(contact.id).await.unwrap().unwrap();
    assert_eq!(
        (handed_off.status.as_str(), handed_off.assignee_id),
        ("open", Some(14))
    );
}

#[tokio::test]
async fn messages_keep_their_direction_sender_and_source_id() {
    let (fake, client) = setup().await;
    let chat = "31641238876@c.us";
    let contact = client.create_contact(chat, Some("Sanne")).await.unwrap();
    let conversation = client
        .create_conversation(contact.id, chat, "waha")
        .await
        .unwrap();

    let incoming = new_message(
        "Is de BMW nog beschikbaar?",
        MessageType::Incoming,
        "wa-agent:in-1",
    );
    let customer = client.create_message(conversation.id, &incoming).await.unwrap();
    assert_eq!(
        (customer.message_type, customer.sender_type.as_deref()),
        (0, Some("contact"))
    );
    assert_eq!(customer.source_id.as_deref(), Some("wa-agent:in-1"));
    assert_eq!(customer.content.as_deref(), Some("Is de BMW nog beschikbaar?"));

    let outgoing = new_message("Ja, hij staat er nog.", MessageType::Outgoing, "wa-agent:out-1");
    let reply = client.create_message(conversation.id, &outgoing).await.unwrap();
    assert_eq!(
        (reply.message_type, reply.sender_type.as_deref()),
        (1, Some("user"))
    );
    assert!(reply.id > customer.id);

    let note = NewMessage {
        content: "LLM failed".into(),
        message_type: MessageType::Outgoing,
        private: true,
        source_id: None,
    };
    assert!(
        client
            .create_message(conversation.id, &note)
            .await
            .unwrap()
            .private
    );

    let listed = client.list_messages(conversation.id, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        fake.messages(conversation.id)
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(listed[..2], [customer, reply]);
    let posted = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/messages") && r.method == "POST")
        .unwrap();
    assert_eq!(posted.body["message_type"], "outgoing");
    assert_eq!(posted.body["content_type"], "text");
}

#[tokio::test]
async fn incoming_message_reopens_a_resolved_conversation() {
    let (fake, client) = setup().await;
    let id = fake.seed_conversation("31641238876@c.us", "Sanne", vec![SeedMessage::incoming("hoi")]);
    client.toggle_status(id, "resolved").await.unwrap();
    let again = new_message("nog een vraag", MessageType::Incoming, "wa-agent:in-2");
    client.create_message(id, &again).await.unwrap();
    assert_eq!(client.get_conversation(id).await.unwrap().status, "open");
    let activities = fake
        .messages(id)
        .into_iter()
        .filter(|m| m["message_type"] == 2)
        .count();
    assert_eq!(activities, 2, "one activity per status change");
}

#[tokio::test]
async fn list_pages_back_over_sixty_messages() {
    let (fake, client) = setup().await;
    let seeds: Vec<SeedMessage> = (0..60)
        .map(|i| match i % 2 {
            0 => SeedMessage::incoming(&format!("vraag {i}")).with_source_id(&format!("wa-agent:in-{i}")),
            _ => SeedMessage::outgoing(&format!("antwoord {i}")).with_source_id(&format!("wa-agent:out-{i}")),
        })
        .collect();
    let id = fake.seed_conversation("31641238876@c.us", "Sanne", seeds);

    let latest = client.list_messages(id, None).await.unwrap();
    assert_eq!(latest.len(), 20);
    assert_eq!(latest.last().unwrap().content.as_deref(), Some("antwoord 59"));

    let mut all = latest;
    loop {
        let before = all.first().unwrap().id;
        let page = client.list_messages(id, Some(before)).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 20 && page.last().unwrap().id < before);
        all.splice(0..0, page);
    }
    assert_eq!(all.len(), 60);
    assert!(
        all.windows(2)
            .all(|w| w[0].id < w[1].id && w[0].created_at <= w[1].created_at)
    );
    let texts: Vec<_> = all.iter().map(|m| m.content.clone().unwrap()).collect();
    assert_eq!(
        (texts[0].as_str(), texts[59].as_str()),
        ("vraag 0", "antwoord 59")
    );
    assert_eq!(all[1].sender_type.as_deref(), Some("user"));
}

#[tokio::test]
async fn a_lagging_list_hides_fresh_messages() {
    let (fake, client) = setup().await;
    let id = fake.seed_conversation(
        "183742059381207@lid",
        "Daan",
        vec![SeedMessage::incoming("hallo")],
    );
    fake.set_list_lag(Duration::from_secs(30));
    let fresh = new_message("net verstuurd", MessageType::Outgoing, "wa-agent:out-9");
    client.create_message(id, &fresh).await.unwrap();
    assert_eq!(client.list_messages(id, None).await.unwrap().len(), 1);
    assert_eq!(fake.messages(id).len(), 2);
}

#[tokio::test]
async fn a_bad_token_is_fatal_and_not_echoed() {
    let (fake, _) = setup().await;
    let client = client_for(&fake.url(), "wrong-token-xyz");
    let err = client.find_contact("31641238876@c.us").await.unwrap_err();
    assert!(
        matches!(
            err,
            OutboundError::Fatal {
                service: "chatwoot",
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.contains("Invalid Access Token") && !text.contains("wrong-token-xyz"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_conversation_is_fatal_404() {
    let (_fake, client) = setup().await;
    let err = client.get_conversation(999).await.unwrap_err();
    assert_eq!((err.status(), err.is_retryable()), (Some(404), false));
    assert!(err.to_string().contains("Resource could not be found"));
}

#[tokio::test]
async fn down_is_retryable_until_it_comes_back() {
    let (fake, client) = setup().await;
    let id = fake.seed_conversation("31641238876@c.us", "Sanne", vec![]);
    fake.set_down(true);
    let err = client.get_conversation(id).await.unwrap_err();
    assert!(
        matches!(
            err,
            OutboundError::Retryable {
                service: "chatwoot",
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    fake.set_down(false);
    assert_eq!(client.get_conversation(id).await.unwrap().status, "pending");
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client_for(&url, TOKEN).get_conversation(1).await.unwrap_err();
    assert!(
        matches!(err, OutboundError::Retryable { status: None, .. }),
        "{err:?}"
    );
}
