//! Files in the turn, over HTTP with real Redis: a WAHA voice note is transcribed, answered, mirrored
//! to Chatwoot with the file and remembered; a Cloud API photo reaches the model as an `image_url`
//! part with `LLM_VISION=true`; an oversized file and a failing transcriber leave the placeholder and
//! the customer is still answered; a human's Chatwoot reply with a PDF reaches WhatsApp through WAHA's
//! `sendFile` and the Graph API's upload-and-send, and a file that cannot be fetched is reported in a
//! private note while the text still goes.

use std::time::Duration;

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_chatwoot::FakeChatwoot;
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_media::FakeMedia;
use crate::support::redis::RedisServer;
use crate::support::slow_file::SlowFile;
use crate::support::waha_hooks::{fixture, message};
use base64::Engine;
use serde_json::{Value, json};

const WAHA_KEY: &str = "waha-media-key";
const TOKEN: &str = "EAAG-media-token";
const STT_KEY: &str = "stt-key-42";
const CW_TOKEN: &str = "cw-token";
const TRANSCRIPT: &str = "Hallo, ik wil graag een proefrit maken met de XC60 zaterdag.";
const VOICE: &[u8] = b"OggS\x00\x02voice-note-bytes";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0JFIF-tesla-photo";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\n";
const WAHA_CHAT: &str = "31641238876@c.us";
const VOICE_PATH: &str = "default/false_31641238876@c.us_3A9F0C2D7B5E4186A2C3D9E0F1B7A465.oga";
const META_CHAT: &str = "31628471930";
const IMAGE_ID: &str = "1298374650192837";

struct World {
    _redis: RedisServer,
    llm: FakeLlm,
    media: FakeMedia,
    cw: FakeChatwoot,
    app: TestApp,
}

/// The service with WAHA, the Graph API and speech-to-text all on the media fake, a fake model and
/// a fake Chatwoot; `extra` adds or replaces variables.
async fn world(extra: &[(&str, String)]) -> World {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let media = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let cw = FakeChatwoot::start(3, 7, CW_TOKEN).await;
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("WAHA_BASE_URL", media.url()),
        ("WAHA_API_KEY", WAHA_KEY.into()),
        ("META_GRAPH_BASE_URL", format!("{}/graph", media.url())),
        ("META_ACCESS_TOKEN", TOKEN.into()),
        ("META_PHONE_NUMBER_ID", "618273645019283".into()),
        ("TRANSCRIBE_BASE_URL", format!("{}/v1", media.url())),
        ("TRANSCRIBE_API_KEY", STT_KEY.into()),
        ("TRANSCRIBE_MODEL", "whisper-large-v3".into()),
        ("LLM_BASE_URL", llm.url()),
        ("CHATWOOT_BASE_URL", cw.url()),
        ("CHATWOOT_API_TOKEN", CW_TOKEN.into()),
        ("CHATWOOT_ACCOUNT_ID", "3".into()),
        ("CHATWOOT_INBOX_ID", "7".into()),
        ("DEBOUNCE_MS", "50".into()),
        ("SEND_PRESENCE", "false".into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v.clone()));
    }
    let app = spawn_app(&vars).await;
    World {
        _redis: redis,
        llm,
        media,
        cw,
        app,
    }
}

/// Texts the fake WAHA was asked to send with `sendText`.
fn waha_texts(media: &FakeMedia) -> Vec<String> {
    media
        .waha_sends()
        .iter()
        .filter(|(action, _)| action == "sendText")
        .map(|(_, body)| body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The `user` messages of the model's `n`-th request.
async fn post_ok(app: &TestApp, path: &str, body: Vec<u8>) {
    let resp = app.post(path, body, &[]).await;
    assert_eq!(resp.status(), 200, "{path}");
}

#[tokio::test]
async fn a_waha_voice_note_is_heard_mirrored_with_its_file_and_remembered() {
    let w = world(&[]).await;
    w.media.add_file(VOICE_PATH, VOICE, "audio/ogg; codecs=opus");
    post_ok(
        &w.app,
        "/webhooks/waha",
        fixture("waha/webhook_message_voice.json"),
    )
    .await;

    // The model reads the transcript.
    assert!(w.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let voice_text = format!("[voice note] {TRANSCRIPT}");
    assert_eq!(w.llm.user_contents(0).last().unwrap(), &json!(voice_text));
    assert!(eventually(Duration::from_secs(10), || !waha_texts(&w.media).is_empty()).await);
    assert_eq!(waha_texts(&w.media)[0], format!("Antwoord op: {voice_text}"));

    // The file was fetched with the key, and the transcriber got it as multipart with the model.
    let calls = w.media.transcriptions();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {STT_KEY}").as_str())
    );
    assert_eq!(calls[0].text("model").as_deref(), Some("whisper-large-v3"));
    assert_eq!(calls[0].all("file")[0].data.as_ref(), VOICE);

    // Chatwoot's incoming message has the transcript and the voice note attached (no second download).
    assert!(
        eventually(Duration::from_secs(10), || w
            .cw
            .conversation_for_chat(WAHA_CHAT)
            .is_some())
        .await
    );
    let conv = w.cw.conversation_for_chat(WAHA_CHAT).unwrap();
    assert!(w.cw.wait_for_messages(conv, 2, Duration::from_secs(10)).await);
    let incoming =
        w.cw.messages(conv)
            .into_iter()
            .find(|m| m["message_type"] == 0)
            .expect("the incoming message");
    assert_eq!(incoming["content"], json!(voice_text));
    let files = w.cw.attachments(incoming["id"].as_u64().unwrap());
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].data.as_ref(), VOICE);
    assert_eq!(files[0].content_type.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(w.media.waha_file_requests(), 1);

    // The next turn remembers what was said, as text.
    post_ok(
        &w.app,
        "/webhooks/waha",
        message(WAHA_CHAT, "NEXT0001", "Kan dat?"),
    )
    .await;
    assert!(w.llm.wait_for_requests(2, Duration::from_secs(10)).await);
    let users = w.llm.user_contents(1);
    assert_eq!(users, vec![json!(voice_text), json!("Kan dat?")]);
    assert_eq!(
        w.media.transcriptions().len(),
        1,
        "history is not transcribed again"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_cloud_api_photo_reaches_the_model_as_an_image_part_in_its_turn_only() {
    let w = world(&[("LLM_VISION", "true".into())]).await;
    w.media.add_file(IMAGE_ID, JPEG, "image/jpeg");
    post_ok(
        &w.app,
        "/webhooks/meta",
        fixture("meta/webhook_image_message.json"),
    )
    .await;

    assert!(w.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let caption = "[image] Mijn huidige Tesla Model 3 (2021) voor de inruil";
    let encoded = base64::engine::general_purpose::STANDARD.encode(JPEG);
    assert_eq!(
        w.llm.user_contents(0).last().unwrap(),
        &json!([
            {"type": "text", "text": caption},
            {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{encoded}")}}
        ])
    );
    // Both Graph steps carried the token; the reply went out through the Graph API.
    let graph = w.media.graph_requests();
    assert_eq!(graph.len(), 2);
    assert!(
        graph
            .iter()
            .all(|(_, auth)| auth.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );
    assert!(eventually(Duration::from_secs(10), || !w.media.graph_messages().is_empty()).await);
    assert_eq!(w.media.graph_messages()[0]["to"], META_CHAT);
    // Chatwoot's incoming message shows the caption with the photo attached.
    assert!(
        eventually(Duration::from_secs(10), || w
            .cw
            .conversation_for_chat(META_CHAT)
            .is_some())
        .await
    );
    let conv = w.cw.conversation_for_chat(META_CHAT).unwrap();
    assert!(w.cw.wait_for_messages(conv, 2, Duration::from_secs(10)).await);
    let incoming =
        w.cw.messages(conv)
            .into_iter()
            .find(|m| m["message_type"] == 0)
            .unwrap();
    assert_eq!(incoming["content"], caption);
    let files = w.cw.attachments(incoming["id"].as_u64().unwrap());
    assert_eq!(files.iter().map(|f| f.data.as_ref()).collect::<Vec<_>>(), [JPEG]);

    // History keeps the caption only: the image is not sent again.
    let mut next: Value = serde_json::from_slice(&fixture("meta/webhook_text_message.json")).unwrap();
    let msg = &mut next["entry"][0]["changes"][0]["value"]["messages"][0];
    msg["from"] = json!(META_CHAT);
    msg["id"] = json!("wamid.NEXT0002");
    msg["text"]["body"] = json!("Wat is hij waard?");
    next["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = json!(META_CHAT);
    post_ok(&w.app, "/webhooks/meta", serde_json::to_vec(&next).unwrap()).await;
    assert!(w.llm.wait_for_requests(2, Duration::from_secs(10)).await);
    assert_eq!(
        w.llm.user_contents(1),
        vec![json!(caption), json!("Wat is hij waard?")]
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_file_over_the_limit_gives_the_placeholder_and_stops_reading_at_the_limit() {
    const LIMIT: u64 = 64 * 1024;
    const CHUNK: usize = 4096;
    let slow = SlowFile::start(1 << 20, CHUNK, false).await;
    let w = world(&[
        ("LLM_VISION", "true".into()),
        ("MEDIA_MAX_BYTES", LIMIT.to_string()),
    ])
    .await;
    w.media
        .serve_elsewhere(IMAGE_ID, &format!("{}/big.jpg", slow.url()));
    post_ok(
        &w.app,
        "/webhooks/meta",
        fixture("meta/webhook_image_message.json"),
    )
    .await;

    assert!(w.llm.wait_for_requests(1, Duration::from_secs(15)).await);
    let caption = "[image] Mijn huidige Tesla Model 3 (2021) voor de inruil";
    assert_eq!(w.llm.user_contents(0).last().unwrap(), &json!(caption));
    let written = slow.written_when_done(Duration::from_secs(10)).await;
    assert!(
        written as u64 <= LIMIT + 3 * CHUNK as u64,
        "{written} bytes written for a {LIMIT}-byte limit"
    );
    assert!(eventually(Duration::from_secs(10), || !w.media.graph_messages().is_empty()).await);
    assert!(
        w.app
            .metric("wa_agent_media_total{kind=\"image\",outcome=\"too_large\"}")
            .await
            >= 1.0
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_transcriber_that_keeps_failing_leaves_the_placeholder_and_the_reply_goes() {
    let w = world(&[]).await;
    w.media.add_file(VOICE_PATH, VOICE, "audio/ogg; codecs=opus");
    w.media.fail_transcription(true);
    post_ok(
        &w.app,
        "/webhooks/waha",
        fixture("waha/webhook_message_voice.json"),
    )
    .await;

    assert!(w.llm.wait_for_requests(1, Duration::from_secs(15)).await);
    assert_eq!(w.llm.user_contents(0).last().unwrap(), &json!("[voice note]"));
    assert_eq!(w.media.transcriptions().len(), 3, "tried like any external call");
    assert!(eventually(Duration::from_secs(10), || !waha_texts(&w.media).is_empty()).await);
    assert_eq!(waha_texts(&w.media)[0], "Antwoord op: [voice note]");
    w.app.stop().await;
}

/// The fixture of a human's Chatwoot reply with files, for `chat_id` and conversation `conv`, with
/// one attachment: a PDF at `data_url`.
fn human_reply_with_pdf(id: u64, chat_id: &str, conv: u64, data_url: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture(
        "chatwoot/webhook_message_created_outgoing_human_attachment.json",
    ))
    .unwrap();
    v["id"] = json!(id);
    v["conversation"]["id"] = json!(conv);
    v["conversation"]["contact_inbox"]["source_id"] = json!(chat_id);
    let mut pdf = v["attachments"][0].clone();
    pdf["data_url"] = json!(data_url);
    pdf["file_size"] = json!(PDF.len());
    v["attachments"] = json!([pdf]);
    serde_json::to_vec(&v).unwrap()
}

const REPLY_TEXT: &str = "Hierbij de offerte voor de XC60 en een foto van de binnenkant.";

#[tokio::test]
async fn a_human_reply_with_a_pdf_reaches_waha_send_file() {
    let w = world(&[]).await;
    w.media.add_file("offerte-xc60.pdf", PDF, "application/pdf");
    let conv = w.cw.seed_conversation(WAHA_CHAT, "Sanne de Vries", vec![]);
    let url = format!("{}/storage/offerte-xc60.pdf", w.media.url());
    post_ok(
        &w.app,
        "/webhooks/chatwoot",
        human_reply_with_pdf(70_001, WAHA_CHAT, conv, &url),
    )
    .await;

    assert!(eventually(Duration::from_secs(10), || !w.media.waha_sends().is_empty()).await);
    let (action, body) = w.media.waha_sends()[0].clone();
    assert_eq!(action, "sendFile");
    assert_eq!(body["chatId"], WAHA_CHAT);
    assert_eq!(body["caption"], REPLY_TEXT);
    assert_eq!(body["file"]["filename"], "offerte-xc60.pdf");
    assert_eq!(body["file"]["mimetype"], "application/pdf");
    let sent = base64::engine::general_purpose::STANDARD
        .decode(body["file"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(sent, PDF);
    assert!(waha_texts(&w.media).is_empty(), "the text went as the caption");
    assert_eq!(w.media.blob_tokens(), vec![None], "fetched without the API token");

    // A file that cannot be fetched: the text goes alone and a private note names the file.
    let missing = format!("{}/storage/gone.pdf", w.media.url());
    post_ok(
        &w.app,
        "/webhooks/chatwoot",
        human_reply_with_pdf(70_002, WAHA_CHAT, conv, &missing),
    )
    .await;
    assert!(eventually(Duration::from_secs(10), || waha_texts(&w.media).len() == 1).await);
    assert_eq!(waha_texts(&w.media)[0], REPLY_TEXT);
    assert!(
        eventually(Duration::from_secs(10), || w.cw.messages(conv).iter().any(|m| {
            m["private"] == true && m["content"].as_str().is_some_and(|c| c.contains("gone.pdf"))
        }))
        .await,
        "a private note names the file left out"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_human_reply_with_a_pdf_is_uploaded_to_graph_and_sent_by_id() {
    let w = world(&[]).await;
    w.media.add_file("offerte-xc60.pdf", PDF, "application/pdf");
    let conv = w.cw.seed_conversation(META_CHAT, "Sanne de Vries", vec![]);
    let url = format!("{}/storage/offerte-xc60.pdf", w.media.url());
    post_ok(
        &w.app,
        "/webhooks/chatwoot",
        human_reply_with_pdf(70_003, META_CHAT, conv, &url),
    )
    .await;

    assert!(eventually(Duration::from_secs(10), || !w.media.graph_messages().is_empty()).await);
    let uploads = w.media.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].all("file")[0].data.as_ref(), PDF);
    assert_eq!(uploads[0].text("messaging_product").as_deref(), Some("whatsapp"));
    let sent = &w.media.graph_messages()[0];
    assert_eq!(sent["to"], META_CHAT);
    assert_eq!(sent["type"], "document");
    assert_eq!(sent["document"]["id"], "4490709327384033");
    assert_eq!(sent["document"]["caption"], REPLY_TEXT);
    assert_eq!(w.media.graph_messages().len(), 1, "no separate text");
    w.app.stop().await;
}
