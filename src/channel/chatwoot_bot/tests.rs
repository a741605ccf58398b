//! Agent Bot webhooks: which events become `cw:` chat events, and which are left to the mirror.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/chatwoot/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn with(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture(name)).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

const WIDGET: &str = "agent_bot_message_created_web_widget.json";

#[test]
fn chat_ids_round_trip() {
    assert_eq!(chat_id(3, 154), "cw:3:154");
    assert_eq!(parse_chat_id("cw:3:154"), Some((3, 154)));
    assert_eq!(parse_chat_id("31641238876@c.us"), None);
    assert_eq!(parse_chat_id("cw:3:x"), None);
}

#[test]
fn a_widget_customer_message_is_a_customer_event_of_its_conversation() {
    let Some(ChatwootEvent::Queue { dedupe_key, event }) =
        parse_webhook(&fixture(WIDGET), Some((3, 7)), None).unwrap()
    else {
        panic!("queued")
    };
    assert_eq!(dedupe_key, "chatwoot_bot:3:48390");
    let ChatEvent::Customer(m) = event else {
        panic!("customer")
    };
    assert_eq!(
        (m.channel, m.chat_id.as_str(), m.message_id.as_str()),
        (ChannelKind::ChatwootBot, "cw:3:154", "cw-48390")
    );
    assert_eq!(m.sender_name.as_deref(), Some("Jeroen Bakker"));
    assert!(m.timestamp > 1_700_000_000);
}

#[test]
fn the_mirror_inbox_is_left_to_the_mirror() {
    let body = fixture("webhook_message_created_outgoing_human.json");
    assert_eq!(parse_webhook(&body, Some((3, 7)), None).unwrap(), None);
    let status = fixture("webhook_conversation_status_changed_open.json");
    assert_eq!(parse_webhook(&status, Some((3, 7)), None).unwrap(), None);
}

#[test]
fn bot_echoes_and_private_notes_are_ignored_but_human_replies_are_remembered() {
    let echo = with(WIDGET, |v| {
        v["message_type"] = json!("outgoing");
        v["sender"] = json!({"id": 5, "name": "wa-agent", "type": "agent_bot"});
    });
    assert!(matches!(
        parse_webhook(&echo, None, None).unwrap(),
        Some(ChatwootEvent::Ignored(_))
    ));
    let note = with(WIDGET, |v| v["private"] = json!(true));
    assert!(matches!(
        parse_webhook(&note, None, None).unwrap(),
        Some(ChatwootEvent::Ignored(_))
    ));
    let human = with(WIDGET, |v| {
        v["message_type"] = json!("outgoing");
        v["sender"] = json!({"id": 9, "name": "Mark", "type": "user"});
    });
    let Some(ChatwootEvent::Queue {
        event: ChatEvent::HumanReply(r),
        ..
    }) = parse_webhook(&human, None, None).unwrap()
    else {
        panic!("human reply")
    };
    assert_eq!((r.chat_id.as_str(), r.conversation_id), ("cw:3:154", 154));
}

#[test]
fn status_changes_reach_the_gate_of_the_cw_chat() {
    let opened = with("webhook_conversation_status_changed_open.json", |v| {
        v["event"] = json!("conversation_opened");
        v["inbox_id"] = json!(12);
        v["id"] = json!(154);
    });
    let Some(ChatwootEvent::Queue {
        event: ChatEvent::Conversation(c),
        ..
    }) = parse_webhook(&opened, Some((3, 7)), None).unwrap()
    else {
        panic!("update")
    };
    assert_eq!((c.chat_id.as_str(), c.status.as_str()), ("cw:3:154", "open"));
}

#[test]
fn bad_bodies_name_the_field() {
    assert!(matches!(
        parse_webhook(b"{", None, None),
        Err(ParseError::InvalidJson(_))
    ));
    let no_id = with(WIDGET, |v| {
        v.as_object_mut().unwrap().remove("id").map(drop).unwrap()
    });
    assert_eq!(
        parse_webhook(&no_id, None, None).unwrap_err(),
        invalid("id", "missing or not a number")
    );
}
