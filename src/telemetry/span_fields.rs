//! A span's fields as one JSON object, for the JSON log format. The `fmt` layer keeps each span's
//! fields as a formatted string and the JSON event formatter reads it back as an object; the stock
//! formatter builds a sorted map per span and, on every later `record`, parses the string and writes it
//! again. Every webhook records its chat and message ids into its span, so that was done per request.
//! This one writes fields straight into the string and appends later records before the closing brace.
//!
//! Invariants: the string is always one JSON object; values have the stock formatter's JSON types
//! (numbers and booleans as such, strings escaped by serde_json, `Debug` values as strings, bytes as arrays, an `r#`
//! prefix dropped from a name); a field recorded again appears twice and the last one wins when the line
//! is written, as with the stock formatter.

use std::fmt::{self, Write as _};
use std::io;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};

/// Formats a span's fields as a JSON object (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

impl<'w> FormatFields<'w> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        writer.write_char('{')?;
        let mut visitor = Appender::new(&mut writer, true);
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let Some(open) = current.fields.strip_suffix('}').map(str::len) else {
            current.fields.clear();
            return self.format_fields(current.as_writer(), fields);
        };
        current.fields.truncate(open);
        let first = current.fields == "{";
        let mut visitor = Appender::new(&mut current.fields, first);
        fields.record(&mut visitor);
        let result = visitor.result;
        current.fields.push('}');
        result
    }
}

/// Writes `"name":value` pairs, comma-separated, into `out`.
struct Appender<'a> {
    out: &'a mut dyn fmt::Write,
    first: bool,
    result: fmt::Result,
}

impl<'a> Appender<'a> {
    fn new(out: &'a mut dyn fmt::Write, first: bool) -> Self {
        Self {
            out,
            first,
            result: Ok(()),
        }
    }

    fn pair(&mut self, field: &Field, value: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = (|| {
            if !self.first {
                self.out.write_char(',')?;
            }
            self.first = false;
            write_json_str(self.out, name)?;
            self.out.write_char(':')?;
            value(self.out)
        })();
    }
}

impl Visit for Appender<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.pair(field, |out| write!(out, "{}", serde_json::Value::from(value)));
        } else {
            self.pair(field, |out| out.write_str("null"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field, |out| write_json_str(out, value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.pair(field, |out| {
            out.write_char('[')?;
            for (i, b) in value.iter().enumerate() {
                if i > 0 {
                    out.write_char(',')?;
                }
                write!(out, "{b}")?;
            }
            out.write_char(']')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.pair(field, |out| {
            out.write_char('"')?;
            write!(Escaped::new(&mut *out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `s` as a JSON string literal, escaped by serde_json.
fn write_json_str(out: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped::new(&mut *out).write_str(s)?;
    out.write_char('"')
}

/// Escapes what is written to it for the inside of a JSON string: each piece goes through serde_json's
/// string serializer with a formatter that leaves out the quotes, so a `Debug` value can be escaped as
/// it is formatted, without a buffer.
struct Escaped<'a>(serde_json::Serializer<Out<'a>, Unquoted>);

impl<'a> Escaped<'a> {
    fn new(out: &'a mut dyn fmt::Write) -> Self {
        Self(serde_json::Serializer::with_formatter(Out(out), Unquoted))
    }
}

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        serde::Serializer::serialize_str(&mut self.0, s).map_err(|_| fmt::Error)
    }
}

/// serde_json's compact formatting of a string's contents, without the surrounding quotes.
struct Unquoted;

impl serde_json::ser::Formatter for Unquoted {
    fn begin_string<W: io::Write + ?Sized>(&mut self, _writer: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn end_string<W: io::Write + ?Sized>(&mut self, _writer: &mut W) -> io::Result<()> {
        Ok(())
    }
}

/// The `io::Write` serde_json writes to, appending to a `fmt::Write`. serde_json writes a string as
/// slices of it and ASCII escapes, so every write is UTF-8.
struct Out<'a>(&'a mut dyn fmt::Write);

impl io::Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = std::str::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.0.write_str(text).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
