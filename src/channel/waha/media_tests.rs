//! Media, locations and contacts in WAHA webhooks.

use super::*;
use crate::domain::{InboundMessage, MediaKind, MediaSource};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/waha/", $name))
    };
}

fn message(body: &str) -> InboundMessage {
    match parse_webhook(body.as_bytes(), false) {
        Ok(WahaEvent::Message { message, .. }) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn with_payload(extra: Value) -> String {
    let mut payload = json!({ "id": "false_31641238876@c.us_M1", "fromMe": false });
    payload
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({ "event": "message", "session": "default", "payload": payload }).to_string()
}

#[test]
fn image_fixture_points_at_the_media_url() {
    let msg = message(fixture!("webhook_message_media.json"));
    let media = msg.media.expect("an image ref");
    assert_eq!(media.kind, MediaKind::Image);
    assert_eq!(media.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(media.file_name, None);
    assert_eq!(
        media.caption.as_deref(),
        Some("Hier is een foto van mijn XC60 voor de taxatie. Kleine kras op de achterbumper.")
    );
    assert_eq!(
        media.source,
        MediaSource::Waha {
            url: "https://waha.autobedrijfvandermeer.nl/api/files/default/false_31641238876@c.us_C7E2049B3F5A4D18B6E0A9C3F1D72E58.jpeg".into()
        }
    );
}

#[test]
fn voice_note_fixture() {
    let msg = message(fixture!("webhook_message_voice.json"));
    assert_eq!(msg.text, "[voice note]");
    assert_eq!(msg.message_id, "3A9F0C2D7B5E4186A2C3D9E0F1B7A465");
    let media = msg.media.expect("a voice ref");
    assert_eq!(media.kind, MediaKind::Voice);
    assert_eq!(media.mime_type.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(media.caption, None);
    let MediaSource::Waha { url } = media.source else {
        panic!("a WAHA source")
    };
    assert!(url.ends_with("_3A9F0C2D7B5E4186A2C3D9E0F1B7A465.oga"), "{url}");
}

#[test]
fn document_fixture_names_the_file() {
    let msg = message(fixture!("webhook_message_document.json"));
    assert_eq!(
        msg.text,
        "[document] leasecontract-xc60.pdf Mijn huidige leasecontract, zie pagina 2"
    );
    let media = msg.media.expect("a document ref");
    assert_eq!(media.kind, MediaKind::Document);
    assert_eq!(media.file_name.as_deref(), Some("leasecontract-xc60.pdf"));
    assert_eq!(media.mime_type.as_deref(), Some("application/pdf"));
}

#[test]
fn media_that_waha_did_not_download_is_a_placeholder_only() {
    let msg = message(&with_payload(
        json!({ "hasMedia": true, "media": null, "_data": { "type": "ptt" } }),
    ));
    assert_eq!(msg.text, "[voice note]");
    assert_eq!(msg.media, None);
    let msg = message(&with_payload(
        json!({ "hasMedia": true, "media": { "url": " ", "mimetype": "image/png" } }),
    ));
    assert_eq!((msg.text.as_str(), msg.media), ("[image]", None));
}

#[test]
fn noweb_voice_note_with_url() {
    let msg = message(&with_payload(json!({
        "hasMedia": true,
        "media": { "url": "http://localhost:3000/api/files/default/M1.oga", "mimetype": "audio/ogg; codecs=opus" },
        "_data": { "message": { "audioMessage": { "ptt": true, "seconds": 4 } } }
    })));
    assert_eq!(msg.text, "[voice note]");
    assert_eq!(msg.media.map(|m| m.kind), Some(MediaKind::Voice));
}

#[test]
fn locations_are_placeholders_without_their_thumbnail() {
    let msg = message(&with_payload(json!({
        "body": "/9j/4AAQSkZJRgABAQAAAQABAAD",
        "hasMedia": false,
        "location": { "latitude": "52.0907", "longitude": 5.1214, "description": "Showroom Utrecht\nStationsplein 12" },
        "_data": { "type": "location", "lat": 52.0907, "lng": 5.1214 }
    })));
    assert_eq!(
        msg.text,
        "[location] 52.0907,5.1214 Showroom Utrecht, Stationsplein 12"
    );
    assert_eq!(msg.media, None);
    let webjs = message(&with_payload(json!({
        "body": "/9j/4AAQ",
        "_data": { "type": "location", "lat": 52.09, "lng": 5.12, "loc": "Showroom Utrecht" }
    })));
    assert_eq!(webjs.text, "[location] 52.09,5.12 Showroom Utrecht");
}

#[test]
fn contacts_are_named_from_their_vcards() {
    let card = "BEGIN:VCARD\nVERSION:3.0\nN:Jansen;Mark;;;\nFN:Mark Jansen\nTEL;type=CELL;waid=31612345678:+31 6 12345678\nEND:VCARD";
    let other = "BEGIN:VCARD\r\nFN;CHARSET=UTF-8:Piet de Vries\r\nEND:VCARD";
    let msg = message(&with_payload(json!({
        "body": card, "vCards": [card, other], "_data": { "type": "multi_vcard" }
    })));
    assert_eq!(msg.text, "[contact] Mark Jansen, Piet de Vries");
    assert_eq!(msg.media, None);
    let unnamed = message(&with_payload(
        json!({ "body": "BEGIN:VCARD", "_data": { "type": "vcard" } }),
    ));
    assert_eq!(unnamed.text, "[contact]");
}

#[test]
fn send_file_body_matches_the_fixture_shape() {
    use crate::channel::MediaOut;
    let fixture: Value = serde_json::from_str(fixture!("send_file_request.json")).unwrap();
    let media = MediaOut {
        kind: MediaKind::Document,
        bytes: bytes::Bytes::from_static(b"%PDF-1.4\n"),
        mime: "application/pdf".into(),
        file_name: Some("offerte-xc60.pdf".into()),
        caption: Some("Hierbij de offerte".into()),
    };
    let (action, body) = send_media_body("default", "31641238876@c.us", &media);
    assert_eq!(action, "sendFile");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&body), keys(&fixture));
    assert_eq!(keys(&body["file"]), keys(&fixture["file"]));
    assert_eq!(body["file"]["data"], "JVBERi0xLjQK");
    let voice = MediaOut {
        kind: MediaKind::Voice,
        mime: "audio/mpeg".into(),
        ..media.clone()
    };
    let (action, body) = send_media_body("default", "31641238876@c.us", &voice);
    assert_eq!(action, "sendVoice");
    assert_eq!(body.get("caption"), None);
    assert_eq!(body["convert"], true);
    let image = MediaOut {
        kind: MediaKind::Image,
        ..media
    };
    assert_eq!(send_media_body("default", "x@c.us", &image).0, "sendImage");
}
