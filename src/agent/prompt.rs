//! The changing tail of a prompt: what differs from one turn to the next (the local time, whether
//! the team works now and when it is back, the chat's summary, the customer's profile).
//!
//! Invariant: this text is placed after the history and just before the customer's new messages,
//! never in the leading system message, so consecutive prompts of a chat share their beginning byte
//! for byte and providers' prompt caches can reuse it (behaviour 11). Empty parts are left out; with
//! nothing to say there is no tail at all.

/// What the tail may carry; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptContext {
    /// The time and hours sentence ([`crate::hours::HoursStatus::describe`]).
    pub time: Option<String>,
    /// The chat's summary of messages that left the window.
    pub summary: Option<String>,
    /// The customer's profile (what `update_contact` recorded), one `key: value` per line.
    pub profile: Option<String>,
}

/// The tail as one system message's text, or `None` when there is nothing to say.
pub fn changing_tail(ctx: &PromptContext) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let present = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(time) = present(&ctx.time) {
        parts.push(time);
    }
    if let Some(summary) = present(&ctx.summary) {
        parts.push(format!("Summary of the earlier conversation:\n{summary}"));
    }
    if let Some(profile) = present(&ctx.profile) {
        parts.push(format!("What we know about the customer:\n{profile}"));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_in_order_and_empty_ones_left_out() {
        assert_eq!(changing_tail(&PromptContext::default()), None);
        let ctx = PromptContext {
            time: Some("It is now Monday 10:00 (UTC).".into()),
            summary: Some("  ".into()),
            profile: Some("interest: BMW X5".into()),
        };
        assert_eq!(
            changing_tail(&ctx).unwrap(),
            "It is now Monday 10:00 (UTC).\n\nWhat we know about the customer:\ninterest: BMW X5"
        );
        let ctx = PromptContext {
            summary: Some("Wants a BMW X5.".into()),
            ..ctx
        };
        assert!(
            changing_tail(&ctx)
                .unwrap()
                .contains("Summary of the earlier conversation:\nWants a BMW X5.")
        );
    }
}
