use super::*;
use crate::domain::{InboundMessage, ParseError};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/meta/", $name))
    };
}

fn parse(body: &str) -> MetaNotification {
    parse_notification(body.as_bytes()).expect("a valid notification")
}

fn invalid_payload(body: &str) -> String {
    match parse_notification(body.as_bytes()) {
        Err(ParseError::InvalidPayload(m)) => m,
        other => panic!("expected an invalid payload, got {other:?}"),
    }
}

/// A notification with one change whose `value.messages` is `[message]`.
fn with_message(message: Value) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "31332045566", "phone_number_id": "618273645019283"},
            "contacts": [{"profile": {"name": "Jeroen Smit"}, "wa_id": "31628471930", "user_id": "NL.29"}],
            "messages": [message],
        }}]}],
    })
    .to_string()
}

fn only_text(message: Value) -> String {
    let n = parse(&with_message(message));
    assert_eq!(n.messages.len(), 1, "{n:?}");
    n.messages[0].message.text.clone()
}

fn only_ignored(message: Value) -> String {
    let n = parse(&with_message(message));
    assert!(n.messages.is_empty(), "{n:?}");
    n.ignored.join("; ")
}

#[test]
fn text_message() {
    let n = parse(fixture!("webhook_text_message.json"));
    assert!(n.statuses.is_empty() && n.ignored.is_empty());
    assert_eq!(
        n.messages,
        vec![MetaMessage {
            phone_number_id: Some("618273645019283".into()),
            message: InboundMessage {
                channel: ChannelKind::Meta,
                chat_id: "31628471930".into(),
                message_id: "wamid.HBgLMzE2Mjg0NzE5MzAVAgASGBQzQTQxQzdFMDlCMkQ1RjhBNjFFMwA=".into(),
                text: "Goedemiddag, ik ben erg geïnteresseerd in de BMW X5 xDrive50e 🚙 Kan ik zaterdag een \
                       proefrit maken?"
                    .into(),
                sender_name: Some("Jeroen Smit".into()),
                timestamp: 1_784_106_097,
                media: None,
            },
        }]
    );
}

#[test]
fn every_entry_of_a_batch_is_read() {
    let n = parse(fixture!("webhook_batched_two_messages.json"));
    let texts: Vec<&str> = n.messages.iter().map(|m| m.message.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Nog een vraag:",
            "Leveren jullie de X5 ook met een afneembare trekhaak (3.500 kg)?"
        ]
    );
    assert_ne!(n.messages[0].message.message_id, n.messages[1].message.message_id);
    assert_eq!(n.messages[1].message.timestamp, 1_784_106_374);
}

#[test]
fn image_with_caption() {
    let n = parse(fixture!("webhook_image_message.json"));
    assert_eq!(
        n.messages[0].message.text,
        "[image] Mijn huidige Tesla Model 3 (2021) voor de inruil"
    );
}

#[test]
fn status_only_notification() {
    let n = parse(fixture!("webhook_status_delivered.json"));
    assert!(n.messages.is_empty() && n.ignored.is_empty());
    assert_eq!(
        n.statuses,
        vec![StatusUpdate {
            message_id: "wamid.HBgLMzE2Mjg0NzE5MzAVAgARGBQ4RTJCNEY3MUEwQzkzRDU2QjFFNAA=".into(),
            recipient: "31628471930".into(),
            status: "delivered".into(),
        }]
    );
}

#[test]
fn meta_escaped_bodies_read_the_same() {
    let raw = include_str!("../../../tests/fixtures/signatures.json");
    let vectors: Value = serde_json::from_str(raw).unwrap();
    let body = |name: &str| {
        vectors["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()["body"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        parse(&body("meta_text_escaped_unicode")),
        parse(fixture!("webhook_text_message.json"))
    );
    assert_eq!(
        parse(&body("meta_image_escaped_slashes")),
        parse(fixture!("webhook_image_message.json"))
    );
    assert_eq!(parse(&body("meta_minimal")), MetaNotification::default());
}

#[test]
fn interactive_and_button_replies() {
    let button = json!({"from": "31628471930", "id": "wamid.B", "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Ja, graag"}}});
    assert_eq!(only_text(button), "Ja, graag");
    let list = json!({"from": "31628471930", "id": "wamid.L", "type": "interactive",
        "interactive": {"type": "list_reply",
            "list_reply": {"id": "r1", "title": "Zaterdag", "description": "11:00 in Amersfoort"}}});
    assert_eq!(only_text(list), "Zaterdag (11:00 in Amersfoort)");
    let template = json!({"from": "31628471930", "id": "wamid.T", "type": "button",
        "button": {"payload": "STOP", "text": "Stop promoties"}});
    assert_eq!(only_text(template), "Stop promoties");
    let flow = json!({"from": "31628471930", "id": "wamid.F", "type": "interactive",
        "interactive": {"type": "nfm_reply", "nfm_reply": {}}});
    assert!(only_ignored(flow).contains("nfm_reply"));
}

#[test]
fn media_placeholders() {
    let media = |kind: &str, body: Value| json!({"from": "3161", "id": "wamid.M", "type": kind, kind: body});
    assert_eq!(only_text(media("video", json!({"id": "1"}))), "[video]");
    assert_eq!(
        only_text(media("audio", json!({"id": "1", "voice": true}))),
        "[voice note]"
    );
    assert_eq!(only_text(media("audio", json!({"id": "1"}))), "[audio]");
    assert_eq!(
        only_text(media("sticker", json!({"id": "1", "animated": false}))),
        "[sticker]"
    );
    assert_eq!(
        only_text(media(
            "document",
            json!({"filename": "offerte.pdf", "caption": "offerte.pdf"})
        )),
        "[document] offerte.pdf"
    );
    assert_eq!(
        only_text(media(
            "document",
            json!({"filename": "a.pdf", "caption": "De offerte"})
        )),
        "[document] a.pdf De offerte"
    );
    assert_eq!(
        only_text(json!({"from": "3161", "id": "wamid.M", "type": "image"})),
        "[image]"
    );
}

#[test]
fn unanswered_kinds_are_ignored_with_a_reason() {
    for kind in ["reaction", "unsupported"] {
        let reason = only_ignored(json!({"from": "3161", "id": "wamid.X", "type": kind, kind: {}}));
        assert_eq!(reason, format!("{kind} messages are not answered"));
    }
    assert!(only_ignored(json!({"from": "3161", "id": "wamid.X", "type": "hologram"})).contains("hologram"));
    assert_eq!(
        only_ignored(json!({"from": "3161", "id": "wamid.X", "type": "text", "text": {"body": "  "}})),
        "empty message"
    );
    assert_eq!(
        only_ignored(json!({"from": "3161", "type": "text"})),
        "message without id"
    );
    assert_eq!(
        only_ignored(json!({"id": "wamid.X", "type": "text"})),
        "message without from"
    );
}

#[test]
fn a_user_known_only_by_a_username_is_answered_on_the_user_id() {
    let message = json!({"from_user_id": "NL.29", "id": "wamid.U", "timestamp": "17", "type": "text",
        "text": {"body": "Hoi"}});
    let n = parse(&with_message(message));
    let m = &n.messages[0].message;
    assert_eq!(m.chat_id, "NL.29");
    assert_eq!(m.sender_name.as_deref(), Some("Jeroen Smit"));
    assert_eq!(m.timestamp, 17);
}

#[test]
fn one_bad_item_does_not_hide_the_good_ones() {
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "1"},
        {"changes": [{"field": "account_update", "value": {}}, {"field": "messages"}]},
        {"changes": [{"field": "messages", "value": {"messages": [
            "not an object",
            {"from": "3161", "id": "wamid.OK", "type": "text", "text": {"body": "Hallo"}},
        ], "statuses": [{"id": "wamid.S"}]}}]},
    ]});
    let n = parse(&body.to_string());
    assert_eq!(n.messages.len(), 1);
    assert_eq!(n.messages[0].phone_number_id, None);
    assert_eq!(
        n.ignored,
        vec![
            "entry without changes",
            "field account_update is not handled",
            "change without value",
            "message without id",
            "status without id or status",
        ]
    );
}

#[test]
fn the_envelope_must_be_a_business_account_notification() {
    assert!(matches!(
        parse_notification(b"{nope"),
        Err(ParseError::InvalidJson(_))
    ));
    assert!(invalid_payload("[]").starts_with("object: missing"));
    assert!(invalid_payload(r#"{"entry":[]}"#).starts_with("object: missing"));
    assert!(invalid_payload(r#"{"object":"page","entry":[]}"#).contains("whatsapp_business_account"));
    assert_eq!(invalid_payload(r#"{"object":1}"#), "object: not a string");
    assert_eq!(
        invalid_payload(r#"{"object":"whatsapp_business_account"}"#),
        "entry: missing"
    );
    assert_eq!(
        invalid_payload(r#"{"object":"whatsapp_business_account","entry":{}}"#),
        "entry: not an array"
    );
}

#[test]
fn the_sent_id_is_the_first_message_id() {
    assert_eq!(
        sent_message_id(fixture!("send_text_response.json").as_bytes()).as_deref(),
        Some("wamid.HBgLMzE2Mjg0NzE5MzAVAgARGBQ4RTJCNEY3MUEwQzkzRDU2QjFFNAA=")
    );
    assert_eq!(sent_message_id(b""), None);
    assert_eq!(sent_message_id(br#"{"messages":[]}"#), None);
}

/// `classify` of a `send` answer with `status`, `body` and no headers.
fn classify_send(status: u16, body: &[u8]) -> OutboundError {
    classify(
        "send",
        StatusCode::from_u16(status).unwrap(),
        &HeaderMap::new(),
        body,
    )
}

#[test]
fn graph_errors_are_classified() {
    let graph =
        |code: i64| json!({"error": {"message": "x", "type": "OAuthException", "code": code}}).to_string();
    let fatal = classify_send(400, fixture!("error.json").as_bytes());
    assert!(!fatal.is_retryable());
    assert_eq!((fatal.service(), fatal.status()), ("meta", Some(400)));
    assert!(
        fatal
            .to_string()
            .contains("400 (code 131030): (#131030) Recipient"),
        "{fatal}"
    );
    for code in RETRYABLE_CODES {
        let err = classify_send(400, graph(code).as_bytes());
        assert!(err.is_retryable(), "{code}");
        assert_eq!(err.status(), Some(400), "{code}");
    }
    for code in [100, 190, 131026, 131047, 131051] {
        assert!(
            !classify_send(400, graph(code).as_bytes()).is_retryable(),
            "{code}"
        );
    }
    assert!(classify_send(429, b"").is_retryable());
    assert!(classify_send(503, b"<html>").is_retryable());
    assert!(!classify_send(401, b"").is_retryable());
    let mut headers = HeaderMap::new();
    headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
    let err = classify("send", StatusCode::TOO_MANY_REQUESTS, &headers, b"");
    assert!(matches!(err, OutboundError::Retryable { retry_after: Some(d), .. } if d.as_secs() == 7));
    // A throttling code under a 400 honours the Retry-After too.
    let err = classify(
        "send",
        StatusCode::BAD_REQUEST,
        &headers,
        graph(130429).as_bytes(),
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
}

#[test]
fn the_client_needs_a_token_and_a_phone_number_id_and_hides_the_token() {
    let mut settings = MetaSettings {
        graph_base_url: "https://graph.example.com/v25.0/".into(),
        access_token: Some(SecretString::from("EAAG-secret-token")),
        phone_number_id: Some("618273645019283".into()),
        app_secret: None,
        verify_token: None,
    };
    let client = MetaClient::new(&settings, Duration::from_secs(1)).expect("configured");
    assert_eq!(
        client.messages_url,
        "https://graph.example.com/v25.0/618273645019283/messages"
    );
    assert!(!format!("{client:?}").contains("EAAG"));
    let err = client.redact(OutboundError::fatal(SERVICE, "echoed EAAG-secret-token back"));
    assert_eq!(err.to_string(), "meta failed: echoed [redacted] back");
    settings.phone_number_id = None;
    assert!(MetaClient::new(&settings, Duration::from_secs(1)).is_none());
}
