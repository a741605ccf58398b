//! Signed WAHA `message` webhooks, shaped like the ones a WEBJS session posts.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha512;

/// A WAHA `message` webhook body from `chat_id` (a `…@c.us` id) with message id `wa_id`.
pub fn message(chat_id: &str, wa_id: &str, text: &str) -> Vec<u8> {
    let serialized = format!("false_{chat_id}_{wa_id}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let user = chat_id.split('@').next().unwrap_or(chat_id);
    let body = json!({
        "id": format!("evt_{wa_id}"),
        "timestamp": now_ms,
        "event": "message",
        "session": "default",
        "me": {"id": "31300000000@c.us", "pushName": "Bench Shop"},
        "payload": {
            "id": serialized,
            "timestamp": now_ms / 1000,
            "from": chat_id,
            "fromMe": false,
            "source": "app",
            "body": text,
            "to": "31300000000@c.us",
            "participant": null,
            "hasMedia": false,
            "media": null,
            "ack": 1,
            "ackName": "SERVER",
            "replyTo": null,
            "_data": {
                "id": {"fromMe": false, "remote": chat_id, "id": wa_id, "_serialized": serialized},
                "body": text,
                "type": "chat",
                "t": now_ms / 1000,
                "notifyName": "Bench Customer",
                "from": {"server": "c.us", "user": user, "_serialized": chat_id},
                "to": {"server": "c.us", "user": "31300000000", "_serialized": "31300000000@c.us"},
                "isNewMsg": true,
                "links": []
            }
        },
        "engine": "WEBJS",
        "environment": {"version": "bench", "engine": "WEBJS", "tier": "CORE"}
    });
    serde_json::to_vec(&body).expect("JSON of a literal")
}

/// `X-Webhook-Hmac`: hex HMAC-SHA512 of the body.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A chat id for chat number `n`.
pub fn chat_id(run: u32, n: usize) -> String {
    format!("31{:03}{:06}@c.us", run % 1000, n)
}

/// A number that differs between runs, so ids and chats of one run are new to a Redis reused by the
/// next run.
pub fn run_id() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(0)
}

/// `n` bytes of readable text.
pub fn text(n: usize, seed: usize) -> String {
    let words = [
        "auto", "proefrit", "vraag", "prijs", "kleur", "levering", "garantie", "inruil",
    ];
    let mut out = String::with_capacity(n + 12);
    let mut i = seed;
    while out.len() < n {
        out.push_str(words[i % words.len()]);
        out.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    out.truncate(n);
    out
}
