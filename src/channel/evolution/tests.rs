//! Parsing Evolution API webhooks (fixtures in `tests/fixtures/evolution/`) and the `number` rule.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/evolution/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

pub(super) fn message(name: &str) -> (String, InboundMessage) {
    match parse_webhook(&fixture(name), false).unwrap() {
        EvolutionEvent::Message { instance, message } => (instance, message),
        other => panic!("{name}: {other:?}"),
    }
}

fn ignored_reason(body: &[u8], allow_groups: bool) -> String {
    match parse_webhook(body, allow_groups).unwrap() {
        EvolutionEvent::Ignored { reason } => reason,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lid_dm_is_answered_under_its_phone_jid() {
    let (instance, m) = message("webhook_messages_upsert.json");
    assert_eq!(instance, "vandermeer-verkoop");
    assert_eq!(m.channel, ChannelKind::Evolution);
    assert_eq!(m.chat_id, "31611987345@s.whatsapp.net");
    assert_eq!(m.message_id, "3A9C1B7E04D2F58A6B31");
    assert!(m.text.contains("BMW X5"));
    assert_eq!(m.sender_name.as_deref(), Some("Lotte Mulder"));
    assert_eq!(m.timestamp, 1_784_019_931);
}

#[test]
fn the_phone_twin_is_the_same_chat_and_message() {
    let (_, lid) = message("webhook_messages_upsert.json");
    let (_, pn) = message("webhook_messages_upsert_pn_twin.json");
    assert_eq!((lid.chat_id, lid.message_id), (pn.chat_id, pn.message_id));
}

#[test]
fn own_group_and_status_messages_are_ignored() {
    assert_eq!(
        ignored_reason(&fixture("webhook_messages_upsert_from_me.json"), false),
        "sent by us"
    );
    assert_eq!(
        ignored_reason(&fixture("webhook_messages_upsert_group.json"), false),
        "group chat"
    );
    assert_eq!(
        ignored_reason(&fixture("webhook_messages_upsert_status.json"), true),
        "status update"
    );
    match parse_webhook(&fixture("webhook_messages_upsert_group.json"), true).unwrap() {
        EvolutionEvent::Message { message, .. } => assert_eq!(message.chat_id, "120363041876523901@g.us"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_events_are_ignored_and_bad_bodies_name_the_field() {
    let reason = ignored_reason(br#"{"event":"connection.update","data":{"state":"open"}}"#, false);
    assert!(reason.contains("connection.update"), "{reason}");
    assert!(matches!(
        parse_webhook(b"{", false),
        Err(ParseError::InvalidJson(_))
    ));
    let err = parse_webhook(
        br#"{"event":"messages.upsert","data":{"key":{"remoteJid":"1@s.whatsapp.net"}}}"#,
        false,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ParseError::InvalidPayload("data.key.id: missing or empty".into())
    );
    let err = parse_webhook(br#"{"event":"messages.upsert"}"#, false).unwrap_err();
    assert_eq!(err, ParseError::InvalidPayload("data: missing".into()));
    let err = parse_webhook(b"[1]", false).unwrap_err();
    assert!(matches!(err, ParseError::InvalidPayload(_)));
}

#[test]
fn media_and_wrapped_messages_become_placeholders() {
    let body = |message: Value| {
        serde_json::to_vec(&json!({
            "event": "messages.upsert", "instance": "i",
            "data": {"key": {"remoteJid": "31611987345@s.whatsapp.net", "fromMe": false, "id": "X"}, "message": message}
        }))
        .unwrap()
    };
    let text = |message: Value| match parse_webhook(&body(message), false).unwrap() {
        EvolutionEvent::Message { message, .. } => message.text,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        text(json!({"imageMessage": {"caption": "Mijn auto"}})),
        "[image] Mijn auto"
    );
    assert_eq!(text(json!({"audioMessage": {"ptt": true}})), "[voice note]");
    assert_eq!(text(json!({"extendedTextMessage": {"text": "Hoi"}})), "Hoi");
    assert_eq!(
        text(json!({"ephemeralMessage": {"message": {"conversation": "Weg"}}})),
        "Weg"
    );
    assert_eq!(
        text(
            json!({"documentWithCaptionMessage": {"message": {"documentMessage": {"fileName": "offerte.pdf"}}}})
        ),
        "[document] offerte.pdf"
    );
    assert_eq!(
        ignored_reason(&body(json!({"reactionMessage": {"text": "👍"}})), false),
        "empty message"
    );
}

#[test]
fn numbers_are_digits_for_phone_jids_and_whole_otherwise() {
    assert_eq!(number_of("31611987345@s.whatsapp.net"), "31611987345");
    assert_eq!(number_of("229184736501928@lid"), "229184736501928@lid");
    assert_eq!(number_of("120363041876523901@g.us"), "120363041876523901@g.us");
}
