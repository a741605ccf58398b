//! Splitting a long reply into WhatsApp-sized parts.
//!
//! [`split_reply`] keeps a reply whole when it fits. Otherwise it cuts greedily: each part is as long
//! as it can be while ending at the best boundary available within `max_chars`, in this order of
//! preference: a paragraph break (a blank line), a sentence end (`.`, `!`, `?` or `…`, optionally
//! followed by closing quotes or brackets, then whitespace), any whitespace, and as a last resort a hard
//! cut at `max_chars`. So whole paragraphs are packed together while they fit, and a paragraph that is
//! too long on its own is split at its sentences, then at its words.
//!
//! Invariants (checked by property tests): every part is trimmed, non-empty and at most `max_chars`
//! characters (Unicode scalar values, not bytes); the parts keep the reply's order; and only
//! whitespace is dropped at the cuts, so no other character is lost or duplicated.

/// Characters that end a sentence.
const SENTENCE_ENDS: [char; 4] = ['.', '!', '?', '…'];
/// Characters that may follow a sentence end before the whitespace (`."`, `!)`, `?»`).
const CLOSERS: [char; 8] = ['"', '\'', ')', ']', '”', '’', '»', '*'];

/// Splits `text` into parts of at most `max_chars` characters (see the module docs). An empty or
/// all-whitespace text gives no parts; `max_chars` of 0 is treated as 1.
pub fn split_reply(text: &str, max_chars: usize) -> Vec<String> {
    let max = max_chars.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        // Byte index just past the first `max` characters, or `None` when the rest fits.
        let Some((limit, _)) = rest.char_indices().nth(max) else {
            parts.push(rest.to_owned());
            break;
        };
        let cut = best_cut(rest, limit);
        let (part, tail) = rest.split_at(cut);
        parts.push(part.trim_end().to_owned());
        rest = tail.trim_start();
    }
    parts
}

/// Where to cut `rest` (trimmed, longer than the limit): a byte index in `1..=limit` on a character
/// boundary, so that `rest[..cut]` holds at most `max` characters and is not blank.
fn best_cut(rest: &str, limit: usize) -> usize {
    let mut paragraph = None;
    let mut sentence = None;
    let mut space = None;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if i > limit {
            break;
        }
        if c.is_whitespace() {
            // `rest` starts with a non-whitespace character, so a cut here leaves a non-blank part.
            if i > 0 {
                space = Some(i);
                if c == '\n' && starts_blank_line(&rest[i + 1..]) {
                    paragraph = Some(i);
                }
            }
            continue;
        }
        if SENTENCE_ENDS.contains(&c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, next)) = chars.peek() {
                if !CLOSERS.contains(&next) {
                    break;
                }
                end = j + next.len_utf8();
                chars.next();
            }
            let followed_by_space = rest[end..].chars().next().is_some_and(char::is_whitespace);
            if end <= limit && followed_by_space {
                sentence = Some(end);
            }
        }
    }
    paragraph.or(sentence).or(space).unwrap_or(limit)
}

/// Whether `s` (the text after a newline) starts with a blank line: optional spaces, then a newline.
fn starts_blank_line(s: &str) -> bool {
    s.chars()
        .find(|c| !c.is_whitespace() || *c == '\n')
        .is_some_and(|c| c == '\n')
}

#[cfg(test)]
mod tests;
