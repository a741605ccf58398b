use super::*;
use reqwest::header::RETRY_AFTER;

const SEARCH: &str = include_str!("../../tests/fixtures/chatwoot/api_contacts_search.json");
const CREATE_CONTACT_REQUEST: &str =
    include_str!("../../tests/fixtures/chatwoot/api_create_contact_request.json");
const CREATE_CONTACT_RESPONSE: &str =
    include_str!("../../tests/fixtures/chatwoot/api_create_contact_response.json");
const CONTACT_CONVERSATIONS: &str =
    include_str!("../../tests/fixtures/chatwoot/api_contact_conversations.json");
const CREATE_CONVERSATION_REQUEST: &str =
    include_str!("../../tests/fixtures/chatwoot/api_create_conversation_request.json");
const CREATE_CONVERSATION_RESPONSE: &str =
    include_str!("../../tests/fixtures/chatwoot/api_create_conversation_response.json");
const CREATE_MESSAGE_REQUEST: &str =
    include_str!("../../tests/fixtures/chatwoot/api_create_message_request.json");
const CREATE_MESSAGE_RESPONSE: &str =
    include_str!("../../tests/fixtures/chatwoot/api_create_message_response.json");
const LIST_MESSAGES: &str = include_str!("../../tests/fixtures/chatwoot/api_list_messages.json");
const TOGGLE_STATUS_RESPONSE: &str =
    include_str!("../../tests/fixtures/chatwoot/api_toggle_status_response.json");
const ERRORS: &str = include_str!("../../tests/fixtures/chatwoot/errors.json");
const WEBHOOK_INCOMING: &str =
    include_str!("../../tests/fixtures/chatwoot/webhook_message_created_incoming.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn error_body(name: &str) -> String {
    let body = &json(ERRORS)[name]["body"];
    body.as_str().map_or_else(|| body.to_string(), str::to_string)
}

#[test]
fn phone_digits_only_for_phone_chats() {
    assert_eq!(phone_digits("31641238876@c.us"), Some("31641238876"));
    assert_eq!(phone_digits("31641238876@s.whatsapp.net"), Some("31641238876"));
    assert_eq!(phone_digits("183742059381207@lid"), None);
    assert_eq!(phone_digits("120363041234567890@g.us"), None);
    assert_eq!(phone_digits("31641238876"), None);
    assert_eq!(phone_digits("0641238876@c.us"), None);
    assert_eq!(phone_digits("1234567890123456@c.us"), None);
}

#[test]
fn search_response_finds_the_contact_by_phone() {
    let found: SearchResponse = serde_json::from_str(SEARCH).unwrap();
    assert_eq!(found.meta.and_then(|m| m.has_more), Some(false));
    let contact = found.payload.unwrap().remove(0);
    // The fixture's identifier is the bare digits, but its contact_inbox in inbox 7 has the chat id.
    assert_eq!(
        contact_rank(&contact, "31641238876@c.us", 7, Some("+31641238876")),
        Some(1)
    );
    assert_eq!(
        contact_rank(&contact, "31641238876@c.us", 8, Some("+31641238876")),
        Some(2)
    );
    assert_eq!(contact_rank(&contact, "31641238876", 8, None), Some(0));
    assert_eq!(
        contact_rank(&contact, "31600000000@c.us", 7, Some("+31600000000")),
        None
    );
    let contact = Contact::from(contact);
    assert_eq!(contact.id, 312);
    assert_eq!(contact.phone_number.as_deref(), Some("+31641238876"));
}

#[test]
fn search_without_q_has_nulls() {
    let body = json(ERRORS)["contacts_search_without_q"]["body"].to_string();
    let found: SearchResponse = serde_json::from_str(&body).unwrap();
    assert!(found.meta.unwrap().has_more.is_none());
    assert!(found.payload.unwrap().is_empty());
}

#[test]
fn contact_request_matches_the_fixture_for_a_lid_chat() {
    let body = contact_request(7, "183742059381207@lid", Some("Daan Visser"));
    assert_eq!(body, json(CREATE_CONTACT_REQUEST));
}

#[test]
fn contact_request_for_a_phone_chat_has_the_phone_and_a_fallback_name() {
    let body = contact_request(7, "31641238876@c.us", Some("  "));
    assert_eq!(body["phone_number"], "+31641238876");
    assert_eq!(body["name"], "+31641238876");
    assert_eq!(body["identifier"], "31641238876@c.us");
    assert_eq!(body["source_id"], "31641238876@c.us");
    let body = contact_request(7, "183742059381207@lid", None);
    assert_eq!(body["name"], "183742059381207@lid");
    assert!(body.get("phone_number").is_none());
}

#[test]
fn create_contact_response_parses() {
    let created: CreateContactResponse = serde_json::from_str(CREATE_CONTACT_RESPONSE).unwrap();
    let contact = Contact::from(created.payload.contact);
    assert_eq!(
        contact,
        Contact {
            id: 517,
            name: Some("Daan Visser".into()),
            identifier: Some("183742059381207@lid".into()),
            phone_number: None,
        }
    );
}

#[test]
fn contact_conversations_pick_the_unresolved_one_in_our_inbox() {
    let list: ConversationList = serde_json::from_str(CONTACT_CONVERSATIONS).unwrap();
    let picked = pick_conversation(list.payload.unwrap(), 7).unwrap();
    assert_eq!(
        picked,
        Conversation {
            id: 87,
            inbox_id: 7,
            status: "open".into(),
            assignee_id: Some(14)
        }
    );
    let list: ConversationList = serde_json::from_str(CONTACT_CONVERSATIONS).unwrap();
    assert_eq!(pick_conversation(list.payload.unwrap(), 8), None);
}

#[test]
fn pick_conversation_prefers_latest_activity_and_skips_resolved() {
    let raw = |id: u64, inbox: u64, status: &str, activity: i64| RawConversation {
        id,
        inbox_id: Some(inbox),
        status: Some(status.into()),
        meta: None,
        last_activity_at: activity,
    };
    let list = vec![
        raw(90, 7, "resolved", 500),
        raw(88, 7, "pending", 300),
        raw(89, 7, "snoozed", 200),
        raw(91, 9, "open", 900),
    ];
    assert_eq!(pick_conversation(list, 7).map(|c| c.id), Some(88));
}

#[test]
fn conversation_request_matches_the_fixture() {
    let body = conversation_request(7, 312, "31641238876@c.us", "waha");
    assert_eq!(body, json(CREATE_CONVERSATION_REQUEST));
}

#[test]
fn created_conversation_is_pending_and_unassigned() {
    let raw: RawConversation = serde_json::from_str(CREATE_CONVERSATION_RESPONSE).unwrap();
    assert_eq!(
        Conversation::from(raw),
        Conversation {
            id: 87,
            inbox_id: 7,
            status: "pending".into(),
            assignee_id: None
        }
    );
}

#[test]
fn message_request_matches_the_fixture() {
    let msg = NewMessage {
        content: json(CREATE_MESSAGE_REQUEST)["content"]
            .as_str()
            .unwrap()
            .to_string(),
        message_type: MessageType::Outgoing,
        private: false,
        source_id: Some("wa-agent:7c2d9e41-5b3a-4f8c-a1e6-2f9b0d4c8a35".into()),
    };
    assert_eq!(message_request(&msg), json(CREATE_MESSAGE_REQUEST));
    let incoming = NewMessage {
        message_type: MessageType::Incoming,
        source_id: None,
        ..msg
    };
    assert_eq!(message_request(&incoming)["message_type"], "incoming");
    assert_eq!(message_request(&incoming)["source_id"], Value::Null);
}

#[test]
fn created_message_parses() {
    let raw: RawMessage = serde_json::from_str(CREATE_MESSAGE_RESPONSE).unwrap();
    let message = Message::from(raw);
    assert_eq!(message.id, 48214);
    assert_eq!(message.message_type, 1);
    assert!(!message.private);
    assert_eq!(
        message.source_id.as_deref(),
        Some("wa-agent:7c2d9e41-5b3a-4f8c-a1e6-2f9b0d4c8a35")
    );
    assert_eq!(message.created_at, 1784016898);
    assert_eq!(message.sender_type.as_deref(), Some("user"));
}

#[test]
fn listed_messages_parse_with_activity_and_notes() {
    let list: MessageList = serde_json::from_str(LIST_MESSAGES).unwrap();
    let messages: Vec<Message> = list.payload.unwrap().into_iter().map(Message::from).collect();
    assert_eq!(messages.len(), 9);
    assert!(messages.windows(2).all(|w| w[0].id < w[1].id));
    let first = &messages[0];
    assert_eq!((first.id, first.message_type), (48213, 0));
    assert_eq!(first.sender_type.as_deref(), Some("contact"));
    let activity = messages.iter().find(|m| m.id == 48232).unwrap();
    assert_eq!(
        (activity.message_type, activity.sender_type.as_deref()),
        (2, None)
    );
    let note = messages.iter().find(|m| m.id == 48244).unwrap();
    assert!(note.private);
    let human = messages.last().unwrap();
    assert_eq!(
        (human.source_id.as_deref(), human.sender_type.as_deref()),
        (None, Some("user"))
    );
}

#[test]
fn nested_webhook_messages_parse_too() {
    let event = json(WEBHOOK_INCOMING);
    let nested = event["conversation"]["messages"][0].clone();
    let message = Message::from(serde_json::from_value::<RawMessage>(nested).unwrap());
    assert_eq!(message.message_type, 0);
    assert!(message.created_at > 1_700_000_000);
    let top: RawMessage = serde_json::from_value(event).unwrap();
    assert_eq!(top.message_type, 0);
}

#[test]
fn unknown_message_types_are_not_incoming() {
    let raw: RawMessage = serde_json::from_str(r#"{"id": 1, "message_type": "mystery"}"#).unwrap();
    assert_eq!(raw.message_type, -1);
    let raw: RawMessage = serde_json::from_str(r#"{"id": 1, "private": null}"#).unwrap();
    assert_eq!((raw.message_type, raw.private, raw.created_at), (-1, false, 0));
}

#[test]
fn toggle_status_response_is_json() {
    let body: Value = serde_json::from_str(TOGGLE_STATUS_RESPONSE).unwrap();
    assert_eq!(body["payload"]["current_status"], "open");
}

#[test]
fn error_bodies_name_their_cause() {
    assert_eq!(
        error_detail(&error_body("missing_access_token")),
        "You need to sign in or sign up before continuing."
    );
    assert_eq!(
        error_detail(&error_body("invalid_access_token")),
        "Invalid Access Token"
    );
    assert_eq!(
        error_detail(&error_body("contact_phone_taken")),
        "Phone number has already been taken"
    );
    assert_eq!(error_detail(&error_body("rate_limited")), "Retry later");
    assert_eq!(
        error_detail("<html>Bad Gateway</html>"),
        "<html>Bad Gateway</html>"
    );
}

fn retry_after_header(seconds: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_str(seconds).unwrap());
    headers
}

#[test]
fn statuses_split_into_retryable_and_fatal() {
    let none = HeaderMap::new();
    let fatal = status_error(
        "GET x",
        StatusCode::UNAUTHORIZED,
        &none,
        &error_body("invalid_access_token"),
    );
    assert!(!fatal.is_retryable());
    assert_eq!(fatal.status(), Some(401));
    assert!(fatal.to_string().contains("HTTP 401: Invalid Access Token"));
    assert!(fatal.to_string().starts_with("chatwoot failed: "), "{fatal}");
    let not_found = status_error("GET x", StatusCode::NOT_FOUND, &none, &error_body("not_found"));
    assert!(!not_found.is_retryable());
    assert_eq!(
        not_found.status(),
        Some(404),
        "the mirror maps a chat afresh on a 404"
    );
    let limited = status_error(
        "GET x",
        StatusCode::TOO_MANY_REQUESTS,
        &retry_after_header("30"),
        &error_body("rate_limited"),
    );
    assert!(matches!(
        limited,
        OutboundError::Retryable { service: "chatwoot", status: Some(429), retry_after: Some(d), .. } if d == Duration::from_secs(30)
    ));
    assert!(status_error("GET x", StatusCode::BAD_GATEWAY, &none, "").is_retryable());
    assert!(status_error("GET x", StatusCode::REQUEST_TIMEOUT, &none, "").is_retryable());
}

#[test]
fn the_flood_limit_is_retryable_but_other_422s_are_not() {
    let flooded = status_error(
        "POST m",
        StatusCode::UNPROCESSABLE_ENTITY,
        &HeaderMap::new(),
        &error_body("message_flood_limit"),
    );
    assert!(matches!(
        flooded,
        OutboundError::Retryable { status: Some(422), retry_after: Some(d), .. } if d == FLOOD_BACKOFF
    ));
    // A Retry-After of its own wins over the default wait.
    let told = status_error(
        "POST m",
        StatusCode::UNPROCESSABLE_ENTITY,
        &retry_after_header("5"),
        &error_body("message_flood_limit"),
    );
    assert_eq!(told.retry_after(), Some(Duration::from_secs(5)));
    let taken = status_error(
        "POST c",
        StatusCode::UNPROCESSABLE_ENTITY,
        &HeaderMap::new(),
        &error_body("contact_phone_taken"),
    );
    assert!(matches!(
        taken,
        OutboundError::Fatal {
            status: Some(422),
            ..
        }
    ));
}

#[test]
fn retry_after_reads_seconds_only() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert(RETRY_AFTER, HeaderValue::from_static("12"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(12)));
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(retry_after(&headers), None);
}

#[test]
fn debug_output_hides_the_token() {
    let settings = ChatwootSettings {
        base_url: "http://chatwoot.test/".into(),
        api_token: SecretString::from("super-secret-token"),
        account_id: 3,
        inbox_id: 7,
    };
    let client = ChatwootClient::new(&settings, Duration::from_secs(5));
    assert_eq!((client.account_id(), client.inbox_id()), (3, 7));
    assert!(!format!("{client:?}").contains("super-secret-token"));
    assert_eq!(client.base_url, "http://chatwoot.test");
}
