//! WAHA media, locations and contacts: the placeholder text the agent reads and the [`MediaRef`] to
//! fetch the file from (`payload.media.url`). Pure; any input gives a value, never a panic.

use serde_json::Value;

use super::{at, non_empty_str};
use crate::domain::{MediaKind, MediaRef, MediaSource, media_text};

/// What the agent reads, and the file the message carries. Text is the trimmed body; media is a
/// placeholder such as `[voice note]` or `[document] offerte.pdf` followed by the caption, with a
/// [`MediaRef`] when WAHA gave `payload.media.url` (`hasMedia` with `media: null` means WAHA did not
/// download it: placeholder only). Locations and contacts are placeholders without media (their
/// `body` is a thumbnail or a vCard, never shown). `None` when there is neither text nor media.
pub(super) fn message_content(payload: &Value) -> Option<(String, Option<Box<MediaRef>>)> {
    if let Some(text) = location_text(payload).or_else(|| contact_text(payload)) {
        return Some((text, None));
    }
    let body = non_empty_str(payload, "/body");
    let Some(kind) = media_kind(payload) else {
        return body.map(|b| (b.to_owned(), None));
    };
    let caption = body.or_else(|| non_empty_str(payload, "/_data/caption"));
    let Some(kind) = kind else {
        return Some((media_text("[media]", None, caption), None));
    };
    let file_name = document_filename(payload);
    let shown_name = file_name.filter(|_| kind == MediaKind::Document);
    let text = media_text(kind.placeholder(), shown_name, caption);
    let media = non_empty_str(payload, "/media/url").map(|url| {
        Box::new(MediaRef {
            kind,
            mime_type: non_empty_str(payload, "/media/mimetype")
                .or_else(|| non_empty_str(payload, "/_data/mimetype"))
                .map(str::to_owned),
            file_name: file_name.map(str::to_owned),
            caption: caption.map(str::to_owned),
            source: MediaSource::Waha { url: url.to_owned() },
        })
    });
    Some((text, media))
}

/// The media kind, `Some(None)` for media of an unknown kind, or `None` for a message without media.
fn media_kind(payload: &Value) -> Option<Option<MediaKind>> {
    let known = |name: &str| -> Option<MediaKind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "ptt" => MediaKind::Voice,
            "document" => MediaKind::Document,
            "sticker" => MediaKind::Sticker,
            _ => return None,
        })
    };
    // WEBJS `_data.type`; GOWS `_data.Info.MediaType`.
    let declared = ["/_data/type", "/_data/Info/MediaType"]
        .iter()
        .find_map(|p| non_empty_str(payload, p).and_then(known));
    if declared.is_some() {
        return Some(declared);
    }
    // NOWEB and GOWS: the Baileys/whatsmeow message object names its kind.
    for message in ["/_data/message", "/_data/Message"] {
        if let Some(Value::Object(fields)) = at(payload, message) {
            for (key, content) in fields {
                if let Some(kind) = key.strip_suffix("Message").and_then(known) {
                    let is_ptt = content.get("ptt").and_then(Value::as_bool) == Some(true)
                        || content.get("PTT").and_then(Value::as_bool) == Some(true);
                    let voice = kind == MediaKind::Audio && is_ptt;
                    return Some(Some(if voice { MediaKind::Voice } else { kind }));
                }
            }
        }
    }
    if payload.get("hasMedia").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let mimetype =
        non_empty_str(payload, "/media/mimetype").or_else(|| non_empty_str(payload, "/_data/mimetype"));
    Some(match mimetype.and_then(|m| m.split('/').next()) {
        Some("image") => Some(MediaKind::Image),
        Some("video") => Some(MediaKind::Video),
        Some("audio") => Some(MediaKind::Audio),
        Some("application" | "text") => Some(MediaKind::Document),
        _ => None,
    })
}

fn document_filename(payload: &Value) -> Option<&str> {
    [
        "/media/filename",
        "/_data/filename",
        "/_data/message/documentMessage/fileName",
        "/_data/Message/documentMessage/fileName",
    ]
    .iter()
    .find_map(|p| non_empty_str(payload, p))
}

/// `[location] 52.09,5.12 Showroom Utrecht` from `payload.location` (every engine), or WEBJS
/// `_data.lat`/`_data.lng` for `_data.type` `location`.
fn location_text(payload: &Value) -> Option<String> {
    let coordinate = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    };
    if let Some(location @ Value::Object(_)) = payload.get("location") {
        let label = ["name", "address", "description"]
            .iter()
            .filter_map(|k| non_empty_str(location, &format!("/{k}")))
            .collect::<Vec<_>>();
        let coordinates = coordinate(location.get("latitude")).zip(coordinate(location.get("longitude")));
        return Some(crate::domain::location_text(coordinates, &label));
    }
    if non_empty_str(payload, "/_data/type") != Some("location") {
        return None;
    }
    let data = payload.get("_data")?;
    let coordinates = coordinate(data.get("lat")).zip(coordinate(data.get("lng")));
    let label: Vec<&str> = non_empty_str(data, "/loc").into_iter().collect();
    Some(crate::domain::location_text(coordinates, &label))
}

/// `[contact] Name` from the `FN` lines of `payload.vCards`, for shared contacts.
fn contact_text(payload: &Value) -> Option<String> {
    let cards: Vec<&str> = payload
        .get("vCards")
        .and_then(Value::as_array)
        .map(|cards| cards.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let declared = matches!(
        non_empty_str(payload, "/_data/type"),
        Some("vcard" | "multi_vcard")
    ) || at(payload, "/_data/message/contactMessage").is_some();
    if cards.is_empty() && !declared {
        return None;
    }
    let mut names: Vec<String> = cards.iter().filter_map(|card| vcard_name(card)).collect();
    if names.is_empty()
        && let Some(name) = non_empty_str(payload, "/_data/message/contactMessage/displayName")
    {
        names.push(name.to_owned());
    }
    Some(crate::domain::media_text(
        "[contact]",
        None,
        Some(&names.join(", ")),
    ))
}

/// The formatted name (`FN:` or `FN;…:`) of a vCard.
fn vcard_name(card: &str) -> Option<String> {
    card.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let is_fn = key.eq_ignore_ascii_case("FN") || key.to_ascii_uppercase().starts_with("FN;");
        let value = value.trim();
        (is_fn && !value.is_empty()).then(|| value.to_owned())
    })
}
