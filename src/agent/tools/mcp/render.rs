//! A tool result as the one string the model reads.
//!
//! Text parts (and the text of embedded text resources) are kept, one per line; parts the model cannot
//! read here are summarised as `[image]`, `[audio]`, `[file]` or `[link {name}]`. A result with no
//! content but structured content gives that JSON. The string is cut to [`RESULT_MAX_CHARS`] characters
//! on a char boundary, followed by a marker line saying how long it was.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// Most characters of a tool result the model gets (the cut marker comes on top).
pub const RESULT_MAX_CHARS: usize = 4000;
/// Most characters of a tool's own error message quoted in a [`super::ToolError`].
pub(super) const ERROR_MAX_CHARS: usize = 300;

/// The result's content as one string, not yet cut.
pub(super) fn render(result: &CallToolResult) -> String {
    let parts: Vec<String> = result.content.iter().map(part).collect();
    if parts.is_empty() {
        return match &result.structured_content {
            Some(value) => value.to_string(),
            None => "[no content]".to_owned(),
        };
    }
    parts.join("\n")
}

fn part(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(t) => t.text.clone(),
        ContentBlock::Image(_) => "[image]".to_owned(),
        ContentBlock::Audio(_) => "[audio]".to_owned(),
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            _ => "[file]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => format!("[link {}]", link.name),
        _ => "[content]".to_owned(),
    }
}

/// `text` cut to `max` characters on a char boundary, with a marker line when anything was cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => {
            let total = text.chars().count();
            format!(
                "{}\n[cut: the result had {total} characters; only the first {max} are shown]",
                &text[..end]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::ContentBlock;
    use serde_json::json;

    use super::*;

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(cut("héllo", 5), "héllo");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_a_marker() {
        let out = cut(&"é".repeat(10), 4);
        assert!(
            out.starts_with("éééé\n[cut: the result had 10 characters"),
            "{out}"
        );
    }

    #[test]
    fn parts_are_joined_and_non_text_summarised() {
        let result = CallToolResult::success(vec![
            ContentBlock::text("Slots: 10:00"),
            ContentBlock::image("aGk=", "image/png"),
            ContentBlock::audio("aGk=", "audio/wav"),
            ContentBlock::resource(ResourceContents::text("brochure", "file:///b.txt")),
        ]);
        assert_eq!(render(&result), "Slots: 10:00\n[image]\n[audio]\nbrochure");
    }

    #[test]
    fn structured_content_stands_in_for_missing_content() {
        let mut result = CallToolResult::success(vec![]);
        assert_eq!(render(&result), "[no content]");
        result.structured_content = Some(json!({"slots": ["10:00"]}));
        assert_eq!(render(&result), r#"{"slots":["10:00"]}"#);
    }
}
