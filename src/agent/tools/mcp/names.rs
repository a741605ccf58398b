//! Offered names and definitions of MCP tools.
//!
//! A tool `t` of server `s` is offered as `s__t`. OpenAI accepts function names matching
//! `^[a-zA-Z0-9_-]{1,64}$`, so every other character (dots, spaces, slashes, non-ASCII) becomes `_`.
//! A name that would be longer than 64 characters, or that clashes with a name already given to another
//! tool of the same server (`a.b` and `a_b` both sanitize to `a_b`), keeps its first 55 characters and
//! ends in `_` plus 8 hex digits of the SHA-256 of `server\0tool`: stable across restarts, distinct per
//! original name. Routing never parses an offered name; it looks it up in the table built here.

use std::collections::HashSet;

use rmcp::model::Tool;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Longest function name OpenAI accepts.
pub const NAME_MAX: usize = 64;
/// Characters of the readable prefix kept in front of the hash suffix.
const HASHED_PREFIX: usize = NAME_MAX - 9;

/// One tool as offered to the model.
#[derive(Debug, Clone)]
pub(super) struct OfferedTool {
    /// The name the model calls (`server__tool`, sanitized).
    pub name: String,
    /// The tool's own name on its server.
    pub remote: String,
    /// The OpenAI `tools` entry.
    pub definition: Value,
}

/// `s` with every character outside `[a-zA-Z0-9_-]` replaced by `_`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The name tool `tool` of server `server` is offered under when nothing clashes with it.
pub fn offered_name(server: &str, tool: &str) -> String {
    let full = format!("{}__{}", sanitize(server), sanitize(tool));
    if full.len() <= NAME_MAX {
        full
    } else {
        hashed_name(server, tool)
    }
}

/// The bounded, collision-free variant: a readable prefix plus a hash of the original names.
fn hashed_name(server: &str, tool: &str) -> String {
    let full = format!("{}__{}", sanitize(server), sanitize(tool));
    let digest = Sha256::digest(format!("{server}\0{tool}").as_bytes());
    // Sanitized names are ASCII, so byte slicing is on a char boundary.
    let prefix = &full[..full.len().min(HASHED_PREFIX)];
    format!("{prefix}_{}", hex::encode(&digest[..4]))
}

/// The offer for one server's tool list, in the server's order.
pub(super) fn assign(server: &str, tools: &[Tool]) -> Vec<OfferedTool> {
    let mut taken = HashSet::new();
    let mut offered = Vec::with_capacity(tools.len());
    for tool in tools {
        let mut name = offered_name(server, &tool.name);
        if taken.contains(&name) {
            name = hashed_name(server, &tool.name);
        }
        if !taken.insert(name.clone()) {
            tracing::warn!(server, tool = %tool.name, "MCP tool listed twice; offered once");
            continue;
        }
        offered.push(OfferedTool {
            definition: definition(&name, server, tool),
            remote: tool.name.to_string(),
            name,
        });
    }
    offered
}

/// The OpenAI `tools` entry: `{"type":"function","function":{"name","description","parameters"}}`.
/// The input schema is passed through; only a missing `type` (→ `object`) and, for objects, a missing
/// `properties` (→ `{}`) are filled in, because some OpenAI-compatible providers refuse schemas without them.
fn definition(name: &str, server: &str, tool: &Tool) -> Value {
    let description = tool
        .description
        .as_deref()
        .map(str::to_owned)
        .or_else(|| tool.title.clone())
        .unwrap_or_else(|| format!("Tool {} of the {server} server.", tool.name));
    let mut parameters: Map<String, Value> = (*tool.input_schema).clone();
    parameters.entry("type").or_insert_with(|| json!("object"));
    if parameters.get("type") == Some(&json!("object")) {
        parameters.entry("properties").or_insert_with(|| json!({}));
    }
    json!({
        "type": "function",
        "function": { "name": name, "description": description, "parameters": parameters },
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn valid(name: &str) -> bool {
        (1..=NAME_MAX).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    fn tool(name: &str) -> Tool {
        Tool::new(name.to_owned(), "d", Arc::new(Map::new()))
    }

    #[test]
    fn plain_names_are_joined_with_two_underscores() {
        assert_eq!(
            offered_name("dealer", "check_test_drive_slots"),
            "dealer__check_test_drive_slots"
        );
    }

    #[test]
    fn foreign_characters_become_underscores() {
        assert_eq!(
            offered_name("my dealer", "stock.search/v2"),
            "my_dealer__stock_search_v2"
        );
        assert_eq!(offered_name("crm", "prüfen"), "crm__pr_fen");
    }

    #[test]
    fn long_names_are_cut_with_a_stable_distinct_hash() {
        let long = "x".repeat(80);
        let a = offered_name("dealer", &format!("{long}a"));
        let b = offered_name("dealer", &format!("{long}b"));
        assert!(valid(&a) && valid(&b), "{a} / {b}");
        assert_eq!(a.len(), NAME_MAX);
        assert_ne!(a, b);
        assert_eq!(a, offered_name("dealer", &format!("{long}a")));
        assert!(a.starts_with("dealer__xxx"));
    }

    #[test]
    fn names_that_sanitize_alike_stay_distinct() {
        let offered = assign("s", &[tool("a.b"), tool("a_b"), tool("a b")]);
        let names: HashSet<_> = offered.iter().map(|t| t.name.clone()).collect();
        assert_eq!(names.len(), 3);
        assert_eq!(offered[0].name, "s__a_b");
        assert!(offered.iter().all(|t| valid(&t.name)));
        assert_eq!(offered[1].remote, "a_b");
    }

    #[test]
    fn definitions_have_the_openai_shape_and_an_object_schema() {
        let offered = assign("s", &[tool("t")]);
        let def = &offered[0].definition;
        assert_eq!(def["type"], "function");
        assert_eq!(def["function"]["name"], "s__t");
        assert_eq!(def["function"]["description"], "d");
        assert_eq!(
            def["function"]["parameters"],
            json!({"type": "object", "properties": {}})
        );
    }
}
