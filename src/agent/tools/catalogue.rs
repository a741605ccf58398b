//! The business's catalogue (cars in stock, products, rooms) behind the `search_catalogue` tool.
//!
//! A [`Catalogue`] is read once from `CATALOGUE_FILE` (CSV with a header row, or a JSON array of
//! objects; see `load`) and then only searched. A [`CatalogueHandle`] wraps it for the service: cheap
//! to clone, it re-reads the file when it changes and keeps the previous catalogue when the new file
//! is wrong.
//!
//! Matching: the query and every cell are folded (lower case, no diacritics: `Škoda` = `skoda`) and
//! split into words; a query word matches a row when it occurs in any of the row's cells (whole
//! words score higher than parts of words). The matches are the rows that match the most query words
//! (all of them when any row does; otherwise `partial_match` says so), best score first, then file
//! order. A query that matches nothing returns no rows; an empty query with filters lists the rows
//! that pass the filters in file order.
//!
//! Filters: `min_<column>` / `max_<column>` on numeric columns (inclusive) and `<column>` on text
//! columns (the whole cell, ignoring case and diacritics). Any other filter is an error naming the
//! allowed ones, meant for the model. A numeric column is one whose every non-empty cell is a number.
//!
//! Invariants: every cell is folded once, at load, into a word index (`index`), so a search costs
//! one substring search over the catalogue's distinct words per query word plus the matching rows
//! (a 10,000-row catalogue answers in well under a millisecond; `bench/` measures it); a search
//! never fails for the query text itself; results carry the file's own column
//! names and values (CSV numbers as numbers), never the folded text.

mod handle;
mod index;
mod load;
mod schema;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
mod text;

use std::path::Path;

use serde_json::{Map, Value, json};

pub use handle::CatalogueHandle;
pub use load::CatalogueError;

/// The tool's name as the model sees it.
pub const SEARCH_CATALOGUE_TOOL: &str = "search_catalogue";
/// How many rows a search returns at most.
pub const MAX_RESULTS: usize = 5;
/// How many distinct values of a text column the schema shows as examples.
const EXAMPLE_VALUES: usize = 6;

/// Whether a column holds numbers (and so gets `min_`/`max_` filters) or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Every non-empty cell is a number.
    Number,
    /// Anything else.
    Text,
}

/// One column of the catalogue, named as in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name from the header row (CSV) or the objects' keys (JSON).
    pub name: String,
    /// Its kind, decided over all rows.
    pub kind: ColumnKind,
}

#[derive(Debug)]
struct Row {
    /// Cells aligned with the columns; `Null` when absent.
    cells: Vec<Value>,
    /// Folded whole cells (for text filters), aligned with the columns.
    folded: Vec<String>,
}

/// A loaded catalogue: columns and rows, with the folded text of every row pre-computed.
#[derive(Debug)]
pub struct Catalogue {
    columns: Vec<Column>,
    rows: Vec<Row>,
    /// Every folded word of every cell, with the rows it occurs in.
    index: index::WordIndex,
    /// Up to [`EXAMPLE_VALUES`] distinct values per column (used for text columns in the schema).
    examples: Vec<Vec<String>>,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// How many rows matched (and passed the filters).
    pub total: usize,
    /// The best [`MAX_RESULTS`] of them: objects with the file's column names (absent cells left out).
    pub items: Vec<Value>,
    /// No row matched every query word: these rows match the most words any row matched.
    pub partial_match: bool,
}

impl SearchResult {
    /// The compact JSON the model receives: `{"total":…,"items":[…]}` (plus `"partial_match":true`).
    pub fn to_json(&self) -> Value {
        let mut out = json!({"total": self.total, "items": self.items});
        if self.partial_match {
            out["partial_match"] = Value::Bool(true);
        }
        out
    }
}

/// A search the catalogue refuses: the message is meant for the model, so it can correct the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchError(pub String);

enum Filter {
    Min(usize, f64),
    Max(usize, f64),
    Equals(usize, String),
}

impl Filter {
    fn accepts(&self, row: &Row) -> bool {
        match self {
            Filter::Min(c, v) => row.cells[*c].as_f64().is_some_and(|x| x >= *v),
            Filter::Max(c, v) => row.cells[*c].as_f64().is_some_and(|x| x <= *v),
            Filter::Equals(c, v) => row.folded[*c] == *v,
        }
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Catalogue {
    /// Reads and parses `path` (see the module doc for the formats). An empty catalogue is allowed
    /// and logged as a warning.
    pub fn load(path: &Path) -> Result<Catalogue, CatalogueError> {
        let bytes = std::fs::read(path).map_err(|source| CatalogueError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Catalogue::parse(path, &bytes)
    }

    /// Parses a file's content; `path` names it in errors and its extension picks the format.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Catalogue, CatalogueError> {
        let table = load::parse(path, bytes)?;
        if table.rows.is_empty() {
            tracing::warn!(path = %path.display(), "the catalogue has no rows: search_catalogue will find nothing");
        }
        Ok(Catalogue::build(table))
    }

    fn build(table: load::Table) -> Catalogue {
        let columns: Vec<Column> = table
            .names
            .into_iter()
            .enumerate()
            .map(|(c, name)| {
                let mut cells = table.rows.iter().map(|r| &r[c]).filter(|v| !v.is_null());
                let numeric = cells.clone().next().is_some() && cells.all(Value::is_number);
                let kind = if numeric {
                    ColumnKind::Number
                } else {
                    ColumnKind::Text
                };
                Column { name, kind }
            })
            .collect();
        let mut examples = vec![Vec::new(); columns.len()];
        let rows: Vec<Row> = table
            .rows
            .into_iter()
            .map(|cells| {
                let mut folded = Vec::with_capacity(cells.len());
                for (c, cell) in cells.iter().enumerate() {
                    let raw = cell_text(cell);
                    folded.push(text::fold(raw.trim()));
                    if !raw.is_empty() && examples[c].len() < EXAMPLE_VALUES && !examples[c].contains(&raw) {
                        examples[c].push(raw);
                    }
                }
                Row { cells, folded }
            })
            .collect();
        let index = index::WordIndex::build(rows.iter().enumerate().flat_map(|(i, row)| {
            row.folded
                .iter()
                .flat_map(move |f| text::tokens(f).into_iter().map(move |w| (i as u32, w)))
        }));
        Catalogue {
            columns,
            rows,
            index,
            examples,
        }
    }

    /// The columns, in file order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many rows the catalogue holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the catalogue holds no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The filter names this catalogue accepts: `min_`/`max_` of numeric columns, then text columns.
    pub fn allowed_filters(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.columns.iter().filter(|c| c.kind == ColumnKind::Number) {
            out.push(format!("min_{}", c.name));
            out.push(format!("max_{}", c.name));
        }
        out.extend(
            self.columns
                .iter()
                .filter(|c| c.kind == ColumnKind::Text)
                .map(|c| c.name.clone()),
        );
        out
    }

    fn compile_filters(&self, filters: Option<&Map<String, Value>>) -> Result<Vec<Filter>, SearchError> {
        let mut out = Vec::new();
        for (name, value) in filters.into_iter().flatten() {
            if value.is_null() {
                continue;
            }
            let column = |n: &str, kind| self.columns.iter().position(|c| c.name == n && c.kind == kind);
            let number = || {
                value
                    .as_f64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| SearchError(format!("filter {name:?} needs a number, not {value}")))
            };
            if let Some(c) = column(name, ColumnKind::Text) {
                let wanted = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    _ => {
                        return Err(SearchError(format!(
                            "filter {name:?} needs a text value, not {value}"
                        )));
                    }
                };
                out.push(Filter::Equals(c, text::fold(wanted.trim())));
            } else if let Some(c) = name
                .strip_prefix("min_")
                .and_then(|n| column(n, ColumnKind::Number))
            {
                out.push(Filter::Min(c, number()?));
            } else if let Some(c) = name
                .strip_prefix("max_")
                .and_then(|n| column(n, ColumnKind::Number))
            {
                out.push(Filter::Max(c, number()?));
            } else {
                let allowed = self.allowed_filters();
                let allowed = if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(SearchError(format!(
                    "unknown filter {name:?}; allowed filters: {allowed}"
                )));
            }
        }
        Ok(out)
    }

    /// Searches the catalogue for `query` among the rows that pass `filters`.
    pub fn search(
        &self,
        query: &str,
        filters: Option<&Map<String, Value>>,
    ) -> Result<SearchResult, SearchError> {
        let filters = self.compile_filters(filters)?;
        let folded = text::fold(query);
        let mut words: Vec<&str> = text::tokens(&folded);
        words.sort_unstable();
        words.dedup();
        // Per row: how many query words it matches, and a score (whole words count double).
        let n = self.rows.len();
        let (mut matched, mut score) = (vec![0u8; n], vec![0u8; n]);
        let mut marks = vec![index::NONE; n];
        for w in &words {
            marks.fill(index::NONE);
            self.index.mark(w, &mut marks);
            for ((m, s), k) in matched.iter_mut().zip(score.iter_mut()).zip(&marks) {
                if *k != index::NONE {
                    *m = m.saturating_add(1);
                    *s = s.saturating_add(*k);
                }
            }
        }
        // (words matched, score, row index) of every row that passes the filters and matches the
        // most words any such row matches.
        let mut hits: Vec<(u8, u8, usize)> = Vec::new();
        let mut best = 0;
        for (i, row) in self.rows.iter().enumerate() {
            if (matched[i] == 0 && !words.is_empty()) || matched[i] < best {
                continue;
            }
            if !filters.iter().all(|f| f.accepts(row)) {
                continue;
            }
            if matched[i] > best {
                best = matched[i];
                hits.clear();
            }
            hits.push((matched[i], score[i], i));
        }
        let total = hits.len();
        let order = |a: &(u8, u8, usize), b: &(u8, u8, usize)| b.1.cmp(&a.1).then(a.2.cmp(&b.2));
        if hits.len() > MAX_RESULTS {
            hits.select_nth_unstable_by(MAX_RESULTS - 1, order);
            hits.truncate(MAX_RESULTS);
        }
        hits.sort_unstable_by(order);
        let items = hits.iter().map(|&(_, _, i)| self.item(i)).collect();
        let partial_match = total > 0 && usize::from(best) < words.len();
        Ok(SearchResult {
            total,
            items,
            partial_match,
        })
    }

    fn item(&self, i: usize) -> Value {
        let row = &self.rows[i];
        let object: Map<String, Value> = self
            .columns
            .iter()
            .zip(&row.cells)
            .filter(|(_, v)| !v.is_null())
            .map(|(c, v)| (c.name.clone(), v.clone()))
            .collect();
        Value::Object(object)
    }

    /// Runs one `search_catalogue` call from the model's arguments (`{"query": "…", "filters": {…}}`)
    /// and returns the result's compact JSON text, or an error message for the model.
    pub fn run_tool(&self, arguments: &Value) -> Result<String, SearchError> {
        let bad = || SearchError("arguments must be {\"query\": string, \"filters\"?: object}".to_owned());
        let object = arguments.as_object().ok_or_else(bad)?;
        let query = match object.get("query") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s,
            Some(_) => return Err(bad()),
        };
        let filters = match object.get("filters") {
            None | Some(Value::Null) => None,
            Some(Value::Object(f)) => Some(f),
            Some(_) => return Err(bad()),
        };
        let result = self.search(query, filters)?;
        Ok(result.to_json().to_string())
    }
}
