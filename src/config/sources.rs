//! The layers behind `Settings` and typed reads of single values.
//!
//! `figment` merges the settings file (`Toml::file_exact`) under the environment (a small provider
//! over the lookup function, so tests can pass a map) and remembers which layer supplied each value;
//! `toml_edit` indexes the file once more for what figment does not keep: the line of every key.
//! Invariants: only known, lower-case setting names and `[[mcp_servers]]` may appear in the file (an
//! unknown key is an error naming it and its line); blank values count as unset in every layer, so an
//! empty variable never hides the file's value; the settings the registry marks environment-only
//! (`CONFIG_FILE`, `RUST_LOG`) are never read from the file. Defaults and number ranges come from the
//! registry: a literal default goes through the same parse as an operator's value.

mod file;

use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::SecretString;

use super::ConfigError;
use super::registry::{SETTINGS, Setting, setting};
pub(super) use file::FileIndex;

/// The settings file read when `CONFIG_FILE` is unset and this file exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "wa-agent.toml";
/// The setting that names the settings file.
const CONFIG_FILE: &str = setting!("CONFIG_FILE").name;
/// The name of the environment layer in figment's metadata and in error messages.
const ENVIRONMENT: &str = "environment";
/// The file's key for MCP servers: `[[mcp_servers]]` tables or a `name=url,…` string.
pub(super) const MCP_KEY: &str = "mcp_servers";

/// The settings file to read: `CONFIG_FILE` (relative to `dir`; it must exist), else
/// `dir/wa-agent.toml` when that exists, else none.
pub fn config_file_path(
    env: &impl Fn(&str) -> Option<String>,
    dir: &Path,
) -> Result<Option<PathBuf>, ConfigError> {
    let Some(given) = env(CONFIG_FILE)
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
            variable: CONFIG_FILE.into(),
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

/// Lower-case keys the file may hold: every setting that is not environment-only (`mcp_servers` is
/// merged by `mcp`).
fn file_keys() -> impl Iterator<Item = String> {
    SETTINGS
        .iter()
        .filter(|s| !s.env_only)
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

    /// The operator's trimmed value of `s`, or `None` when unset or blank (its default not applied).
    pub fn raw(&self, s: &Setting) -> Option<String> {
        self.find(s.name).map(|(v, _)| v)
    }

    /// Whether the operator set `s` (to a non-blank value).
    pub fn is_set(&self, s: &Setting) -> bool {
        self.find(s.name).is_some()
    }

    /// The operator's value of `s`, else its literal default.
    fn value(&self, s: &Setting) -> Option<String> {
        self.raw(s).or_else(|| s.literal().map(str::to_owned))
    }

    /// The value of `s`, else its literal default, else the empty text.
    pub fn string(&self, s: &Setting) -> String {
        self.value(s).unwrap_or_default()
    }

    /// The operator's value of a secret setting.
    pub fn secret(&self, s: &Setting) -> Option<SecretString> {
        debug_assert!(s.secret, "{} is read as a secret but not marked secret", s.name);
        self.raw(s).map(SecretString::from)
    }

    /// An error about the value of `s`, naming the layer it came from (and the file's line).
    pub fn err(&self, s: &Setting, reason: impl Into<String>) -> ConfigError {
        match self.find(s.name).map(|(_, o)| o) {
            Some(Origin::File(line)) => self.file_err(&s.name.to_ascii_lowercase(), line, reason),
            Some(Origin::Environment) => ConfigError {
                variable: s.name.to_owned(),
                origin: Some(ENVIRONMENT.into()),
                reason: reason.into(),
            },
            None => ConfigError::new(s.name, reason),
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

    /// The error for a setting read with neither a value nor a literal default: the registry's mistake.
    fn missing(s: &Setting) -> ConfigError {
        ConfigError::new(
            s.name,
            "is not set and has no default (a mistake in the settings registry)",
        )
    }

    /// A whole number in the registry's range of `s`: the operator's value, else the default.
    pub fn number(&self, s: &Setting) -> Result<u64, ConfigError> {
        let raw = self.value(s).ok_or_else(|| Self::missing(s))?;
        let (min, max) = s.range.unwrap_or((0, u64::MAX));
        match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.err(s, format!("expected {}, got {raw:?}", number_rule(min, max)))),
        }
    }

    /// `true` or `false` (or 1/0, yes/no): the operator's value, else the literal default.
    pub fn flag(&self, s: &Setting) -> Result<bool, ConfigError> {
        let raw = self.value(s).ok_or_else(|| Self::missing(s))?;
        self.parse_flag(s, &raw)
    }

    /// As [`Sources::flag`], for a setting whose default is derived: `derived` when unset.
    pub fn flag_or(&self, s: &Setting, derived: bool) -> Result<bool, ConfigError> {
        match self.raw(s) {
            Some(raw) => self.parse_flag(s, &raw),
            None => Ok(derived),
        }
    }

    fn parse_flag(&self, s: &Setting, raw: &str) -> Result<bool, ConfigError> {
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(self.err(s, format!("expected true or false (or 1/0, yes/no), got {raw:?}"))),
        }
    }

    /// An `http://` or `https://` URL without trailing slashes: the operator's value, else the literal
    /// default; `None` when neither.
    pub fn http_url(&self, s: &Setting) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.value(s) else {
            return Ok(None);
        };
        check_http_url(&raw)
            .map(Some)
            .map_err(|reason| self.err(s, reason))
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
