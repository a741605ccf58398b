//! What the agent reads of an Evolution (Baileys) `message`, and the [`MediaRef`] of the file it
//! carries. Pure; any input gives a value or `None`, never a panic.
//!
//! Invariants: text (`conversation`, `extendedTextMessage.text`) wins over everything else; a media
//! message (`imageMessage`, `videoMessage`, `ptvMessage`, `audioMessage`, `documentMessage`,
//! `stickerMessage`, also inside the `ephemeralMessage`/`viewOnceMessage*`/`documentWithCaption
//! Message` wrappers) always gives its placeholder plus caption, and a [`MediaSource::Evolution`]
//! naming the instance and the message's `key.id`, which is all `getBase64FromMediaMessage` needs;
//! the webhook's `fileLength` (a number, a numeric string, or Baileys' `{low, high}` Long) travels
//! with it so an oversized file is refused before it is requested. Locations and contacts are
//! placeholders without a file.

use serde_json::Value;

use super::non_empty_str;
use crate::domain::{MediaKind, MediaRef, MediaSource, media_text};

/// The Baileys message keys that carry a file, and the kind each one is.
const MEDIA: [(&str, MediaKind); 6] = [
    ("imageMessage", MediaKind::Image),
    ("videoMessage", MediaKind::Video),
    ("ptvMessage", MediaKind::Video),
    ("audioMessage", MediaKind::Audio),
    ("documentMessage", MediaKind::Document),
    ("stickerMessage", MediaKind::Sticker),
];

/// The text the agent reads and the file to fetch, for the message `id` that arrived on `instance`;
/// `None` for nothing readable (reactions, protocol messages).
pub(super) fn message_content(
    message: &Value,
    instance: &str,
    id: &str,
) -> Option<(String, Option<Box<MediaRef>>)> {
    let message = [
        "ephemeralMessage",
        "viewOnceMessage",
        "viewOnceMessageV2",
        "documentWithCaptionMessage",
    ]
    .iter()
    .find_map(|w| message.pointer(&format!("/{w}/message")))
    .unwrap_or(message);
    if let Some(text) = non_empty_str(message, "/conversation")
        .or_else(|| non_empty_str(message, "/extendedTextMessage/text"))
    {
        return Some((text.to_owned(), None));
    }
    if let Some((key, kind)) = MEDIA.iter().find(|(key, _)| message.get(key).is_some()) {
        let content = &message[key];
        return Some(media_content(*kind, content, instance, id));
    }
    if let Some(loc) = message.get("locationMessage") {
        let (lat, lng) = (
            loc.get("degreesLatitude")?.as_f64()?,
            loc.get("degreesLongitude")?.as_f64()?,
        );
        let place = format!("{lat},{lng}");
        let text = media_text("[location]", Some(&place), non_empty_str(loc, "/name"));
        return Some((text, None));
    }
    if let Some(contact) = message.get("contactMessage") {
        let text = media_text("[contact]", None, non_empty_str(contact, "/displayName"));
        return Some((text, None));
    }
    None
}

/// `[voice note]`, `[image] caption`, `[document] offerte.pdf caption`, with the file's reference.
fn media_content(
    kind: MediaKind,
    content: &Value,
    instance: &str,
    id: &str,
) -> (String, Option<Box<MediaRef>>) {
    let voice = kind == MediaKind::Audio && content.get("ptt").and_then(Value::as_bool) == Some(true);
    let kind = if voice { MediaKind::Voice } else { kind };
    let caption = non_empty_str(content, "/caption");
    let file_name = non_empty_str(content, "/fileName");
    let shown_name = match kind {
        MediaKind::Document => file_name.or_else(|| non_empty_str(content, "/title")),
        _ => None,
    };
    let text = media_text(kind.placeholder(), shown_name, caption);
    let media = MediaRef {
        kind,
        mime_type: non_empty_str(content, "/mimetype").map(str::to_owned),
        file_name: file_name.map(str::to_owned),
        caption: caption.map(str::to_owned),
        source: MediaSource::Evolution {
            instance: instance.to_owned(),
            message_id: id.to_owned(),
            file_length: content.get("fileLength").and_then(file_length),
        },
    };
    (text, Some(Box::new(media)))
}

/// Baileys' `fileLength`: a number, a numeric string, or a protobuf Long `{low, high, unsigned}`.
pub(super) fn file_length(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(long) => {
            let low = long.get("low")?.as_i64()?;
            let high = long.get("high").and_then(Value::as_i64).unwrap_or(0);
            // Both halves are 32-bit; `low` may come signed.
            let low = u64::from(low as u32);
            let high = u64::try_from(high).ok()?;
            Some((high << 32) | low)
        }
        _ => None,
    }
}
