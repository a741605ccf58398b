//! Customer media end to end over real HTTP: WAHA and Cloud API downloads (streamed and capped),
//! transcription, vision data URLs, sending files through both gateways, and Chatwoot attachments.
//! Every external is a small fake server (`support::fake_media`, `support::slow_file`); the product
//! code runs unchanged, configured through `Settings::from_vars`.
//!
//! Here what comes in (downloads, caps, transcription, vision); `outbound`, files sent through both
//! gateways and attachments to and from Chatwoot.

mod outbound;

use std::collections::HashMap;
use std::time::Duration;

use crate::support::fake_media::FakeMedia;
use crate::support::slow_file::SlowFile;
use base64::Engine;
use serde_json::Value;
use wa_agent::channel::meta::{MetaClient, parse_notification};
use wa_agent::channel::waha::{WahaClient, WahaEvent, parse_webhook};
use wa_agent::channel::{Channel, MediaOut};
use wa_agent::chatwoot::{ChatwootClient, MessageType, NewMessage, webhook_attachments};
use wa_agent::config::{ChatwootSettings, MetaSettings, Settings, WahaSettings};
use wa_agent::domain::{InboundMessage, MediaKind};
use wa_agent::media::{Downloaded, Media, MediaError, prepare};
use wa_agent::outbound::OutboundError;

const WAHA_KEY: &str = "waha-media-key";
const TOKEN: &str = "EAAG-media-token";
const STT_KEY: &str = "stt-key-42";
const TRANSCRIPT: &str = "Hallo, ik wil graag een proefrit maken met de XC60 zaterdag.";
/// Fake bytes of a voice note (Ogg magic first).
const VOICE: &[u8] = b"OggS\x00\x02voice-note-bytes";
/// Fake bytes of a JPEG.
const JPEG: &[u8] = b"\xff\xd8\xff\xe0JFIF-tesla-photo";

fn settings(vars: &[(&str, String)]) -> Settings {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    Settings::from_vars(|k| map.get(k).cloned()).expect("valid settings")
}

/// Media handling against `fake`, with quick retries.
fn media(fake: &FakeMedia, extra: &[(&str, String)]) -> Media {
    let mut vars = vec![
        ("WAHA_BASE_URL", fake.url()),
        ("WAHA_API_KEY", WAHA_KEY.to_owned()),
        ("META_GRAPH_BASE_URL", format!("{}/graph", fake.url())),
        ("META_ACCESS_TOKEN", TOKEN.to_owned()),
        ("TRANSCRIBE_BASE_URL", format!("{}/v1", fake.url())),
        ("TRANSCRIBE_API_KEY", STT_KEY.to_owned()),
    ];
    vars.extend(extra.iter().cloned());
    let mut media = Media::from_settings(&settings(&vars));
    media.backoff = Duration::from_millis(5);
    media
}

fn no_meta() -> MetaSettings {
    MetaSettings {
        graph_base_url: "http://127.0.0.1:9".into(),
        access_token: None,
        phone_number_id: None,
        app_secret: None,
        verify_token: None,
    }
}

fn waha_message(fixture: &str) -> InboundMessage {
    match parse_webhook(fixture.as_bytes(), false) {
        Ok(WahaEvent::Message { message, .. }) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn meta_message(fixture: &str) -> InboundMessage {
    parse_notification(fixture.as_bytes())
        .unwrap()
        .messages
        .remove(0)
        .message
}

#[tokio::test]
async fn waha_voice_note_is_fetched_from_the_base_url_and_transcribed() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let msg = waha_message(include_str!("../../fixtures/waha/webhook_message_voice.json"));
    // The webhook names WAHA's public host; the file must come from WAHA_BASE_URL (the fake).
    fake.add_file(
        "default/false_31641238876@c.us_3A9F0C2D7B5E4186A2C3D9E0F1B7A465.oga",
        VOICE,
        "audio/ogg; codecs=opus",
    );
    let prepared = prepare(
        &msg,
        &media(&fake, &[("TRANSCRIBE_MODEL", "whisper-large-v3".into())]),
    )
    .await;
    assert_eq!(prepared.text, format!("[voice note] {TRANSCRIPT}"));
    assert_eq!(prepared.image_url, None);
    assert_eq!(prepared.file.as_ref().map(|f| f.bytes.as_ref()), Some(VOICE));

    let calls = fake.transcriptions();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Bearer {STT_KEY}").as_str())
    );
    assert_eq!(call.text("model").as_deref(), Some("whisper-large-v3"));
    assert_eq!(call.text("response_format").as_deref(), Some("json"));
    let file = &call.all("file")[0];
    assert_eq!(file.data.as_ref(), VOICE);
    assert_eq!(file.file_name.as_deref(), Some("voice.ogg"));
    assert_eq!(file.content_type.as_deref(), Some("audio/ogg; codecs=opus"));
}

#[tokio::test]
async fn a_wrong_waha_key_leaves_the_placeholder_without_retrying() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let msg = waha_message(include_str!("../../fixtures/waha/webhook_message_voice.json"));
    let mut media = media(&fake, &[]);
    media.fetcher = wa_agent::media::MediaFetcher::new(
        Some(&WahaSettings {
            base_url: fake.url(),
            api_key: Some("wrong".to_owned().into()),
            session: "default".into(),
        }),
        &no_meta(),
        1 << 20,
        Duration::from_secs(5),
    );
    let prepared = prepare(&msg, &media).await;
    assert_eq!(prepared.text, "[voice note]");
    assert_eq!(prepared.file, None);
    assert_eq!(fake.waha_file_requests(), 1, "a 401 is fatal: one request");
    assert!(fake.transcriptions().is_empty());
}

#[tokio::test]
async fn cloud_api_image_reaches_the_model_as_a_data_url() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let msg = meta_message(include_str!("../../fixtures/meta/webhook_image_message.json"));
    fake.add_file("1298374650192837", JPEG, "image/jpeg");
    let prepared = prepare(&msg, &media(&fake, &[("LLM_VISION", "true".into())])).await;
    assert_eq!(
        prepared.text,
        "[image] Mijn huidige Tesla Model 3 (2021) voor de inruil"
    );
    let url = prepared.image_url.expect("a data URL");
    let encoded = url
        .strip_prefix("data:image/jpeg;base64,")
        .expect("a JPEG data URL");
    assert_eq!(
        base64::engine::general_purpose::STANDARD.decode(encoded).unwrap(),
        JPEG
    );
    let bearer = Some(format!("Bearer {TOKEN}"));
    assert_eq!(
        fake.graph_requests(),
        vec![
            ("/graph/1298374650192837".to_owned(), bearer.clone()),
            ("/lookaside/1298374650192837".to_owned(), bearer),
        ]
    );
}

#[tokio::test]
async fn images_without_vision_are_not_downloaded() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let msg = meta_message(include_str!("../../fixtures/meta/webhook_image_message.json"));
    fake.add_file("1298374650192837", JPEG, "image/jpeg");
    let prepared = prepare(&msg, &media(&fake, &[])).await;
    assert_eq!(prepared.text, msg.text);
    assert_eq!((prepared.image_url, prepared.file), (None, None));
    assert!(fake.graph_requests().is_empty());
}

#[tokio::test]
async fn an_expired_cloud_api_media_id_is_fatal_and_not_retried() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let msg = meta_message(include_str!(
        "../../fixtures/meta/webhook_audio_voice_message.json"
    ));
    let media = media(&fake, &[]);
    let err = media.download(msg.media.as_deref().unwrap()).await.unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Outbound(OutboundError::Fatal { service: "media", .. })
        ),
        "{err}"
    );
    assert!(!err.to_string().contains(TOKEN));
    assert_eq!(fake.graph_requests().len(), 1);
    assert_eq!(prepare(&msg, &media).await.text, "[voice note]");
}

#[tokio::test]
async fn a_transcription_that_keeps_failing_leaves_the_placeholder() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    fake.fail_transcription(true);
    let msg = meta_message(include_str!(
        "../../fixtures/meta/webhook_audio_voice_message.json"
    ));
    fake.add_file("1419283746501928", VOICE, "audio/ogg; codecs=opus");
    let media = media(&fake, &[]);
    let prepared = prepare(&msg, &media).await;
    assert_eq!(prepared.text, "[voice note]");
    assert_eq!(
        fake.transcriptions().len(),
        media.attempts as usize,
        "503 is retried, then given up"
    );
    assert!(
        prepared.file.is_some(),
        "the downloaded file is still handed back"
    );
}

#[tokio::test]
async fn transcription_off_leaves_voice_notes_alone() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let msg = meta_message(include_str!(
        "../../fixtures/meta/webhook_audio_voice_message.json"
    ));
    fake.add_file("1419283746501928", VOICE, "audio/ogg; codecs=opus");
    let media = media(&fake, &[("TRANSCRIBE_MODEL", "off".into())]);
    assert!(media.transcriber.is_none());
    assert_eq!(prepare(&msg, &media).await.text, "[voice note]");
    assert!(fake.graph_requests().is_empty() && fake.transcriptions().is_empty());
}

/// A WAHA image served by `server`, prepared with vision on and a `limit`-byte cap.
async fn prepare_capped(server: &SlowFile, limit: u64) -> wa_agent::media::PreparedMedia {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let mut media = media(&fake, &[("LLM_VISION", "true".into())]);
    let waha = WahaSettings {
        base_url: server.url(),
        api_key: None,
        session: "default".into(),
    };
    media.fetcher =
        wa_agent::media::MediaFetcher::new(Some(&waha), &no_meta(), limit, Duration::from_secs(10));
    let msg = waha_message(include_str!("../../fixtures/waha/webhook_message_media.json"));
    prepare(&msg, &media).await
}

#[tokio::test]
async fn over_the_limit_with_content_length_nothing_is_read() {
    const LIMIT: u64 = 64 * 1024;
    const CHUNK: usize = 4096;
    let server = SlowFile::start(1 << 20, CHUNK, true).await;
    let prepared = prepare_capped(&server, LIMIT).await;
    assert!(prepared.text.starts_with("[image] Hier is een foto"));
    assert_eq!((prepared.image_url, prepared.file), (None, None));
    let written = server.written_when_done(Duration::from_secs(10)).await;
    assert!(
        written <= 2 * CHUNK,
        "the client hung up after the headers, yet {written} bytes went out"
    );
}

#[tokio::test]
async fn over_the_limit_without_content_length_stops_at_the_limit() {
    const LIMIT: u64 = 64 * 1024;
    const CHUNK: usize = 4096;
    const TOTAL: usize = 1 << 20;
    let server = SlowFile::start(TOTAL, CHUNK, false).await;
    let prepared = prepare_capped(&server, LIMIT).await;
    assert!(prepared.text.starts_with("[image]"));
    assert_eq!((prepared.image_url, prepared.file), (None, None));
    let written = server.written_when_done(Duration::from_secs(10)).await;
    // The client reads at most the limit plus one chunk; what the server could still write after the
    // hang-up is what sits in the two small socket buffers (a chunk or two).
    assert!(written as u64 > LIMIT, "the limit was reached ({written} bytes)");
    assert!(
        written as u64 <= LIMIT + 3 * CHUNK as u64,
        "{written} bytes written for a {LIMIT}-byte limit"
    );
}
