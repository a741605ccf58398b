//! The catalogue's word index: every distinct folded word once, with the rows it occurs in.
//!
//! Invariants: built once at load; the distinct words are kept in one `\n`-separated text so a
//! query word is found inside all of them with a single substring search, and each match costs
//! only its rows' postings. A search is thus proportional to the vocabulary (a few hundred kB at
//! most) plus the rows that match, never to a scan of every cell.

use std::collections::HashMap;

use memchr::memmem::Finder;

/// How a query word occurs in a row: not at all, inside a word, or as a whole word.
pub const NONE: u8 = 0;
/// Inside a longer word.
pub const PART: u8 = 1;
/// As a whole word.
pub const WHOLE: u8 = 2;

#[derive(Debug, Default)]
pub struct WordIndex {
    /// The distinct words, each followed by `\n`.
    text: String,
    /// Where each word starts in `text`.
    starts: Vec<u32>,
    /// For each word, the rows it occurs in, ascending and without repeats.
    postings: Vec<Vec<u32>>,
}

impl WordIndex {
    /// Indexes `(row, word)` pairs, rows in ascending order.
    pub fn build<'a>(pairs: impl Iterator<Item = (u32, &'a str)>) -> WordIndex {
        let mut ids: HashMap<&'a str, usize> = HashMap::new();
        let mut index = WordIndex::default();
        for (row, word) in pairs {
            let id = *ids.entry(word).or_insert_with(|| {
                index.starts.push(index.text.len() as u32);
                index.text.push_str(word);
                index.text.push('\n');
                index.postings.push(Vec::new());
                index.postings.len() - 1
            });
            let rows = &mut index.postings[id];
            if rows.last() != Some(&row) {
                rows.push(row);
            }
        }
        index
    }

    /// Marks in `out` (one byte per row, all [`NONE`] on entry) the rows where `term` occurs,
    /// [`WHOLE`] where it is one of the row's words and [`PART`] where it is only inside one.
    pub fn mark(&self, term: &str, out: &mut [u8]) {
        if term.is_empty() {
            return;
        }
        let finder = Finder::new(term.as_bytes());
        let mut word = 0usize;
        let mut last_word = usize::MAX;
        for pos in finder.find_iter(self.text.as_bytes()) {
            // Positions come in order: move to the word holding `pos`.
            while word + 1 < self.starts.len() && self.starts[word + 1] as usize <= pos {
                word += 1;
            }
            if word == last_word {
                continue;
            }
            last_word = word;
            let start = self.starts[word] as usize;
            let end = self.starts.get(word + 1).map_or(self.text.len(), |s| *s as usize) - 1;
            let kind = if pos == start && end - start == term.len() {
                WHOLE
            } else {
                PART
            };
            for &row in &self.postings[word] {
                let slot = &mut out[row as usize];
                *slot = (*slot).max(kind);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_whole_words_and_parts_per_row() {
        let pairs = [
            (0, "bmw"),
            (0, "x5"),
            (1, "bmw"),
            (1, "x3"),
            (2, "x5"),
            (2, "x55"),
            (3, "ax5b"),
        ];
        let index = WordIndex::build(pairs.into_iter());
        let mut out = [NONE; 5];
        index.mark("x5", &mut out);
        assert_eq!(out, [WHOLE, NONE, WHOLE, PART, NONE]);
        let mut out = [NONE; 5];
        index.mark("w", &mut out);
        assert_eq!(out, [PART, PART, NONE, NONE, NONE]);
        let mut out = [NONE; 5];
        index.mark("zeppelin", &mut out);
        assert_eq!(out, [NONE; 5]);
    }
}
