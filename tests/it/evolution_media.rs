//! Evolution API media over HTTP with real Redis: a voice note is fetched through
//! `getBase64FromMediaMessage`, transcribed, answered and mirrored with its file; a photo reaches the
//! model with `LLM_VISION=true`; a download Evolution refuses (unknown message, server error) or a
//! file over `MEDIA_MAX_BYTES` leaves the placeholder and no error text reaches the customer. Then the
//! clients on their own against the fake: the fetcher's request and error classes, and
//! `recent_own_texts` through `findMessages`.

use std::time::Duration;

use crate::support::app::{TestApp, eventually, spawn_app};
use crate::support::fake_chatwoot::FakeChatwoot;
use crate::support::fake_evolution::FakeEvolution;
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_media::FakeMedia;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::fixture_json;
use base64::Engine;
use serde_json::{Value, json};

const EVO_KEY: &str = "B6D7F1E2A3C44E5F9A0B1C2D3E4F5A6B";
const INSTANCE: &str = "vandermeer-verkoop";
const STT_KEY: &str = "stt-key-42";
const CW_TOKEN: &str = "cw-token";
const TRANSCRIPT: &str = "Hallo, kan ik zaterdag een proefrit maken in de BMW X5?";
const VOICE: &[u8] = b"OggS\x00\x02evo-voice-21";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0JFIF-tesla-photo";
const VOICE_ID: &str = "3A7F2C9E5B1D40A8C6E2";
const IMAGE_ID: &str = "3A51D08E7C2B94F3A1D6";
const CHAT: &str = "31611987345@s.whatsapp.net";
const NUMBER: &str = "31611987345";
const CAPTION: &str = "[image] Mijn huidige Tesla Model 3 (2021) voor de inruil";

struct World {
    _redis: RedisServer,
    llm: FakeLlm,
    evo: FakeEvolution,
    stt: FakeMedia,
    cw: FakeChatwoot,
    app: TestApp,
}

/// The service with Evolution on its fake, speech-to-text on the media fake, a fake model and a fake
/// Chatwoot; `extra` adds or replaces variables.
async fn world(extra: &[(&str, String)]) -> World {
    let redis = RedisServer::start();
    let llm = FakeLlm::start().await;
    let evo = FakeEvolution::start(EVO_KEY, INSTANCE).await;
    let stt = FakeMedia::start("unused-waha-key", "unused-token", TRANSCRIPT).await;
    let cw = FakeChatwoot::start(3, 7, CW_TOKEN).await;
    let mut vars: Vec<(&str, String)> = vec![
        ("REDIS_URL", redis.url()),
        ("EVOLUTION_BASE_URL", evo.url()),
        ("EVOLUTION_API_KEY", EVO_KEY.into()),
        ("EVOLUTION_INSTANCE", INSTANCE.into()),
        ("TRANSCRIBE_BASE_URL", format!("{}/v1", stt.url())),
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
        evo,
        stt,
        cw,
        app,
    }
}

fn fixture(name: &str) -> Value {
    fixture_json(&format!("evolution/{name}"))
}

async fn post_hook(app: &TestApp, body: &Value) {
    let resp = app
        .post(
            "/webhooks/evolution",
            serde_json::to_vec(body).unwrap(),
            &[("apikey", EVO_KEY)],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    assert_eq!(ack["status"], "accepted", "{ack}");
}

/// The `user` messages of the model's `n`-th request.
/// Waits for the `n`-th reply to the customer and returns every reply so far.
async fn replies(evo: &FakeEvolution, n: usize) -> Vec<String> {
    assert!(
        eventually(Duration::from_secs(15), || evo.sent_to(NUMBER).len() >= n).await,
        "reply {n} sent: {:?}",
        evo.sent()
    );
    evo.sent_to(NUMBER)
}

fn media_request(id: &str) -> Value {
    json!({ "message": { "key": { "id": id } }, "convertToMp4": false })
}

#[tokio::test]
async fn an_evolution_voice_note_is_fetched_transcribed_answered_and_mirrored() {
    let w = world(&[]).await;
    w.evo
        .add_media(VOICE_ID, VOICE, "audio/ogg; codecs=opus", "audioMessage", None);
    post_hook(&w.app, &fixture("webhook_messages_upsert_voice.json")).await;

    assert!(w.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let voice_text = format!("[voice note] {TRANSCRIPT}");
    assert_eq!(w.llm.user_contents(0).last().unwrap(), &json!(voice_text));
    assert_eq!(w.evo.media_requests(), vec![media_request(VOICE_ID)]);
    let calls = w.stt.transcriptions();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].all("file")[0].data.as_ref(), VOICE);
    assert_eq!(
        calls[0].all("file")[0].content_type.as_deref(),
        Some("audio/ogg; codecs=opus")
    );
    assert_eq!(
        replies(&w.evo, 1).await,
        vec![format!("Antwoord op: {voice_text}")]
    );

    // Chatwoot's incoming message reads the transcript and carries the voice note, not fetched twice.
    assert!(
        eventually(Duration::from_secs(10), || w
            .cw
            .conversation_for_chat(CHAT)
            .is_some())
        .await
    );
    let conv = w.cw.conversation_for_chat(CHAT).unwrap();
    assert!(w.cw.wait_for_messages(conv, 2, Duration::from_secs(10)).await);
    let incoming =
        w.cw.messages(conv)
            .into_iter()
            .find(|m| m["message_type"] == 0)
            .expect("the incoming message");
    assert_eq!(incoming["content"], json!(voice_text));
    let files = w.cw.attachments(incoming["id"].as_u64().unwrap());
    assert_eq!(files.iter().map(|f| f.data.as_ref()).collect::<Vec<_>>(), [VOICE]);
    assert_eq!(w.evo.media_requests().len(), 1);
    w.app.stop().await;
}

#[tokio::test]
async fn an_evolution_photo_reaches_the_model_as_an_image_part() {
    let w = world(&[("LLM_VISION", "true".into())]).await;
    w.evo
        .add_media(IMAGE_ID, JPEG, "image/jpeg", "imageMessage", None);
    // Addressed by `@lid` with the phone JID beside it: answered under the phone JID.
    post_hook(&w.app, &fixture("webhook_messages_upsert_image.json")).await;

    assert!(w.llm.wait_for_requests(1, Duration::from_secs(10)).await);
    let encoded = base64::engine::general_purpose::STANDARD.encode(JPEG);
    assert_eq!(
        w.llm.user_contents(0).last().unwrap(),
        &json!([
            {"type": "text", "text": CAPTION},
            {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{encoded}")}}
        ])
    );
    assert_eq!(w.evo.media_requests(), vec![media_request(IMAGE_ID)]);
    // Answered (the fake model reads text parts only) under the phone number.
    assert_eq!(replies(&w.evo, 1).await.len(), 1);
    // Chatwoot gets the caption with the photo; the turn's download is handed over, not repeated.
    assert_eq!(mirrored_incoming(&w.cw, 1).await, vec![(CAPTION.to_owned(), 1)]);
    assert_eq!(w.evo.media_requests().len(), 1);
    w.app.stop().await;
}

/// No reply may carry what went wrong behind the scenes.
fn assert_clean(reply: &str) {
    for leak in [
        "Message not found",
        "Bad Request",
        "400",
        "500",
        "media",
        "Evolution",
        "error",
    ] {
        assert!(!reply.contains(leak), "{leak:?} in {reply:?}");
    }
}

/// Waits until Chatwoot shows `n` incoming messages of the chat (the mirror is done with them, file
/// or not) and returns them as `(content, attachment count)`.
async fn mirrored_incoming(cw: &FakeChatwoot, n: usize) -> Vec<(String, usize)> {
    let incoming = || {
        cw.conversation_for_chat(CHAT)
            .map(|conv| {
                cw.messages(conv)
                    .into_iter()
                    .filter(|m| m["message_type"] == 0)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert!(
        eventually(Duration::from_secs(20), || incoming().len() >= n).await,
        "{n} incoming messages mirrored"
    );
    incoming()
        .iter()
        .map(|m| {
            let files = cw.attachments(m["id"].as_u64().unwrap()).len();
            (m["content"].as_str().unwrap_or_default().to_owned(), files)
        })
        .collect()
}

#[tokio::test]
async fn a_failed_evolution_download_leaves_the_placeholder_and_no_error_text() {
    let w = world(&[("LLM_VISION", "true".into())]).await;
    // Evolution does not know the message: 400, fatal.
    post_hook(&w.app, &fixture("webhook_messages_upsert_image.json")).await;
    let sent = replies(&w.evo, 1).await;
    assert_eq!(w.llm.user_contents(0).last().unwrap(), &json!(CAPTION));
    assert_eq!(sent, vec![format!("Antwoord op: {CAPTION}")]);
    assert_clean(&sent[0]);
    // Chatwoot gets the caption without the file; the mirror asked once more, and neither retried.
    assert_eq!(mirrored_incoming(&w.cw, 1).await, vec![(CAPTION.to_owned(), 0)]);
    assert_eq!(w.evo.media_requests().len(), 2, "a 400 is not retried");

    // Evolution keeps failing: retried like any external call, then the placeholder; no transcription.
    w.evo
        .add_media(VOICE_ID, VOICE, "audio/ogg; codecs=opus", "audioMessage", None);
    w.evo.fail_media(Some(500));
    post_hook(&w.app, &fixture("webhook_messages_upsert_voice.json")).await;
    let sent = replies(&w.evo, 2).await;
    assert_eq!(w.llm.user_contents(1).last().unwrap(), &json!("[voice note]"));
    assert_eq!(sent[1], "Antwoord op: [voice note]");
    assert_clean(&sent[1]);
    let mirrored = mirrored_incoming(&w.cw, 2).await;
    assert_eq!(mirrored[1], ("[voice note]".to_owned(), 0));
    assert_eq!(
        w.evo.media_requests().len(),
        2 + 3 + 3,
        "three attempts each for the turn and the mirror"
    );
    assert!(w.stt.transcriptions().is_empty());
    assert!(
        w.app
            .metric("wa_agent_media_total{kind=\"voice\",outcome=\"failed\"}")
            .await
            >= 1.0
    );
    w.app.stop().await;
}

#[tokio::test]
async fn an_evolution_file_over_the_limit_is_refused_by_its_size_then_by_its_base64() {
    let big = vec![0xffu8; 4000];
    let w = world(&[("LLM_VISION", "true".into()), ("MEDIA_MAX_BYTES", "1000".into())]).await;
    w.evo
        .add_media(IMAGE_ID, &big, "image/jpeg", "imageMessage", None);
    // The webhook announces 4000 bytes: nothing is requested, by the turn or the mirror.
    let mut announced = fixture("webhook_messages_upsert_image.json");
    announced["data"]["message"]["imageMessage"]["fileLength"] = json!("4000");
    post_hook(&w.app, &announced).await;
    let sent = replies(&w.evo, 1).await;
    assert_eq!(w.llm.user_contents(0).last().unwrap(), &json!(CAPTION));
    assert_clean(&sent[0]);
    assert_eq!(mirrored_incoming(&w.cw, 1).await, vec![(CAPTION.to_owned(), 0)]);
    assert!(w.evo.media_requests().is_empty(), "refused before asking");

    // No size announced: fetched (by the turn, then the mirror), refused by the base64's length.
    let mut silent = fixture("webhook_messages_upsert_image.json");
    silent["data"]["key"]["id"] = json!("3A51D08E7C2B94F3A1D7");
    silent["data"]["message"]["imageMessage"]
        .as_object_mut()
        .unwrap()
        .remove("fileLength");
    w.evo
        .add_media("3A51D08E7C2B94F3A1D7", &big, "image/jpeg", "imageMessage", None);
    post_hook(&w.app, &silent).await;
    let sent = replies(&w.evo, 2).await;
    assert_eq!(w.llm.user_contents(1).last().unwrap(), &json!(CAPTION));
    assert_clean(&sent[1]);
    assert_eq!(mirrored_incoming(&w.cw, 2).await[1], (CAPTION.to_owned(), 0));
    assert_eq!(w.evo.media_requests().len(), 2, "too large is not retried");
    assert!(
        w.app
            .metric("wa_agent_media_total{kind=\"image\",outcome=\"too_large\"}")
            .await
            >= 3.0
    );
    w.app.stop().await;
}

// ---- The clients on their own ----

fn settings(fake: &FakeEvolution, key: &str, instance: &str) -> wa_agent::config::EvolutionSettings {
    wa_agent::config::EvolutionSettings {
        base_url: format!("{}/", fake.url()),
        api_key: Some(key.to_owned().into()),
        instance: instance.into(),
    }
}

async fn fetch(fake: &FakeEvolution, key: &str, id: &str) -> Result<Vec<u8>, wa_agent::media::MediaError> {
    let meta = wa_agent::config::MetaSettings {
        graph_base_url: "http://127.0.0.1:9".into(),
        access_token: None,
        phone_number_id: None,
        app_secret: None,
        verify_token: None,
    };
    let fetcher = wa_agent::media::MediaFetcher::new(None, &meta, 1 << 20, Duration::from_secs(5))
        .with_evolution(Some(&settings(fake, key, INSTANCE)));
    let reference = wa_agent::domain::MediaRef {
        kind: wa_agent::domain::MediaKind::Voice,
        mime_type: None,
        file_name: None,
        caption: None,
        source: wa_agent::domain::MediaSource::Evolution {
            instance: INSTANCE.into(),
            message_id: id.into(),
            file_length: None,
        },
    };
    let file = fetcher.fetch(&reference).await?;
    assert_eq!(file.mime_type, "audio/ogg; codecs=opus", "Evolution's mimetype");
    Ok(file.bytes.to_vec())
}

#[tokio::test]
async fn the_fetcher_asks_evolution_by_message_id_and_classifies_its_answers() {
    let fake = FakeEvolution::start(EVO_KEY, INSTANCE).await;
    fake.add_media(VOICE_ID, VOICE, "audio/ogg; codecs=opus", "audioMessage", None);
    assert_eq!(fetch(&fake, EVO_KEY, VOICE_ID).await.unwrap(), VOICE);
    assert_eq!(fake.media_requests(), vec![media_request(VOICE_ID)]);
    let unknown = fetch(&fake, EVO_KEY, "3A00000000000000DEAD").await.unwrap_err();
    assert!(!unknown.is_retryable(), "{unknown}");
    let wrong_key = fetch(&fake, "wrong", VOICE_ID).await.unwrap_err();
    assert!(!wrong_key.is_retryable(), "{wrong_key}");
    assert!(!wrong_key.to_string().contains("wrong"), "no key in {wrong_key}");
    fake.fail_media(Some(503));
    assert!(fetch(&fake, EVO_KEY, VOICE_ID).await.unwrap_err().is_retryable());
}

#[tokio::test]
async fn recent_own_texts_reads_our_sends_back_through_find_messages() {
    use wa_agent::channel::Channel;
    use wa_agent::channel::evolution::EvolutionClient;
    let fake = FakeEvolution::start(EVO_KEY, INSTANCE).await;
    let client = EvolutionClient::new(&settings(&fake, EVO_KEY, INSTANCE), Duration::from_secs(5));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 5_000;
    client.send_text(CHAT, "Deel een").await.unwrap();
    client.send_text(CHAT, "Deel twee").await.unwrap();
    client
        .send_text("31600000001@s.whatsapp.net", "Andere klant")
        .await
        .unwrap();
    let texts = client.recent_own_texts(CHAT, since).await.unwrap();
    assert_eq!(texts, Some(vec!["Deel twee".to_owned(), "Deel een".to_owned()]));
    assert_eq!(
        fake.reads(),
        vec![json!({"where": {"key": {"remoteJid": CHAT, "fromMe": true}}, "offset": 20, "page": 1})]
    );
    let later = client.recent_own_texts(CHAT, since + 3_600_000).await.unwrap();
    assert_eq!(later, Some(vec![]), "nothing sent after the cut-off");
    fake.fail_reads(Some(500));
    assert!(
        client
            .recent_own_texts(CHAT, since)
            .await
            .unwrap_err()
            .is_retryable()
    );
    let stranger = EvolutionClient::new(&settings(&fake, "wrong", INSTANCE), Duration::from_secs(5));
    let err = stranger.recent_own_texts(CHAT, since).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
}
