//! Cloud API media, locations and contacts: the placeholder text the agent reads and the
//! [`MediaRef`] to the media id. Pure; any input gives a value, never a panic.

use serde_json::Value;

use super::text_at;
use crate::domain::{MediaKind, MediaRef, MediaSource, media_text};

/// A placeholder such as `[image]`, `[voice note]` or `[document] offerte.pdf`, then the caption; with
/// a [`MediaRef`] to the Cloud API media id when the message has one.
pub(super) fn media_content(kind: &str, media: &Value) -> (String, Option<Box<MediaRef>>) {
    let voice = kind == "voice" || media.get("voice").and_then(Value::as_bool) == Some(true);
    let kind = match kind {
        _ if voice => MediaKind::Voice,
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        "document" => MediaKind::Document,
        _ => MediaKind::Sticker,
    };
    let file_name = text_at(media, "filename");
    let caption = text_at(media, "caption");
    let shown_name = file_name.filter(|_| kind == MediaKind::Document);
    let text = media_text(kind.placeholder(), shown_name, caption);
    let media = text_at(media, "id").map(|id| {
        Box::new(MediaRef {
            kind,
            mime_type: text_at(media, "mime_type").map(str::to_owned),
            file_name: file_name.map(str::to_owned),
            caption: caption.map(str::to_owned),
            source: MediaSource::Meta { id: id.to_owned() },
        })
    });
    (text, media)
}

/// `[location] 52.09,5.12 Showroom Utrecht, Stationsplein 1`.
pub(super) fn location_text(location: &Value) -> String {
    let coordinate = |key: &str| match location.get(key) {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    };
    let label: Vec<&str> = ["name", "address"]
        .iter()
        .filter_map(|k| text_at(location, k))
        .collect();
    crate::domain::location_text(coordinate("latitude").zip(coordinate("longitude")), &label)
}

/// `[contact] Name` (names of every shared contact, comma-separated).
pub(super) fn contacts_text(contacts: &Value) -> String {
    let names: Vec<&str> = contacts
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|c| {
            let name = c.get("name")?;
            text_at(name, "formatted_name").or_else(|| text_at(name, "first_name"))
        })
        .collect();
    media_text("[contact]", None, Some(&names.join(", ")))
}
