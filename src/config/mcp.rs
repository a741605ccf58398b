//! The MCP server list: `MCP_SERVERS` (`name=url,…`, environment or file) merged with the file's
//! `[[mcp_servers]]` tables (`name`, `url`, optional `headers`).
//!
//! Invariants: names are `[a-z0-9_-]+` and unique within each source; when both sources name the same
//! server, the environment's URL wins and the file's headers stay; the result keeps the order of first
//! mention (file first). Header values are secrets and never appear in an error.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

use super::McpServerSettings;
use super::registry::setting;
use super::sources::{MCP_KEY, Sources, check_http_url, non_blank};
use crate::config::ConfigError;

/// The shapes `mcp_servers` may take in the file.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileServers {
    List(String),
    Tables(Vec<FileServer>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    name: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// The merged list.
pub(super) fn servers(
    s: &Sources,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<McpServerSettings>, ConfigError> {
    let mut out = file_servers(s)?;
    let name = setting!("MCP_SERVERS").name;
    let Some(list) = non_blank(env(name)) else {
        return Ok(out);
    };
    let from_env = parse_list(&list).map_err(|reason| ConfigError {
        variable: name.into(),
        origin: Some("environment".into()),
        reason,
    })?;
    for (name, url) in from_env {
        match out.iter_mut().find(|m| m.name == name) {
            Some(existing) => existing.url = url,
            None => out.push(McpServerSettings {
                name,
                url,
                headers: Vec::new(),
            }),
        }
    }
    Ok(out)
}

/// The file's servers, each checked, errors naming the table's line.
fn file_servers(s: &Sources) -> Result<Vec<McpServerSettings>, ConfigError> {
    let Some(file) = s.file().filter(|f| !f.mcp_lines.is_empty()) else {
        return Ok(Vec::new());
    };
    let at = |i: usize, reason: String| {
        let line = file
            .mcp_lines
            .get(i)
            .or(file.mcp_lines.last())
            .copied()
            .unwrap_or(1);
        s.file_err(MCP_KEY, line, reason)
    };
    let parsed: FileServers = s
        .figment()
        .extract_inner(MCP_KEY)
        .map_err(|e| at(0, format!("{}", e.kind)))?;
    let tables = match parsed {
        FileServers::List(list) => {
            let pairs = parse_list(&list).map_err(|r| at(0, r))?;
            return Ok(pairs
                .into_iter()
                .map(|(name, url)| McpServerSettings {
                    name,
                    url,
                    headers: Vec::new(),
                })
                .collect());
        }
        FileServers::Tables(tables) => tables,
    };
    let mut out: Vec<McpServerSettings> = Vec::new();
    for (i, t) in tables.into_iter().enumerate() {
        let name = t.name.trim().to_owned();
        check_name(&name).map_err(|r| at(i, r))?;
        if out.iter().any(|m| m.name == name) {
            return Err(at(
                i,
                format!("the name {name:?} is used twice; names must be unique"),
            ));
        }
        let url = check_http_url(t.url.trim()).map_err(|r| at(i, format!("url: {r}")))?;
        let mut headers = Vec::new();
        for (header, value) in t.headers {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(at(i, format!("headers: {header:?} is not a valid header name")));
            }
            if reqwest::header::HeaderValue::from_str(&value).is_err() {
                return Err(at(
                    i,
                    format!("headers: the value of {header:?} is not a valid header value (not shown)"),
                ));
            }
            headers.push((header, SecretString::from(value)));
        }
        out.push(McpServerSettings { name, url, headers });
    }
    Ok(out)
}

/// `name=url,name=url` → pairs, checked; the reason when an entry is bad.
fn parse_list(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, url)) = entry.split_once('=') else {
            return Err(format!("expected name=url, got {entry:?}"));
        };
        let name = name.trim().to_owned();
        check_name(&name)?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("the name {name:?} is used twice; names must be unique"));
        }
        let url = check_http_url(url.trim()).map_err(|r| format!("{name}: {r}"))?;
        out.push((name, url));
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name {name:?} is not allowed; use lower-case letters, digits, _ and -"
        ))
    }
}
