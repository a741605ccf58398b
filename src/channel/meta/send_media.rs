//! Sending files through the Cloud API: the file is uploaded (`POST {phone number id}/media`,
//! multipart `file`, `type` = its MIME type, `messaging_product=whatsapp`, answering `{id}`), then
//! sent by that id as an `image`, `video`, `audio`, `document` or `sticker` message. Documents carry
//! their `filename`; images, videos and documents their `caption` (audio and stickers cannot).

use reqwest::multipart::{Form, Part};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{MetaClient, SERVICE, classify, text_at};
use crate::channel::MediaOut;
use crate::domain::MediaKind;
use crate::outbound::{Answer, OutboundError};

/// The Cloud API message type for a file of `kind`.
fn message_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Voice | MediaKind::Audio => "audio",
        MediaKind::Sticker => "sticker",
        MediaKind::Document => "document",
    }
}

/// The `messages` body that sends the uploaded file `media_id` to `chat_id`.
pub(super) fn message_body(chat_id: &str, media_id: &str, media: &MediaOut) -> Value {
    let kind = message_type(media.kind);
    let mut object = json!({ "id": media_id });
    if matches!(kind, "image" | "video" | "document")
        && let Some(caption) = media.caption.as_deref().filter(|c| !c.trim().is_empty())
    {
        object["caption"] = json!(caption);
    }
    if kind == "document" {
        object["filename"] = json!(media.file_name.as_deref().unwrap_or("file"));
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": chat_id,
        "type": kind,
        kind: object,
    })
}

impl MetaClient {
    /// Uploads `media` and returns its media id.
    pub(super) async fn upload(&self, media: &MediaOut) -> Result<String, OutboundError> {
        let file_name = media.file_name.clone().unwrap_or_else(|| "file".into());
        let length = media.bytes.len() as u64;
        let part = Part::stream_with_length(reqwest::Body::from(media.bytes.clone()), length)
            .file_name(file_name)
            .mime_str(&media.mime)
            .map_err(|_| {
                OutboundError::fatal(
                    SERVICE,
                    format!("Graph API upload: {:?} is not a MIME type", media.mime),
                )
            })?;
        let form = Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", media.mime.clone())
            .part("file", part);
        let request = self
            .client
            .post(&self.media_url)
            .bearer_auth(self.token.expose_secret())
            .multipart(form);
        let Answer {
            status,
            headers,
            body,
        } = self.exchange(request).await?;
        tracing::debug!(
            status = status.as_u16(),
            bytes = length,
            "Graph API upload answered"
        );
        if !status.is_success() {
            return Err(self.redact(classify("upload", status, &headers, &body)));
        }
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| text_at(&v, "id").map(str::to_owned))
            .ok_or_else(|| OutboundError::fatal(SERVICE, "Graph API upload: no media id in the answer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(kind: MediaKind, caption: Option<&str>) -> MediaOut {
        MediaOut {
            kind,
            bytes: bytes::Bytes::from_static(b"x"),
            mime: "application/pdf".into(),
            file_name: Some("offerte.pdf".into()),
            caption: caption.map(str::to_owned),
        }
    }

    #[test]
    fn documents_carry_their_name_and_caption() {
        let body = message_body(
            "31628471930",
            "4490",
            &out(MediaKind::Document, Some("De offerte")),
        );
        assert_eq!(
            body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "31628471930",
                "type": "document", "document": {"id": "4490", "caption": "De offerte", "filename": "offerte.pdf"}})
        );
    }

    #[test]
    fn audio_has_no_caption() {
        let body = message_body("3161", "1", &out(MediaKind::Voice, Some("luister")));
        assert_eq!(body["type"], "audio");
        assert_eq!(body["audio"], json!({"id": "1"}));
        let image = message_body("3161", "2", &out(MediaKind::Image, Some("de auto")));
        assert_eq!(image["image"], json!({"id": "2", "caption": "de auto"}));
    }
}
