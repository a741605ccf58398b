//! The layers behind `Settings` and typed reads of single values.
//!
//! `figment` merges the settings file (`Toml::file_exact`) under the environment (a small provider
//! over the lookup function, so tests can pass a map) and remembers which layer supplied each value;
//! `toml_edit` indexes the file once more for what figment does not keep: the line of every key.
//! Invariants: only known, lower-case setting names and `[[mcp_servers]]` may appear in the file (an
//! unknown key is an error naming it and its line); blank values count as unset in every layer, so an
//! empty variable never hides the file's value; `CONFIG_FILE` and `RUST_LOG` are read from the
//! environment only.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::SecretString;
use toml_edit::{ImDocument, Item, TableLike};

use super::{ConfigError, SETTINGS};

/// The settings file read when `CONFIG_FILE` is unset and this file exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "wa-agent.toml";
/// The name of the environment layer in figment's metadata and in error messages.
const ENVIRONMENT: &str = "environment";
/// Settings that are read from the environment only (or, for `MCP_SERVERS`, merged by `mcp`).
const ENV_ONLY: [&str; 2] = ["CONFIG_FILE", "RUST_LOG"];
/// The file's key for MCP servers: `[[mcp_servers]]` tables or a `name=url,…` string.
pub(super) const MCP_KEY: &str = "mcp_servers";

/// The settings file to read: `CONFIG_FILE` (relative to `dir`; it must exist), else
/// `dir/wa-agent.toml` when that exists, else none.
pub fn config_file_path(
    env: &impl Fn(&str) -> Option<String>,
    dir: &Path,
) -> Result<Option<PathBuf>, ConfigError> {
    let Some(given) = env("CONFIG_FILE")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    else {
        let default = dir.join(DEFAULT_CONFIG_FILE);
        return Ok(default.is_file().then_some(default));
    };
    let path = dir.join(&given);
    if path.is_file() {
        Ok(Some(path))
    } else {
        Err(ConfigError {
            variable: "CONFIG_FILE".into(),
            origin: Some(ENVIRONMENT.into()),
            reason: format!("no such file {given:?}"),
        })
    }
}

/// Which layer supplied a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    Environment,
    /// The settings file, at this 1-based line.
    File(usize),
}

/// The merged layers of one load.
pub(super) struct Sources {
    figment: Figment,
    file: Option<FileIndex>,
}

/// What `toml_edit` tells about the settings file: its name as shown, and the line of each key.
pub(super) struct FileIndex {
    /// The path as given, for messages.
    pub shown: String,
    lines: HashMap<String, usize>,
    /// The line of each `[[mcp_servers]]` table (or of the `mcp_servers` key), in order.
    pub mcp_lines: Vec<usize>,
}

/// The environment as a figment provider: the non-blank values of the known settings.
struct EnvLayer(Dict);

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENVIRONMENT)
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// Lower-case keys the file may hold for single-valued settings.
fn file_keys() -> impl Iterator<Item = String> {
    SETTINGS
        .iter()
        .filter(|s| !ENV_ONLY.contains(&s.name))
        .map(|s| s.name.to_ascii_lowercase())
}

/// A trimmed, non-blank value.
pub(super) fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl Sources {
    /// Layers `file` (when given) under the variables `env` returns.
    pub fn new(env: &impl Fn(&str) -> Option<String>, file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        let mut index = None;
        if let Some(path) = file {
            index = Some(FileIndex::read(path)?);
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut vars = Dict::new();
        for key in file_keys().filter(|k| k != MCP_KEY) {
            if let Some(value) = non_blank(env(&key.to_ascii_uppercase())) {
                vars.insert(key, Value::from(value));
            }
        }
        Ok(Self {
            figment: figment.merge(EnvLayer(vars)),
            file: index,
        })
    }

    /// The figment, for typed extraction of tables.
    pub fn figment(&self) -> &Figment {
        &self.figment
    }

    /// The file's index, when a file was read.
    pub fn file(&self) -> Option<&FileIndex> {
        self.file.as_ref()
    }

    /// The trimmed value of setting `name` (upper-case) and its layer; `None` when unset or blank.
    fn find(&self, name: &str) -> Option<(String, Origin)> {
        let key = name.to_ascii_lowercase();
        let text = match self.figment.find_value(&key).ok()? {
            Value::String(_, s) => s,
            Value::Char(_, c) => c.to_string(),
            Value::Bool(_, b) => b.to_string(),
            Value::Num(_, n) => match n.to_i128() {
                Some(i) => i.to_string(),
                None => n.to_f64()?.to_string(),
            },
            _ => return None,
        };
        let text = text.trim().to_owned();
        if text.is_empty() {
            return None;
        }
        let origin = match self.figment.find_metadata(&key) {
            Some(m) if m.name == ENVIRONMENT => Origin::Environment,
            _ => Origin::File(self.file.as_ref().map_or(1, |f| f.line(&key))),
        };
        Some((text, origin))
    }

    /// The trimmed value, or `None` when unset or blank.
    pub fn raw(&self, name: &str) -> Option<String> {
        self.find(name).map(|(v, _)| v)
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }

    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.raw(name).map(SecretString::from)
    }

    /// An error about the value of `name`, naming the layer it came from (and the file's line).
    pub fn err(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        match self.find(name).map(|(_, o)| o) {
            Some(Origin::File(line)) => self.file_err(&name.to_ascii_lowercase(), line, reason),
            Some(Origin::Environment) => ConfigError {
                variable: name.to_owned(),
                origin: Some(ENVIRONMENT.into()),
                reason: reason.into(),
            },
            None => ConfigError::new(name, reason),
        }
    }

    /// An error about key `key` of the file at `line`.
    pub fn file_err(&self, key: &str, line: usize, reason: impl Into<String>) -> ConfigError {
        let shown = self
            .file
            .as_ref()
            .map_or(DEFAULT_CONFIG_FILE, |f| f.shown.as_str());
        ConfigError {
            variable: key.to_owned(),
            origin: Some(format!("{shown} line {line}")),
            reason: reason.into(),
        }
    }

    /// An unsigned whole number in `min..=max`; `None` when unset.
    pub fn number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.err(name, format!("expected {}, got {raw:?}", number_rule(min, max)))),
        }
    }

    pub fn number_or(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        Ok(self.number(name, min, max)?.unwrap_or(default))
    }

    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.raw(name) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(self.err(
                name,
                format!("expected true or false (or 1/0, yes/no), got {raw:?}"),
            )),
        }
    }

    /// An `http://` or `https://` URL without trailing slashes; `None` when unset.
    pub fn http_url(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        check_http_url(&raw)
            .map(Some)
            .map_err(|reason| self.err(name, reason))
    }
}

/// `raw` as an `http://` or `https://` URL without trailing slashes, or why it is not one.
pub(super) fn check_http_url(raw: &str) -> Result<String, String> {
    let lower = raw.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.trim_matches('/').is_empty() && !rest.contains(char::is_whitespace) => {
            Ok(raw.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "expected a URL starting with http:// or https://, got {raw:?}"
        )),
    }
}

/// How a number range reads in an error message.
fn number_rule(min: u64, max: u64) -> String {
    match (min, max) {
        (1, u64::MAX) => "a positive whole number".to_owned(),
        (_, u64::MAX) => format!("a whole number of at least {min}"),
        _ => format!("a whole number from {min} to {max}"),
    }
}

/// The 1-based line of byte `span.start` in `text` (1 when unknown).
fn line_of(text: &str, span: Option<Range<usize>>) -> usize {
    span.map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1)
}

impl FileIndex {
    /// Reads and checks the file: valid TOML, known keys only, single values for single settings.
    fn read(path: &Path) -> Result<Self, ConfigError> {
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
