//! The settings file as `toml_edit` sees it: checked for known keys and single values, and indexed
//! by line so an error can name where a bad value is.
//!
//! Invariants: only the registry's file keys (lower-case, not environment-only) and `mcp_servers` may
//! appear at the top level; an `[[mcp_servers]]` table holds only `name`, `url` and `headers`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml_edit::{ImDocument, Item, TableLike};

use super::{ConfigError, MCP_KEY, file_keys};

/// What `toml_edit` tells about the settings file: its name as shown, and the line of each key.
pub(in crate::config) struct FileIndex {
    /// The path as given, for messages.
    pub shown: String,
    lines: HashMap<String, usize>,
    /// The line of each `[[mcp_servers]]` table (or of the `mcp_servers` key), in order.
    pub mcp_lines: Vec<usize>,
}

/// The 1-based line of byte `span.start` in `text` (1 when unknown).
fn line_of(text: &str, span: Option<Range<usize>>) -> usize {
    span.map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1)
}

impl FileIndex {
    /// Reads and checks the file: valid TOML, known keys only, single values for single settings.
    pub(super) fn read(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.strip_prefix(".").unwrap_or(path).display().to_string();
        let fail = |line: Option<usize>, key: &str, reason: String| ConfigError {
            variable: key.to_owned(),
            origin: Some(match line {
                Some(line) => format!("{shown} line {line}"),
                None => shown.clone(),
            }),
            reason,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(None, "CONFIG_FILE", format!("cannot read the settings file: {e}")))?;
        let doc = ImDocument::parse(text.as_str()).map_err(|e| {
            let line = line_of(&text, e.span());
            fail(
                Some(line),
                "CONFIG_FILE",
                format!("not valid TOML: {}", e.message().trim().replace('\n', "; ")),
            )
        })?;
        let known: Vec<String> = file_keys().collect();
        let table = doc.as_table();
        let mut lines = HashMap::new();
        let mut mcp_lines = Vec::new();
        for (key, item) in table.iter() {
            let line = line_of(
                &text,
                table.key(key).and_then(|k| k.span()).or_else(|| item.span()),
            );
            lines.insert(key.to_owned(), line);
            if key == MCP_KEY {
                mcp_lines = mcp_table_lines(&text, item, line).map_err(|(l, k, r)| fail(Some(l), &k, r))?;
                continue;
            }
            if !known.iter().any(|k| k == key) {
                let hint = if known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                    format!(
                        "unknown setting; keys are lower-case: {}",
                        key.to_ascii_lowercase()
                    )
                } else {
                    "unknown setting; keys are the lower-case setting names of `wa-agent --help` \
                     (e.g. history_window), plus [[mcp_servers]] tables"
                        .to_owned()
                };
                return Err(fail(Some(line), key, hint));
            }
            let scalar = matches!(
                item.as_value(),
                Some(
                    toml_edit::Value::String(_)
                        | toml_edit::Value::Integer(_)
                        | toml_edit::Value::Float(_)
                        | toml_edit::Value::Boolean(_)
                )
            );
            if !scalar {
                return Err(fail(
                    Some(line),
                    key,
                    "expected a single value (text, a number or true/false)".into(),
                ));
            }
        }
        Ok(Self {
            shown,
            lines,
            mcp_lines,
        })
    }

    /// The line of top-level key `key` (1 when unknown).
    pub fn line(&self, key: &str) -> usize {
        self.lines.get(key).copied().unwrap_or(1)
    }
}

/// The line of each MCP server table, after checking that every table holds only `name`, `url`
/// and `headers`. A `name=url,…` string is one "table" at the key's line. Errors: (line, key, reason).
fn mcp_table_lines(text: &str, item: &Item, key_line: usize) -> Result<Vec<usize>, (usize, String, String)> {
    let tables: Vec<(&dyn TableLike, Option<Range<usize>>)> = match item {
        Item::ArrayOfTables(a) => a.iter().map(|t| (t as &dyn TableLike, t.span())).collect(),
        Item::Value(toml_edit::Value::String(_)) => return Ok(vec![key_line]),
        Item::Value(toml_edit::Value::Array(a)) => {
            let mut out = Vec::new();
            for v in a.iter() {
                match v.as_inline_table() {
                    Some(t) => out.push((t as &dyn TableLike, t.span())),
                    None => break,
                }
            }
            if out.len() != a.len() {
                return Err((key_line, MCP_KEY.into(), MCP_SHAPE.into()));
            }
            out
        }
        _ => return Err((key_line, MCP_KEY.into(), MCP_SHAPE.into())),
    };
    let mut lines = Vec::new();
    for (table, span) in tables {
        let table_line = line_of(text, span).max(key_line);
        for (key, _) in table.iter() {
            if !["name", "url", "headers"].contains(&key) {
                let line = line_of(text, table.key(key).and_then(|k| k.span()));
                return Err((
                    line,
                    format!("{MCP_KEY}.{key}"),
                    "unknown key; an [[mcp_servers]] table holds name, url and headers".into(),
                ));
            }
        }
        lines.push(table_line);
    }
    Ok(lines)
}

const MCP_SHAPE: &str = "expected [[mcp_servers]] tables (name, url, headers) or a \"name=url,…\" string";
