//! The span fields of a JSON log line are the same with [`JsonSpanFields`] as with the stock formatter.

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use super::JsonSpanFields;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

#[derive(Debug)]
#[allow(dead_code)]
struct Shape {
    name: &'static str,
}

/// Spans with every kind of value, some recorded later (twice, for `count`), and one event in them.
fn emit() {
    let outer = tracing::info_span!(
        "webhook",
        route = "waha",
        request_id = "req \"1\"\n\u{1}",
        chat_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
        count = 1_u64,
        r#type = "raw",
    );
    let _outer = outer.enter();
    outer.record("chat_id", "31612345678@c.us");
    outer.record("message_id", "ABC\\DEF");
    outer.record("count", 2_u64);
    let inner = tracing::info_span!(
        "turn",
        delta = -3_i64,
        ratio = 0.5_f64,
        nan = f64::NAN,
        ok = true,
        shape = ?Shape { name: "é \"x\"" },
        reason = %"shown\twith tabs",
    );
    let _inner = inner.enter();
    let empty = tracing::info_span!("empty", later = tracing::field::Empty);
    let _empty = empty.enter();
    empty.record("later", "set");
    tracing::info!(answer = 42, "inside");
}

fn line(custom: bool) -> Value {
    let buffer = Buffer::default();
    let builder = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .json()
        .flatten_event(true)
        .with_current_span(true);
    if custom {
        tracing::subscriber::with_default(builder.fmt_fields(JsonSpanFields).finish(), emit);
    } else {
        tracing::subscriber::with_default(builder.finish(), emit);
    }
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn spans_match_the_stock_formatter() {
    let stock = line(false);
    let ours = line(true);
    assert_eq!(ours["spans"], stock["spans"]);
    assert_eq!(ours["span"], stock["span"]);
    let outer = &ours["spans"][0];
    assert_eq!(outer["chat_id"], "31612345678@c.us");
    assert_eq!(outer["message_id"], "ABC\\DEF");
    assert_eq!(outer["request_id"], "req \"1\"\n\u{1}");
    assert_eq!(outer["count"], 2);
    assert_eq!(outer["type"], "raw");
    let inner = &ours["spans"][1];
    assert_eq!(inner["delta"], -3);
    assert_eq!(inner["ratio"], 0.5);
    assert_eq!(inner["nan"], Value::Null);
    assert_eq!(inner["ok"], true);
    assert_eq!(inner["shape"], r#"Shape { name: "é \"x\"" }"#);
    assert_eq!(inner["reason"], "shown\twith tabs");
    assert_eq!(ours["span"], json!({"name": "empty", "later": "set"}));
    assert_eq!(ours["answer"], 42);
}
