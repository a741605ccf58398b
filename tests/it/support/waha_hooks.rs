//! WAHA webhook bodies built from the shared fixture, for any chat, id and text.

use serde_json::{Value, json};

const MESSAGE: &str = include_str!("../../fixtures/waha/webhook_message.json");

/// A WAHA `message` webhook from `chat_id` with message id `wa_id` saying `text` (compact JSON bytes).
pub fn message(chat_id: &str, wa_id: &str, text: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(MESSAGE).expect("fixture");
    let serialized = format!("false_{chat_id}_{wa_id}");
    v["id"] = json!(format!("evt_{wa_id}"));
    v["payload"]["id"] = json!(serialized);
    v["payload"]["from"] = json!(chat_id);
    v["payload"]["body"] = json!(text);
    v["payload"]["_data"]["id"]["remote"] = json!(chat_id);
    v["payload"]["_data"]["id"]["id"] = json!(wa_id);
    v["payload"]["_data"]["id"]["_serialized"] = json!(serialized);
    v["payload"]["_data"]["body"] = json!(text);
    serde_json::to_vec(&v).expect("json")
}

/// A fixture file (`name` under `tests/fixtures/`) as compact bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    serde_json::to_vec(&fixture_json(name)).expect("json")
}

/// A fixture file (`name` under `tests/fixtures/`) as JSON.
pub fn fixture_json(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&raw).expect("fixture json")
}
