//! Reading a catalogue file: CSV with a header row, or a JSON array of objects.
//!
//! Invariants: every error names the file and the line that is wrong; a CSV cell that reads as a
//! number becomes a JSON number, every other non-empty cell a string, an empty cell is absent; JSON
//! values keep their type. The format is chosen by the file's extension (`.csv`, `.json`), else by
//! its first non-space byte (`[` or `{`: JSON, anything else: CSV).

use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use super::text::fold;

/// Why a catalogue file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The file could not be read at all.
    #[error("catalogue {path}: cannot read the file: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file's content is wrong at `line`.
    #[error("catalogue {path}, line {line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line of the problem.
        line: u64,
        /// What is wrong there.
        message: String,
    },
}

impl CatalogueError {
    /// The 1-based line that is wrong, when the content (not the file system) is at fault.
    pub fn line(&self) -> Option<u64> {
        match self {
            CatalogueError::Io { .. } => None,
            CatalogueError::Invalid { line, .. } => Some(*line),
        }
    }
}

/// A file's column names (in file order) and its rows (cells aligned with the names; `Null`: absent).
pub(super) struct Table {
    pub names: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

fn invalid(path: &str, line: u64, message: impl Into<String>) -> CatalogueError {
    CatalogueError::Invalid {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// Reads the table from `bytes`, choosing the format from `path`'s extension or the content.
pub(super) fn parse(path: &Path, bytes: &[u8]) -> Result<Table, CatalogueError> {
    let label = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let json = match ext.as_deref() {
        Some("json") => true,
        Some("csv") => false,
        _ => matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'[' | b'{')),
    };
    if json {
        parse_json(&label, bytes)
    } else {
        parse_csv(&label, bytes)
    }
}

/// A CSV cell as a value: empty → `Null`, a plain decimal number → a number, else the text.
/// Numbers with a leading zero (`0612`, postcodes, phone numbers) stay text.
pub(super) fn cell_value(cell: &str) -> Value {
    if cell.is_empty() {
        return Value::Null;
    }
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let numeric = digits.chars().next().is_some_and(|c| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."));
    if numeric {
        if let Ok(i) = cell.parse::<i64>() {
            return Value::from(i);
        }
        if let Some(n) = cell.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(cell.to_owned())
}

fn parse_csv(label: &str, bytes: &[u8]) -> Result<Table, CatalogueError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader.headers().map_err(|e| csv_error(label, &e))?.clone();
    let header_line = headers.position().map_or(1, |p| p.line());
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(invalid(
            label,
            header_line,
            "no header row (the first line must name the columns)",
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(headers.len());
    for (i, name) in headers.iter().enumerate() {
        if name.is_empty() {
            return Err(invalid(
                label,
                header_line,
                format!("column {} of the header row has no name", i + 1),
            ));
        }
        if let Some(other) = names.iter().find(|n| fold(n) == fold(name)) {
            return Err(invalid(
                label,
                header_line,
                format!("duplicate column name {name:?} (same as {other:?}, ignoring case and accents)"),
            ));
        }
        names.push(name.to_owned());
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(label, &e))?;
        rows.push(record.iter().map(cell_value).collect());
    }
    Ok(Table { names, rows })
}

fn csv_error(label: &str, e: &csv::Error) -> CatalogueError {
    let line = e.position().map_or(1, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("this row has {len} fields but the header row has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 (save the file as UTF-8)".to_owned(),
        _ => format!("unreadable CSV: {e}"),
    };
    invalid(label, line, message)
}

fn line_of(text: &str, offset: usize) -> u64 {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
        + 1
}

fn parse_json(label: &str, bytes: &[u8]) -> Result<Table, CatalogueError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = line_of(
            &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
            e.valid_up_to(),
        );
        invalid(label, line, "not valid UTF-8 (save the file as UTF-8)")
    })?;
    let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        let mut message = e.to_string();
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        let message = match e.classify() {
            serde_json::error::Category::Data => {
                format!("the file must be a JSON array of objects ({message})")
            }
            _ => format!("invalid JSON: {message}"),
        };
        invalid(label, e.line().max(1) as u64, message)
    })?;
    let mut names: Vec<String> = Vec::new();
    let mut objects: Vec<Map<String, Value>> = Vec::with_capacity(elements.len());
    for (i, raw) in elements.iter().enumerate() {
        let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let value: Value = serde_json::from_str(raw.get())
            .map_err(|e| invalid(label, line_of(text, offset), format!("invalid JSON: {e}")))?;
        let Value::Object(object) = value else {
            let kind = match value {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            };
            return Err(invalid(
                label,
                line_of(text, offset),
                format!("item {} of the array is {kind}, not an object", i + 1),
            ));
        };
        for key in object.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
        objects.push(object);
    }
    let rows = objects
        .into_iter()
        .map(|mut o| {
            names
                .iter()
                .map(|n| match o.remove(n) {
                    Some(Value::String(s)) if s.trim().is_empty() => Value::Null,
                    Some(v) => v,
                    None => Value::Null,
                })
                .collect()
        })
        .collect();
    Ok(Table { names, rows })
}
