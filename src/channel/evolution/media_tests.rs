//! Evolution media messages (fixtures in `tests/fixtures/evolution/`): placeholders, and the
//! [`MediaRef`] that `getBase64FromMediaMessage` is asked for.

use serde_json::json;

use super::media::file_length;
use super::tests::message;
use super::*;
use crate::domain::{MediaKind, MediaRef, MediaSource};

fn evolution(id: &str, file_length: Option<u64>) -> MediaSource {
    MediaSource::Evolution {
        instance: "vandermeer-verkoop".into(),
        message_id: id.into(),
        file_length,
    }
}

#[test]
fn a_voice_note_names_its_message() {
    let (_, m) = message("webhook_messages_upsert_voice.json");
    assert_eq!(m.text, "[voice note]");
    assert_eq!(
        m.media.as_deref(),
        Some(&MediaRef {
            kind: MediaKind::Voice,
            mime_type: Some("audio/ogg; codecs=opus".into()),
            file_name: None,
            caption: None,
            source: evolution("3A7F2C9E5B1D40A8C6E2", Some(21)),
        })
    );
}

#[test]
fn an_image_keeps_its_caption_and_a_long_file_length() {
    let (_, m) = message("webhook_messages_upsert_image.json");
    let caption = "Mijn huidige Tesla Model 3 (2021) voor de inruil";
    assert_eq!(m.chat_id, "31611987345@s.whatsapp.net");
    assert_eq!(m.text, format!("[image] {caption}"));
    let media = m.media.unwrap();
    assert_eq!(
        (media.kind, media.caption.as_deref(), media.mime_type.as_deref()),
        (MediaKind::Image, Some(caption), Some("image/jpeg"))
    );
    assert_eq!(media.source, evolution("3A51D08E7C2B94F3A1D6", Some(20)));
}

#[test]
fn a_document_shows_its_file_name() {
    let (_, m) = message("webhook_messages_upsert_document.json");
    assert_eq!(
        m.text,
        "[document] keuringsrapport-tesla.pdf Het keuringsrapport van mijn auto"
    );
    let media = m.media.unwrap();
    assert_eq!(media.kind, MediaKind::Document);
    assert_eq!(media.file_name.as_deref(), Some("keuringsrapport-tesla.pdf"));
    assert_eq!(media.source, evolution("3AC4E9107F5B2D86E3A0", Some(182_734)));
}

#[test]
fn every_media_kind_and_wrapper_gives_a_reference() {
    let parse = |message: serde_json::Value| {
        let body = json!({
            "event": "messages.upsert", "instance": "vandermeer-verkoop",
            "data": {"key": {"remoteJid": "31611987345@s.whatsapp.net", "fromMe": false, "id": "X1"},
                     "message": message}
        });
        match parse_webhook(&serde_json::to_vec(&body).unwrap(), false).unwrap() {
            EvolutionEvent::Message { message, .. } => message,
            other => panic!("{other:?}"),
        }
    };
    let kind = |message: serde_json::Value| {
        let m = parse(message);
        (m.text, m.media.map(|r| r.kind))
    };
    assert_eq!(
        kind(json!({"videoMessage": {"mimetype": "video/mp4", "caption": "Rijdt"}})),
        ("[video] Rijdt".into(), Some(MediaKind::Video))
    );
    assert_eq!(
        kind(json!({"ptvMessage": {"mimetype": "video/mp4"}})),
        ("[video]".into(), Some(MediaKind::Video))
    );
    assert_eq!(
        kind(json!({"audioMessage": {"mimetype": "audio/mpeg", "ptt": false}})),
        ("[audio]".into(), Some(MediaKind::Audio))
    );
    assert_eq!(
        kind(json!({"stickerMessage": {"mimetype": "image/webp"}})),
        ("[sticker]".into(), Some(MediaKind::Sticker))
    );
    assert_eq!(
        kind(json!({"viewOnceMessageV2": {"message": {"imageMessage": {"caption": "Eenmalig"}}}})),
        ("[image] Eenmalig".into(), Some(MediaKind::Image))
    );
    assert_eq!(
        kind(json!({"documentWithCaptionMessage": {"message": {"documentMessage": {"title": "offerte"}}}})),
        ("[document] offerte".into(), Some(MediaKind::Document))
    );
    // Text, locations and contacts carry no file; a caption-less image without a size still has one.
    assert_eq!(kind(json!({"conversation": "Hoi"})), ("Hoi".into(), None));
    let loc = json!({"locationMessage": {"degreesLatitude": 52.09, "degreesLongitude": 5.12}});
    assert_eq!(kind(loc), ("[location] 52.09,5.12".into(), None));
    let plain = parse(json!({"imageMessage": {}}));
    assert_eq!(plain.media.unwrap().source, evolution("X1", None));
}

#[test]
fn file_lengths_come_in_three_shapes() {
    assert_eq!(file_length(&json!(182_734)), Some(182_734));
    assert_eq!(file_length(&json!("182734")), Some(182_734));
    assert_eq!(
        file_length(&json!({"low": 182_734, "high": 0, "unsigned": true})),
        Some(182_734)
    );
    assert_eq!(
        file_length(&json!({"low": -1, "high": 1})),
        Some((1 << 32) | 0xFFFF_FFFF)
    );
    assert_eq!(file_length(&json!("groot")), None);
    assert_eq!(file_length(&json!(null)), None);
    assert_eq!(file_length(&json!({"high": 0})), None);
}
