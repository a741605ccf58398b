//! Folding and tokenising text for catalogue matching.
//!
//! Invariant: the catalogue's rows and the model's queries go through the same two functions, so a
//! query token matches a row exactly when both fold to the same characters (`Škoda` = `skoda`).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower-cases `s` and removes diacritics: NFKD decomposition, combining marks dropped.
pub fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of an already folded text: runs of letters and digits; a `.` or `,` between two digits
/// stays inside the word, so `1.6` and `2,5` are one token each.
pub fn tokens(folded: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = folded.char_indices().collect();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(i, c)) in chars.iter().enumerate() {
        let inside = c.is_alphanumeric()
            || ((c == '.' || c == ',')
                && k > 0
                && chars[k - 1].1.is_ascii_digit()
                && chars.get(k + 1).is_some_and(|n| n.1.is_ascii_digit()));
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(&folded[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(&folded[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_drops_case_and_diacritics() {
        assert_eq!(fold("Škoda Citroën Peugeot É"), "skoda citroen peugeot e");
        assert_eq!(fold("ＢＭＷ"), "bmw", "NFKD also folds full-width letters");
    }

    #[test]
    fn tokens_split_on_punctuation_but_keep_decimals() {
        assert_eq!(tokens("bmw x5, 3.0d (2021)"), vec!["bmw", "x5", "3.0d", "2021"]);
        assert_eq!(tokens("1,6 tdi - auto."), vec!["1,6", "tdi", "auto"]);
        assert!(tokens(" ,.- ").is_empty());
    }
}
