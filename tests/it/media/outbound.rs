//! Files going out and Chatwoot's attachments: a PDF sent through WAHA (base64 with its caption) and
//! the Cloud API (uploaded, then sent by id), an incoming message mirrored to Chatwoot with its
//! attachment, and a human reply's attachment fetched without the Chatwoot token.

use super::*;

fn pdf() -> MediaOut {
    MediaOut {
        kind: MediaKind::Document,
        bytes: bytes::Bytes::from_static(b"%PDF-1.4\n1 0 obj\n"),
        mime: "application/pdf".into(),
        file_name: Some("offerte-xc60.pdf".into()),
        caption: Some("Hierbij de offerte".into()),
    }
}

#[tokio::test]
async fn waha_send_file_carries_the_base64_pdf_and_caption() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let waha = WahaSettings {
        base_url: fake.url(),
        api_key: Some(WAHA_KEY.to_owned().into()),
        session: "verkoop".into(),
    };
    let client = WahaClient::new(&waha, Duration::from_secs(5));
    let sent = client.send_media("31641238876@c.us", &pdf()).await.unwrap();
    assert_eq!(sent.id.as_deref(), Some("true_31641238876@c.us_3EB0F11E"));
    let sends = fake.waha_sends();
    assert_eq!(sends.len(), 1);
    let (action, body) = &sends[0];
    assert_eq!(action, "sendFile");
    assert_eq!(body["session"], "verkoop");
    assert_eq!(body["chatId"], "31641238876@c.us");
    assert_eq!(body["caption"], "Hierbij de offerte");
    assert_eq!(body["file"]["mimetype"], "application/pdf");
    assert_eq!(body["file"]["filename"], "offerte-xc60.pdf");
    let data = body["file"]["data"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD.decode(data).unwrap(),
        pdf().bytes
    );
}

#[tokio::test]
async fn cloud_api_send_uploads_then_sends_by_id() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let meta = MetaSettings {
        graph_base_url: format!("{}/graph", fake.url()),
        access_token: Some(TOKEN.to_owned().into()),
        phone_number_id: Some("618273645019283".into()),
        app_secret: None,
        verify_token: None,
    };
    let client = MetaClient::new(&meta, Duration::from_secs(5)).unwrap();
    let sent = client.send_media("31628471930", &pdf()).await.unwrap();
    assert_eq!(sent.id.as_deref(), Some("wamid.SENT1"));
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].text("messaging_product").as_deref(), Some("whatsapp"));
    assert_eq!(uploads[0].text("type").as_deref(), Some("application/pdf"));
    let file = &uploads[0].all("file")[0];
    assert_eq!(file.data, pdf().bytes);
    assert_eq!(file.file_name.as_deref(), Some("offerte-xc60.pdf"));
    let messages = fake.graph_messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["type"], "document");
    assert_eq!(messages[0]["to"], "31628471930");
    assert_eq!(
        messages[0]["document"],
        serde_json::json!({"id": "4490709327384033", "caption": "Hierbij de offerte", "filename": "offerte-xc60.pdf"})
    );
}

fn chatwoot(fake: &FakeMedia) -> ChatwootClient {
    let settings = ChatwootSettings {
        base_url: fake.url(),
        api_token: "cw-token-9".to_owned().into(),
        account_id: 3,
        inbox_id: 7,
    };
    ChatwootClient::new(&settings, Duration::from_secs(5))
}

#[tokio::test]
async fn chatwoot_incoming_message_carries_the_attachment() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let msg = NewMessage {
        content: format!("[voice note] {TRANSCRIPT}"),
        message_type: MessageType::Incoming,
        private: false,
        source_id: Some("wa-agent:3A9F0C2D".into()),
    };
    let file = Downloaded {
        bytes: bytes::Bytes::from_static(VOICE),
        mime_type: "audio/ogg; codecs=opus".into(),
        file_name: None,
    };
    let created = chatwoot(&fake)
        .create_message_with_attachments(87, &msg, &[file])
        .await
        .unwrap();
    assert_eq!(created.id, 50_001);
    let requests = fake.chatwoot_messages();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.api_token.as_deref(), Some("cw-token-9"));
    assert_eq!(request.text("content"), Some(msg.content.clone()));
    assert_eq!(request.text("message_type").as_deref(), Some("incoming"));
    assert_eq!(request.text("private").as_deref(), Some("false"));
    assert_eq!(request.text("source_id").as_deref(), Some("wa-agent:3A9F0C2D"));
    let attachments = request.all("attachments[]");
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].data.as_ref(), VOICE);
    assert_eq!(attachments[0].file_name.as_deref(), Some("attachment-1"));
    assert_eq!(
        attachments[0].content_type.as_deref(),
        Some("audio/ogg; codecs=opus")
    );
}

#[tokio::test]
async fn a_human_replys_attachment_is_fetched_from_the_base_url_without_the_token() {
    let fake = FakeMedia::start(WAHA_KEY, TOKEN, TRANSCRIPT).await;
    let body: Value = serde_json::from_str(include_str!(
        "../../fixtures/chatwoot/webhook_message_created_outgoing_human_attachment.json"
    ))
    .unwrap();
    let attachments = webhook_attachments(&body);
    fake.add_file("offerte-xc60.pdf", b"%PDF-1.4 offerte", "application/pdf");
    let file = chatwoot(&fake)
        .fetch_attachment(&attachments[0], 1 << 20)
        .await
        .unwrap();
    assert_eq!(file.bytes.as_ref(), b"%PDF-1.4 offerte");
    assert_eq!(file.mime_type, "application/pdf");
    assert_eq!(file.file_name.as_deref(), Some("offerte-xc60.pdf"));
    assert_eq!(
        fake.blob_tokens(),
        vec![None, None],
        "redirect and file, both without the token"
    );
    let too_large = chatwoot(&fake)
        .fetch_attachment(&attachments[0], 1000)
        .await
        .unwrap_err();
    assert!(matches!(too_large, MediaError::TooLarge { limit: 1000 }));
    assert_eq!(
        fake.blob_tokens().len(),
        2,
        "the announced file_size stopped it before any request"
    );
}
