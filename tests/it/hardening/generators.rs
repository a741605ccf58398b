//! Generators: words, keys, JSON trees, gateway-shaped bodies, mutated fixtures and header values.

use super::*;

#[rustfmt::skip]
pub(super) const KEYS: &[&str] = &[
    "object", "entry", "id", "changes", "field", "value", "metadata", "phone_number_id", "contacts",
    "profile", "name", "wa_id", "user_id", "messages", "from", "from_user_id", "timestamp", "type",
    "text", "body", "image", "video", "audio", "voice", "document", "sticker", "caption", "filename",
    "interactive", "button_reply", "list_reply", "title", "description", "button", "statuses", "status",
    "recipient_id", "event", "session", "payload", "fromMe", "source", "to", "participant", "hasMedia",
    "media", "mimetype", "url", "_data", "notifyName", "Info", "PushName", "Message", "message",
    "message_type", "content", "private", "sender", "conversation", "account", "inbox", "source_id",
    "assignee", "meta", "changed_attributes", "content_attributes", "additional_attributes",
];

#[rustfmt::skip]
pub(super) const WORDS: &[&str] = &[
    "whatsapp_business_account", "messages", "message", "message.any", "message.ack",
    "session.status", "text", "image", "video", "audio", "voice", "document", "sticker",
    "interactive", "button_reply", "list_reply", "button", "location", "reaction", "unsupported",
    "31628471930", "31641238876@c.us", "183742059381207@lid", "120363@g.us", "status@broadcast",
    "false_31641238876@c.us_A5C1E0F7", "true_1@c.us_X", "false__", "_", "wamid.HBgL", "api", "app",
    "618273645019283", "delivered", "read", "failed", "message_created", "message_updated",
    "conversation_status_changed", "conversation_updated", "incoming", "outgoing", "pending", "open",
    "wa-agent:r-1", "user", "agent_bot", "contact", "", " ", "1784106097", "-1", "1e309", "null",
];

pub(super) fn word() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[ -~]{0,24}",
    ]
    .boxed()
}

pub(super) fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
    .boxed()
}

pub(super) fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        word().prop_map(Value::from),
    ]
    .boxed()
}

/// Arbitrary JSON trees whose keys and strings are often the ones the parsers look for.
pub(super) fn json_value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(5, 96, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..8)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
        .boxed()
}

/// `good` most of the time, else any JSON.
pub(super) fn mostly(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![3 => good, 1 => json_value()].boxed()
}

pub(super) fn s(words: &'static [&'static str]) -> BoxedStrategy<Value> {
    mostly(prop::sample::select(words).prop_map(Value::from))
}

/// Values shaped like a Cloud API notification, each part possibly wrong.
pub(super) fn meta_like() -> BoxedStrategy<Value> {
    let media = (
        s(&["image", "video", "audio", "voice", "document", "sticker"]),
        json_value(),
    );
    let message = (
        s(&["31628471930", "", "NL.29"]),
        s(&["wamid.A", "wamid.B", ""]),
        s(&[
            "text",
            "image",
            "interactive",
            "button",
            "reaction",
            "document",
            "audio",
            "x",
        ]),
        mostly(word().prop_map(|w| json!({ "body": w }))),
        mostly(
            word().prop_map(|w| json!({"type": "list_reply", "list_reply": {"title": w, "description": w}})),
        ),
        media,
        s(&["1784106097", "", "-5", "99999999999999999999"]),
    )
        .prop_map(|(from, id, kind, text, interactive, (mk, mv), ts)| {
            let mut m = json!({"from": from, "id": id, "type": kind, "text": text,
                "interactive": interactive, "timestamp": ts});
            if let Some(k) = mk.as_str() {
                m[k] = mv;
            }
            m
        });
    let status = mostly(
        (
            s(&["wamid.S", ""]),
            s(&["sent", "delivered", "read", "failed", "odd"]),
        )
            .prop_map(|(id, st)| json!({"id": id, "status": st, "recipient_id": "31628471930"})),
    );
    let value = (
        mostly(s(&["618273645019283", "1"]).prop_map(|id| json!({ "phone_number_id": id }))),
        prop::collection::vec(mostly(message), 0..4),
        prop::collection::vec(status, 0..3),
        mostly(Just(json!([{"profile": {"name": "Jeroen"}, "wa_id": "31628471930"}]))),
    )
        .prop_map(|(metadata, messages, statuses, contacts)| {
            json!({"metadata": metadata, "messages": messages, "statuses": statuses, "contacts": contacts})
        });
    let change = (s(&["messages", "account_update"]), mostly(value))
        .prop_map(|(field, value)| json!({"field": field, "value": value}));
    let entry = prop::collection::vec(mostly(change), 0..3).prop_map(|changes| json!({"changes": changes}));
    (
        s(&["whatsapp_business_account", "page"]),
        mostly(prop::collection::vec(mostly(entry), 0..3).prop_map(Value::Array)),
    )
        .prop_map(|(object, entry)| json!({"object": object, "entry": entry}))
        .boxed()
}

/// Values shaped like a WAHA event, each part possibly wrong.
pub(super) fn waha_like() -> BoxedStrategy<Value> {
    let payload = (
        mostly(word().prop_map(Value::from)),
        s(&["31641238876@c.us", "1@lid", "1@g.us", "status@broadcast", ""]),
        mostly(any::<bool>().prop_map(Value::from)),
        mostly(word().prop_map(Value::from)),
        mostly(any::<bool>().prop_map(Value::from)),
        json_value(),
        json_value(),
    )
        .prop_map(|(id, from, from_me, body, has_media, data, media)| {
            json!({"id": id, "from": from, "fromMe": from_me, "body": body, "hasMedia": has_media,
                "_data": data, "media": media, "timestamp": 1784016891})
        });
    (
        s(&["message", "message.any", "session.status", "message.ack"]),
        s(&["default", ""]),
        mostly(payload),
    )
        .prop_map(|(event, session, payload)| json!({"event": event, "session": session, "payload": payload}))
        .boxed()
}

/// The webhook fixtures of every sender, compact.
pub(super) fn fixtures() -> Vec<Value> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for sender in ["waha", "meta", "chatwoot"] {
        let mut names: Vec<_> = std::fs::read_dir(format!("{dir}/{sender}"))
            .expect("fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("webhook_"))
            })
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).expect("fixture");
            out.push(serde_json::from_str(&text).expect("fixture JSON"));
        }
    }
    assert!(out.len() >= 18, "{} webhook fixtures", out.len());
    out
}

pub(super) fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Applies one structural mutation at the node `at` picks: replace, remove, stringify or empty it.
pub(super) fn mutate(v: &mut Value, at: Index, op: u8, replacement: Value) {
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    let pointer = all[at.index(all.len())].clone();
    let Some(node) = v.pointer_mut(&pointer) else {
        return;
    };
    match op % 4 {
        0 => *node = replacement,
        1 => *node = Value::String(node.to_string()),
        2 => {
            *node = match node {
                Value::Object(_) => json!({}),
                Value::Array(_) => json!([]),
                Value::String(_) => json!(""),
                Value::Number(_) => json!(0),
                _ => Value::Null,
            }
        }
        _ => {
            let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", ""));
            let last = last.replace("~1", "/").replace("~0", "~");
            match v.pointer_mut(parent) {
                Some(Value::Object(m)) if !pointer.is_empty() => {
                    m.remove(&last);
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => *v = Value::Null,
            }
        }
    }
}

/// Fixture bodies with structural mutations, then possibly byte-level ones.
pub(super) fn mutated_fixture(fixtures: Arc<Vec<Value>>) -> BoxedStrategy<Vec<u8>> {
    let structural = prop::collection::vec((any::<Index>(), any::<u8>(), json_value()), 0..4);
    let bytes = prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..4), 0..3);
    (any::<Index>(), structural, bytes)
        .prop_map(move |(which, changes, byte_changes)| {
            let mut v = fixtures[which.index(fixtures.len())].clone();
            for (at, op, replacement) in changes {
                mutate(&mut v, at, op, replacement);
            }
            let mut body = serde_json::to_vec(&v).expect("json");
            for (at, byte, op) in byte_changes {
                if body.is_empty() {
                    break;
                }
                let i = at.index(body.len());
                match op {
                    0 => body[i] ^= byte | 1,
                    1 => body.insert(i, byte),
                    2 => {
                        body.remove(i);
                    }
                    _ => body.truncate(i),
                }
            }
            body
        })
        .boxed()
}

/// Any JSON-ish body: generic trees, gateway-shaped values, or mutated fixtures.
pub(super) fn json_body(fixtures: Arc<Vec<Value>>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        meta_like().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        waha_like().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        mutated_fixture(fixtures),
    ]
    .boxed()
}

/// Arbitrary bytes, JSON-looking text, or cut-off JSON.
pub(super) fn any_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        "[\\[\\]{}\":,. a-z0-9\\\\-]{0,256}".prop_map(String::into_bytes),
        (json_value(), any::<Index>()).prop_map(|(v, at)| {
            let mut b = serde_json::to_vec(&v).expect("json");
            b.truncate(at.index(b.len() + 1));
            b
        }),
    ]
    .boxed()
}

/// Header values as a sender might get them wrong: arbitrary bytes, near-miss formats, hex.
pub(super) fn header_value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..160),
        "sha256=[0-9a-fA-F]{0,70}".prop_map(String::into_bytes),
        "[0-9a-f]{120,130}".prop_map(String::into_bytes),
        "(sha256=|sha1=|SHA256=| )?[ -~]{0,80}".prop_map(String::into_bytes),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
    ]
    .boxed()
}
