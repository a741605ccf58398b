//! WAHA media, locations and contacts: the placeholder text the agent reads and the [`MediaRef`] to
//! fetch the file from (`payload.media.url`). Pure; any input gives a value, never a panic.

use super::wire::{Data, Part, Payload};
use crate::channel::lenient::{Object, Scalar};
use crate::domain::{MediaKind, MediaRef, MediaSource, media_text};

/// What the agent reads, and the file the message carries. Text is the trimmed body; media is a
/// placeholder such as `[voice note]` or `[document] offerte.pdf` followed by the caption, with a
/// [`MediaRef`] when WAHA gave `payload.media.url` (`hasMedia` with `media: null` means WAHA did not
/// download it: placeholder only). Locations and contacts are placeholders without media (their
/// `body` is a thumbnail or a vCard, never shown). `None` when there is neither text nor media.
pub(super) fn message_content(payload: &Payload<'_>) -> Option<(String, Option<Box<MediaRef>>)> {
    if let Some(text) = location_text(payload).or_else(|| contact_text(payload)) {
        return Some((text, None));
    }
    let body = payload.body.non_empty();
    let Some(kind) = media_kind(payload) else {
        return body.map(|b| (b.to_owned(), None));
    };
    let caption = body.or_else(|| payload.data_str(|d| &d.caption));
    let Some(kind) = kind else {
        return Some((media_text("[media]", None, caption), None));
    };
    let file_name = document_filename(payload);
    let shown_name = file_name.filter(|_| kind == MediaKind::Document);
    let text = media_text(kind.placeholder(), shown_name, caption);
    let media = payload.media_str(|m| &m.url).map(|url| {
        Box::new(MediaRef {
            kind,
            mime_type: mimetype(payload).map(str::to_owned),
            file_name: file_name.map(str::to_owned),
            caption: caption.map(str::to_owned),
            source: MediaSource::Waha { url: url.to_owned() },
        })
    });
    Some((text, media))
}

/// `media.mimetype`, else `_data.mimetype`.
fn mimetype<'p>(payload: &'p Payload<'_>) -> Option<&'p str> {
    payload
        .media_str(|m| &m.mimetype)
        .or_else(|| payload.data_str(|d| &d.mimetype))
}

/// A media kind by its WhatsApp name (`image`, `ptt`, …), any case.
fn known(name: &str) -> Option<MediaKind> {
    Some(match name.to_ascii_lowercase().as_str() {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        "ptt" => MediaKind::Voice,
        "document" => MediaKind::Document,
        "sticker" => MediaKind::Sticker,
        _ => return None,
    })
}

/// The media kind, `Some(None)` for media of an unknown kind, or `None` for a message without media.
fn media_kind(payload: &Payload<'_>) -> Option<Option<MediaKind>> {
    // WEBJS `_data.type`; GOWS `_data.Info.MediaType`.
    let declared = payload.data_str(|d| &d.kind).and_then(known).or_else(|| {
        let info = payload.data()?.info.get()?;
        info.media_type.non_empty().and_then(known)
    });
    if declared.is_some() {
        return Some(declared);
    }
    // NOWEB and GOWS: the Baileys/whatsmeow message object names its kind.
    for parts in payload.data().into_iter().flat_map(Data::messages) {
        for (key, content) in parts {
            if let Some(kind) = key.0.strip_suffix("Message").and_then(known) {
                let is_ptt = content
                    .get()
                    .is_some_and(|c| c.ptt.as_bool() == Some(true) || c.ptt_gows.as_bool() == Some(true));
                let voice = kind == MediaKind::Audio && is_ptt;
                return Some(Some(if voice { MediaKind::Voice } else { kind }));
            }
        }
    }
    if payload.has_media.as_bool() != Some(true) {
        return None;
    }
    Some(match mimetype(payload).and_then(|m| m.split('/').next()) {
        Some("image") => Some(MediaKind::Image),
        Some("video") => Some(MediaKind::Video),
        Some("audio") => Some(MediaKind::Audio),
        Some("application" | "text") => Some(MediaKind::Document),
        _ => None,
    })
}

fn document_filename<'p>(payload: &'p Payload<'_>) -> Option<&'p str> {
    let part_name = |part: Option<&'p Object<Part<'_>>>| part?.get()?.file_name.non_empty();
    payload
        .media_str(|m| &m.filename)
        .or_else(|| payload.data_str(|d| &d.filename))
        .or_else(|| part_name(payload.noweb_part("documentMessage")))
        .or_else(|| part_name(payload.gows_part("documentMessage")))
}

/// A coordinate as written: a number, or a string with more than whitespace (trimmed).
fn coordinate(value: &Scalar<'_>) -> Option<String> {
    match value {
        Scalar::Number(n) => Some(n.to_string()),
        Scalar::Str(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// `[location] 52.09,5.12 Showroom Utrecht` from `payload.location` (every engine), or WEBJS
/// `_data.lat`/`_data.lng` for `_data.type` `location`.
fn location_text(payload: &Payload<'_>) -> Option<String> {
    if let Some(location) = payload.location.get() {
        let label = [&location.name, &location.address, &location.description]
            .into_iter()
            .filter_map(Scalar::non_empty)
            .collect::<Vec<_>>();
        let coordinates = coordinate(&location.latitude).zip(coordinate(&location.longitude));
        return Some(crate::domain::location_text(coordinates, &label));
    }
    if payload.data_str(|d| &d.kind) != Some("location") {
        return None;
    }
    let data = payload.data()?;
    let coordinates = coordinate(&data.lat).zip(coordinate(&data.lng));
    let label: Vec<&str> = data.loc.non_empty().into_iter().collect();
    Some(crate::domain::location_text(coordinates, &label))
}

/// `[contact] Name` from the `FN` lines of `payload.vCards`, for shared contacts.
fn contact_text(payload: &Payload<'_>) -> Option<String> {
    let cards: Vec<&str> = payload
        .v_cards
        .as_list()
        .map(|cards| cards.iter().filter_map(Scalar::as_str).collect())
        .unwrap_or_default();
    let contact = payload.noweb_part("contactMessage");
    let declared =
        matches!(payload.data_str(|d| &d.kind), Some("vcard" | "multi_vcard")) || contact.is_some();
    if cards.is_empty() && !declared {
        return None;
    }
    let mut names: Vec<String> = cards.iter().filter_map(|card| vcard_name(card)).collect();
    if names.is_empty()
        && let Some(name) = contact
            .and_then(Object::get)
            .and_then(|c| c.display_name.non_empty())
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
