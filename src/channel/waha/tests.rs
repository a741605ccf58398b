use super::*;
use crate::domain::{InboundMessage, ParseError};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/waha/", $name))
    };
}

fn parse(body: &str, allow_groups: bool) -> Result<WahaEvent, ParseError> {
    parse_webhook(body.as_bytes(), allow_groups)
}

fn message(body: &str, allow_groups: bool) -> (String, InboundMessage) {
    match parse(body, allow_groups) {
        Ok(WahaEvent::Message { session, message }) => (session, message),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn ignored_reason(body: &str, allow_groups: bool) -> String {
    match parse(body, allow_groups) {
        Ok(WahaEvent::Ignored { reason }) => reason,
        other => panic!("expected ignored, got {other:?}"),
    }
}

fn invalid_payload(body: &str) -> String {
    match parse(body, false) {
        Err(ParseError::InvalidPayload(field)) => field,
        other => panic!("expected invalid payload, got {other:?}"),
    }
}

/// A minimal message webhook with `payload` replaced.
fn with_payload(payload: Value) -> String {
    json!({ "event": "message", "session": "default", "payload": payload }).to_string()
}

#[test]
fn webjs_direct_message() {
    let (session, msg) = message(fixture!("webhook_message.json"), false);
    assert_eq!(session, "default");
    assert_eq!(
        msg,
        InboundMessage {
            channel: ChannelKind::Waha,
            chat_id: "31641238876@c.us".into(),
            message_id: "A5C1E0F7B2D94C6E8A13F0B7D2E95C41".into(),
            text: "Goedemiddag! Is de BMW X5 xDrive50e uit jullie advertentie nog beschikbaar? Ik ben erg geïnteresseerd 🚗"
                .into(),
            sender_name: Some("Sanne".into()),
            timestamp: 1_784_016_891,
            media: None,
        }
    );
}

#[test]
fn gows_lid_message() {
    let (_, msg) = message(fixture!("webhook_message_lid.json"), false);
    assert_eq!(msg.chat_id, "183742059381207@lid");
    assert_eq!(msg.message_id, "3A7D0E5C91B24F6A83C2");
    assert_eq!(msg.sender_name.as_deref(), Some("Daan Visser"));
    assert_eq!(msg.timestamp, 1_784_017_872);
    assert!(
        msg.text
            .starts_with("Hoi, hebben jullie de X5 ook met een trekhaak?")
    );
}

#[test]
fn message_any_from_api_is_our_own_echo() {
    assert_eq!(
        ignored_reason(fixture!("webhook_message_any_from_api.json"), false),
        "echo of our own message"
    );
}

#[test]
fn from_me_typed_on_the_phone_is_ignored() {
    let body = with_payload(
        json!({ "id": "true_31641238876@c.us_ABC", "fromMe": true, "source": "app", "body": "hoi" }),
    );
    assert_eq!(ignored_reason(&body, false), "sent by us");
}

#[test]
fn group_message_is_ignored_unless_groups_are_allowed() {
    assert_eq!(
        ignored_reason(fixture!("webhook_message_group.json"), false),
        "group chat"
    );
    let (_, msg) = message(fixture!("webhook_message_group.json"), true);
    assert_eq!(msg.chat_id, "120363405718342019@g.us");
    assert_eq!(msg.message_id, "AB41F07C93D25E8A16C4F0B7E2D9A358");
    assert_eq!(msg.sender_name.as_deref(), Some("Ruud Bakker"));
}

#[test]
fn image_with_caption_gets_a_placeholder() {
    let (_, msg) = message(fixture!("webhook_message_media.json"), false);
    assert_eq!(
        msg.text,
        "[image] Hier is een foto van mijn XC60 voor de taxatie. Kleine kras op de achterbumper."
    );
    assert_eq!(msg.message_id, "C7E2049B3F5A4D18B6E0A9C3F1D72E58");
}

#[test]
fn ack_and_session_status_are_not_handled() {
    assert_eq!(
        ignored_reason(fixture!("webhook_message_ack.json"), false),
        "event message.ack is not handled"
    );
    assert_eq!(
        ignored_reason(fixture!("webhook_session_status.json"), false),
        "event session.status is not handled"
    );
}

#[test]
fn media_kinds_and_captions() {
    let cases = [
        (
            json!({ "hasMedia": true, "_data": { "type": "ptt" } }),
            "[voice note]",
        ),
        (
            json!({ "hasMedia": true, "media": { "mimetype": "audio/ogg" } }),
            "[audio]",
        ),
        (
            json!({ "hasMedia": true, "media": { "mimetype": "video/mp4" }, "body": "kijk" }),
            "[video] kijk",
        ),
        (
            json!({ "hasMedia": false, "_data": { "type": "sticker" } }),
            "[sticker]",
        ),
        (
            json!({ "hasMedia": true, "media": { "mimetype": "application/pdf", "filename": "offerte.pdf" } }),
            "[document] offerte.pdf",
        ),
        (
            json!({ "hasMedia": true, "_data": { "type": "document", "filename": "a.pdf" }, "body": "zie bijlage" }),
            "[document] a.pdf zie bijlage",
        ),
        (json!({ "hasMedia": true, "media": null }), "[media]"),
        (
            json!({ "_data": { "message": { "audioMessage": { "ptt": true } } } }),
            "[voice note]",
        ),
        (
            json!({ "_data": { "Message": { "imageMessage": { "caption": "x" } } }, "body": "x" }),
            "[image] x",
        ),
        (
            json!({ "_data": { "Info": { "MediaType": "image" } } }),
            "[image]",
        ),
    ];
    for (extra, expected) in cases {
        let mut payload = json!({ "id": "false_31641238876@c.us_M1", "fromMe": false });
        payload
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (_, msg) = message(&with_payload(payload), false);
        assert_eq!(msg.text, expected);
    }
}

#[test]
fn empty_messages_are_ignored() {
    for body in [json!(null), json!(""), json!("   ")] {
        let payload = json!({ "id": "false_31641238876@c.us_M1", "body": body, "hasMedia": false });
        assert_eq!(ignored_reason(&with_payload(payload), false), "empty message");
    }
}

#[test]
fn body_is_trimmed_and_noweb_push_name_is_read() {
    let payload = json!({ "id": "false_31641238876@s.whatsapp.net_M9", "body": "  hoi \n", "_data": { "pushName": "Piet" } });
    let (_, msg) = message(&with_payload(payload), false);
    assert_eq!(msg.text, "hoi");
    assert_eq!(msg.chat_id, "31641238876@s.whatsapp.net");
    assert_eq!(msg.sender_name.as_deref(), Some("Piet"));
    assert_eq!(msg.timestamp, 0);
}

#[test]
fn broadcasts_newsletters_and_unknown_chats_are_ignored() {
    for (chat, reason) in [
        ("status@broadcast", "status update"),
        ("12345@broadcast", "broadcast list"),
        ("120363000000@newsletter", "newsletter channel"),
        ("something@else", "unsupported chat type"),
    ] {
        let payload = json!({ "id": format!("false_{chat}_M1"), "body": "hoi" });
        assert_eq!(ignored_reason(&with_payload(payload), true), reason, "{chat}");
    }
}

#[test]
fn id_without_segments_falls_back_to_from() {
    let payload = json!({ "id": "ABCDEF", "from": "31641238876@c.us", "body": "hoi" });
    let (_, msg) = message(&with_payload(payload), false);
    assert_eq!(msg.chat_id, "31641238876@c.us");
    assert_eq!(msg.message_id, "ABCDEF");
    let payload = json!({ "id": "ABCDEF", "body": "hoi" });
    assert!(invalid_payload(&with_payload(payload)).starts_with("payload.from"));
}

#[test]
fn timestamps_are_read_leniently() {
    assert_eq!(timestamp_secs(Some(&json!(1_784_016_891))), 1_784_016_891);
    assert_eq!(timestamp_secs(Some(&json!("1784016891"))), 1_784_016_891);
    assert_eq!(timestamp_secs(Some(&json!(1_784_016_891_694_i64))), 1_784_016_891);
    assert_eq!(timestamp_secs(Some(&json!(null))), 0);
    assert_eq!(timestamp_secs(None), 0);
}

#[test]
fn malformed_bodies_are_errors_not_panics() {
    assert!(matches!(parse("", false), Err(ParseError::InvalidJson(_))));
    assert!(matches!(
        parse("{not json", false),
        Err(ParseError::InvalidJson(_))
    ));
    assert!(invalid_payload("[]").starts_with("event"));
    assert!(invalid_payload("42").starts_with("event"));
    assert!(invalid_payload(r#"{"event":1}"#).starts_with("event"));
    assert!(invalid_payload(r#"{"payload":{}}"#).starts_with("event"));
    assert!(invalid_payload(r#"{"event":"message"}"#).starts_with("payload"));
    assert!(invalid_payload(r#"{"event":"message","payload":[]}"#).starts_with("payload"));
    assert_eq!(
        invalid_payload(r#"{"event":"message","payload":{"body":"hoi"}}"#),
        "payload.id: missing"
    );
    assert!(invalid_payload(r#"{"event":"message","payload":{"id":7}}"#).starts_with("payload.id"));
    assert!(invalid_payload(r#"{"event":"message.any","payload":{"id":""}}"#).starts_with("payload.id"));
}

#[test]
fn odd_but_valid_inputs_never_panic() {
    let bodies = [
        r#"{"event":"message","payload":{"id":"___"}}"#,
        r#"{"event":"message","payload":{"id":"_","from":""}}"#,
        r#"{"event":"message","payload":{"id":"false__x","from":"a@c.us","body":1}}"#,
        r#"{"event":"message","payload":{"id":"false_a@c.us_x","hasMedia":"yes","_data":[]}}"#,
        r#"{"event":"message","payload":{"id":"false_a@c.us_x","_data":{"message":{"Message":null}}}}"#,
        r#"{"event":"message","payload":{"id":"false_a@c.us_x","timestamp":1e300,"body":"x"}}"#,
        r#"{"event":"message","payload":{"id":"false_a@c.us_x","timestamp":-5,"body":"é"}}"#,
    ];
    for body in bodies {
        let _ = parse(body, true);
    }
}

#[test]
fn send_text_body_matches_the_fixture() {
    let settings = WahaSettings {
        base_url: "http://waha.test/".into(),
        api_key: None,
        session: "default".into(),
    };
    let client = WahaClient::new(&settings, Duration::from_secs(5));
    assert_eq!(client.base_url, "http://waha.test");
    let expected: Value = serde_json::from_str(fixture!("send_text_request.json")).unwrap();
    let body = client.send_text_body(
        expected["chatId"].as_str().unwrap(),
        expected["text"].as_str().unwrap(),
    );
    assert_eq!(body, expected);
}

#[test]
fn sent_message_id_is_read_defensively() {
    assert_eq!(
        sent_message_id(fixture!("send_text_response_webjs.json").as_bytes()).as_deref(),
        Some("true_31641238876@c.us_3EB0F1A7C3D95E2B8406CA")
    );
    assert_eq!(
        sent_message_id(br#"{"id":"true_1@c.us_X"}"#).as_deref(),
        Some("true_1@c.us_X")
    );
    assert_eq!(sent_message_id(br#"{"key":{"id":"X"}}"#), None);
    assert_eq!(sent_message_id(b""), None);
    assert_eq!(sent_message_id(b"not json"), None);
}

#[test]
fn error_details_are_short_and_name_the_session_status() {
    assert_eq!(
        error_detail(fixture!("error_session_not_ready.json").as_bytes()),
        ": Session status is not as expected. Try again later or restart the session (session status STARTING)"
    );
    assert_eq!(
        error_detail(fixture!("error_unauthorized.json").as_bytes()),
        ": Unauthorized"
    );
    assert_eq!(error_detail(b""), "");
}

#[test]
fn fields_of_an_unexpected_shape_are_ignored_and_escapes_are_read() {
    // Escaped keys and texts read as a full parse reads them; `_data` and `media` of the wrong shape are
    // skipped, not an error; `null` for a required field is "not a string", not "missing".
    let body = r#"{"ev\u0065nt":"message","session":7,"payload":{"id":"false_31641238876@c.us_AB",
        "body":"Hoi \"Anna\"\n\u00e9","_data":["Sanne"],"media":"x","fromMe":"yes","timestamp":"12"}}"#;
    let (session, msg) = message(body, false);
    assert_eq!(session, "default");
    assert_eq!((msg.text.as_str(), msg.sender_name), ("Hoi \"Anna\"\né", None));
    assert_eq!(
        (msg.message_id.as_str(), msg.timestamp, msg.media),
        ("AB", 12, None)
    );
    assert_eq!(
        invalid_payload(r#"{"event":null,"payload":{}}"#),
        "event: not a string"
    );
    assert_eq!(
        invalid_payload(r#"{"event":"message","payload":null}"#),
        "payload: not an object"
    );
    assert_eq!(
        invalid_payload(r#"{"event":"message","payload":{"id":null}}"#),
        "payload.id: not a string"
    );
}
