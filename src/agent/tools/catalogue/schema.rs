//! The `search_catalogue` tool's JSON schema, generated from a catalogue's columns.
//!
//! Invariant: the filters the schema offers are exactly [`Catalogue::allowed_filters`], so a model
//! that follows the schema never gets an unknown-filter error.

use serde_json::{Map, Value, json};

use super::{Catalogue, ColumnKind, MAX_RESULTS, SEARCH_CATALOGUE_TOOL};

impl Catalogue {
    /// The `tools` entry offering `search_catalogue`, generated from the columns: the description
    /// names them, and `filters` lists the numeric columns' `min_`/`max_` and the text columns (with
    /// a few example values each).
    pub fn tool_schema(&self) -> Value {
        let mut properties = Map::new();
        for (c, column) in self.columns.iter().enumerate() {
            match column.kind {
                ColumnKind::Number => {
                    for (prefix, word) in [("min", "at least"), ("max", "at most")] {
                        properties.insert(
                            format!("{prefix}_{}", column.name),
                            json!({"type": "number", "description": format!("{} {word} this value", column.name)}),
                        );
                    }
                }
                ColumnKind::Text => {
                    let examples = self.examples[c].join(", ");
                    properties.insert(
                        column.name.clone(),
                        json!({"type": "string", "description": format!("exact {} (case and accents ignored), e.g. {examples}", column.name)}),
                    );
                }
            }
        }
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Number => format!("{} (number)", c.name),
                ColumnKind::Text => c.name.clone(),
            })
            .collect();
        let description = format!(
            "Search the business's catalogue ({} items; columns: {}). Look items up here before \
             answering about what is available, prices or details; never invent items. Returns the \
             best {MAX_RESULTS} matches and the total number of matches.",
            self.rows.len(),
            names.join(", ")
        );
        json!({
            "type": "function",
            "function": {
                "name": SEARCH_CATALOGUE_TOOL,
                "description": description,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "Words to look for in any column, e.g. a make and model; case and accents do not matter. May be empty when filters are given."},
                        "filters": {"type": "object", "description": "Optional narrowing.", "properties": properties, "additionalProperties": false}
                    },
                    "required": ["query"]
                }
            }
        })
    }
}
