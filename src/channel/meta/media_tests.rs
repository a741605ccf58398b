//! Media, locations and contacts in Cloud API notifications.

use super::*;
use crate::domain::{InboundMessage, MediaKind, MediaRef, MediaSource};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/meta/", $name))
    };
}

fn only_message(body: &str) -> InboundMessage {
    let n = parse_notification(body.as_bytes()).expect("a valid notification");
    assert_eq!(n.messages.len(), 1, "{n:?}");
    n.messages[0].message.clone()
}

#[test]
fn image_fixture_refers_to_the_media_id() {
    let msg = only_message(fixture!("webhook_image_message.json"));
    assert_eq!(
        msg.media,
        Some(Box::new(MediaRef {
            kind: MediaKind::Image,
            mime_type: Some("image/jpeg".into()),
            file_name: None,
            caption: Some("Mijn huidige Tesla Model 3 (2021) voor de inruil".into()),
            source: MediaSource::Meta {
                id: "1298374650192837".into()
            },
        }))
    );
}

#[test]
fn voice_note_fixture() {
    let msg = only_message(fixture!("webhook_audio_voice_message.json"));
    assert_eq!(msg.text, "[voice note]");
    let media = msg.media.expect("a voice ref");
    assert_eq!(media.kind, MediaKind::Voice);
    assert_eq!(media.mime_type.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(
        media.source,
        MediaSource::Meta {
            id: "1419283746501928".into()
        }
    );
}

#[test]
fn document_fixture() {
    let msg = only_message(fixture!("webhook_document_message.json"));
    assert_eq!(
        msg.text,
        "[document] offerte-x5-xdrive50e.pdf De offerte van de dealer in Utrecht"
    );
    let media = msg.media.expect("a document ref");
    assert_eq!(media.kind, MediaKind::Document);
    assert_eq!(media.file_name.as_deref(), Some("offerte-x5-xdrive50e.pdf"));
    assert_eq!(
        media.source,
        MediaSource::Meta {
            id: "1520394857610293".into()
        }
    );
}

#[test]
fn location_fixture_is_a_placeholder() {
    let msg = only_message(fixture!("webhook_location_message.json"));
    assert_eq!(
        msg.text,
        "[location] 52.0907,5.1214 Showroom Utrecht, Stationsplein 12, 3511 ED Utrecht"
    );
    assert_eq!(msg.media, None);
}

#[test]
fn contacts_are_named() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messages": [{"from": "31628471930", "id": "wamid.C", "type": "contacts", "contacts": [
                {"name": {"formatted_name": "Mark Jansen", "first_name": "Mark"}, "phones": [{"phone": "+31 6 12345678"}]},
                {"name": {"first_name": "Piet"}}
            ]}]
        }}]}],
    });
    let msg = only_message(&body.to_string());
    assert_eq!(msg.text, "[contact] Mark Jansen, Piet");
    assert_eq!(msg.media, None);
}

#[test]
fn media_without_an_id_has_no_ref() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messages": [{"from": "3161", "id": "wamid.S", "type": "sticker", "sticker": {"animated": false}}]
        }}]}],
    });
    let msg = only_message(&body.to_string());
    assert_eq!((msg.text.as_str(), msg.media), ("[sticker]", None));
}
