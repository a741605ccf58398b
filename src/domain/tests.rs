//! Unit tests of the domain types: their stored JSON shapes (history entries, messages, media refs) and
//! the text a message with media gives the agent.

use super::*;

#[test]
fn history_entries_are_stored_compactly_and_both_forms_are_read() {
    let e = HistoryEntry {
        id: "m1".into(),
        role: Role::Customer,
        text: "Hallo".into(),
        at: 5,
    };
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(json, r#"{"i":"m1","r":"c","t":"Hallo","a":5}"#);
    let long: HistoryEntry =
        serde_json::from_str(r#"{"id":"m1","role":"customer","text":"Hallo","at":5}"#).unwrap();
    assert_eq!(long, e);
    let human: HistoryEntry = serde_json::from_str(r#"{"i":"x","r":"human","t":"Hoi","a":1}"#).unwrap();
    assert_eq!(human.role, Role::Human);
}

#[test]
fn messages_without_media_keep_their_stored_shape() {
    let old =
        r#"{"gateway":"waha","chat_id":"31641238876@c.us","message_id":"M1","text":"Hoi","timestamp":5}"#;
    let msg: InboundMessage = serde_json::from_str(old).unwrap();
    assert_eq!(msg.media, None);
    assert_eq!(serde_json::to_string(&msg).unwrap(), old);
}

#[test]
fn the_channel_is_stored_as_gateway_and_read_under_either_name() {
    let new =
        r#"{"channel":"evolution","chat_id":"31611987345@s.whatsapp.net","message_id":"M2","text":"Hoi"}"#;
    let msg: InboundMessage = serde_json::from_str(new).unwrap();
    assert_eq!(msg.channel, ChannelKind::Evolution);
    assert!(
        serde_json::to_string(&msg)
            .unwrap()
            .contains(r#""gateway":"evolution""#)
    );
}

#[test]
fn media_refs_round_trip() {
    let media = MediaRef {
        kind: MediaKind::Voice,
        mime_type: Some("audio/ogg; codecs=opus".into()),
        file_name: None,
        caption: None,
        source: MediaSource::Meta { id: "1298".into() },
    };
    let json = serde_json::to_value(&media).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "voice", "mime_type": "audio/ogg; codecs=opus",
            "source": {"from": "meta", "id": "1298"}})
    );
    assert_eq!(serde_json::from_value::<MediaRef>(json).unwrap(), media);
}

#[test]
fn media_text_joins_placeholder_name_and_caption() {
    assert_eq!(media_text("[image]", None, None), "[image]");
    assert_eq!(
        media_text("[image]", None, Some(" Mijn auto ")),
        "[image] Mijn auto"
    );
    assert_eq!(
        media_text("[document]", Some("a.pdf"), Some("a.pdf")),
        "[document] a.pdf"
    );
    assert_eq!(
        media_text("[document]", Some("a.pdf"), Some("De offerte")),
        "[document] a.pdf De offerte"
    );
}
