//! Files in Chatwoot: creating a message with attachments (a customer's voice note or photo mirrored
//! into the API inbox), reading the attachments of a `message_created` webhook, and fetching one.
//!
//! Field names follow Chatwoot's `Messages::MessageBuilder`: a multipart `POST
//! conversations/{id}/messages` with `content`, `message_type` (`incoming`/`outgoing`), `private`,
//! `source_id` and one `attachments[]` part per file. A webhook's `attachments[]` hold `id`,
//! `file_type` (`image`, `audio`, `video`, `file`, `location`, …), `data_url`, `thumb_url`,
//! `file_size` and `extension`, but no content type: the MIME type comes from the download.
//!
//! `data_url` is an ActiveStorage blob URL (`/rails/active_storage/blobs/redirect/<signed id>/<name>`)
//! that redirects to the stored file; the signed id is the credential, so it is fetched **without**
//! the API token (which must not follow the redirect to object storage). Such a path is fetched from
//! `CHATWOOT_BASE_URL`, since `FRONTEND_URL` may name a host the service cannot reach.
//!
//! Creating a message fails like every Chatwoot call (an [`OutboundError`] of service `chatwoot`,
//! flood limit included); fetching a file fails like every media download (a [`MediaError`]).

use std::time::Instant;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::{ChatwootClient, Message, MessageType, NewMessage, RawMessage};
use crate::domain::MediaKind;
use crate::media::download::fetch;
use crate::media::{Downloaded, MediaError};
use crate::outbound::{Answer, OutboundError, exchange};

pub use crate::domain::Attachment;

/// The file attachments of a `message_created` webhook body (`attachments[]`); locations, contacts
/// and other non-file attachments are left out.
pub fn webhook_attachments(payload: &Value) -> Vec<Attachment> {
    let Some(list) = payload.get("attachments").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| {
            let kind = match a.get("file_type").and_then(Value::as_str)? {
                "image" => MediaKind::Image,
                "audio" => MediaKind::Audio,
                "video" => MediaKind::Video,
                "file" => MediaKind::Document,
                _ => return None,
            };
            let data_url = a.get("data_url").and_then(Value::as_str)?.trim();
            if data_url.is_empty() {
                return None;
            }
            let file_name = reqwest::Url::parse(data_url)
                .ok()
                .and_then(|u| u.path_segments()?.next_back().map(str::to_owned))
                .filter(|n| !n.is_empty());
            Some(Attachment {
                id: a.get("id").and_then(Value::as_u64),
                kind,
                data_url: data_url.to_owned(),
                file_size: a.get("file_size").and_then(Value::as_u64),
                file_name,
            })
        })
        .collect()
}

impl ChatwootClient {
    /// Creates a message with `files` attached (multipart `attachments[]`).
    pub async fn create_message_with_attachments(
        &self,
        conversation_id: u64,
        msg: &NewMessage,
        files: &[Downloaded],
    ) -> Result<Message, OutboundError> {
        let path = format!("conversations/{conversation_id}/messages");
        let what = format!("POST {path} (multipart)");
        let message_type = match msg.message_type {
            MessageType::Incoming => "incoming",
            MessageType::Outgoing => "outgoing",
        };
        let mut form = Form::new()
            .text("content", msg.content.clone())
            .text("message_type", message_type)
            .text("private", msg.private.to_string());
        if let Some(source_id) = &msg.source_id {
            form = form.text("source_id", source_id.clone());
        }
        for (n, file) in files.iter().enumerate() {
            let name = file
                .file_name
                .clone()
                .unwrap_or_else(|| format!("attachment-{}", n + 1));
            let part =
                || Part::stream_with_length(reqwest::Body::from(file.bytes.clone()), file.bytes.len() as u64);
            let part = part()
                .mime_str(&file.mime_type)
                .unwrap_or_else(|_| part())
                .file_name(name);
            form = form.part("attachments[]", part);
        }
        let token = self.token_header()?;
        let url = format!("{}/api/v1/accounts/{}/{path}", self.base_url, self.account_id);
        let started = Instant::now();
        let request = self
            .http
            .request(Method::POST, url)
            .header("api_access_token", token)
            .multipart(form);
        let Answer {
            status,
            headers,
            body,
        } = exchange(super::SERVICE, &what, request).await?;
        let text = String::from_utf8_lossy(&body);
        tracing::debug!(request = %what, status = status.as_u16(), files = files.len(), elapsed_ms = started.elapsed().as_millis() as u64, "chatwoot request");
        if !status.is_success() {
            return Err(super::status_error(&what, status, &headers, &text));
        }
        let raw: RawMessage =
            serde_json::from_str(&text).map_err(|e| super::unreadable(&what, status, &e))?;
        Ok(raw.into())
    }

    /// Downloads an attachment's `data_url`, streamed and capped at `max_bytes`, without the API
    /// token; ActiveStorage paths are fetched from `CHATWOOT_BASE_URL`. Redirects are followed.
    pub async fn fetch_attachment(
        &self,
        attachment: &Attachment,
        max_bytes: u64,
    ) -> Result<Downloaded, MediaError> {
        if attachment.file_size.is_some_and(|size| size > max_bytes) {
            return Err(MediaError::TooLarge { limit: max_bytes });
        }
        let url = self.attachment_url(&attachment.data_url)?;
        let (bytes, served) = fetch("Chatwoot attachment", self.http.get(url), max_bytes).await?;
        let mime_type = served.unwrap_or_else(|| "application/octet-stream".into());
        Ok(Downloaded {
            bytes,
            mime_type,
            file_name: attachment.file_name.clone(),
        })
    }

    /// `data_url`, with an ActiveStorage path moved onto `CHATWOOT_BASE_URL`.
    fn attachment_url(&self, data_url: &str) -> Result<String, MediaError> {
        let url = reqwest::Url::parse(data_url)
            .map_err(|_| MediaError::fatal("Chatwoot attachment: data_url is not a URL"))?;
        if !url.path().starts_with("/rails/active_storage/") {
            return Ok(url.into());
        }
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        Ok(format!("{}{}{query}", self.base_url, url.path()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_fixture_has_two_file_attachments() {
        let body: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/chatwoot/webhook_message_created_outgoing_human_attachment.json"
        ))
        .unwrap();
        let files = webhook_attachments(&body);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].kind, MediaKind::Document);
        assert_eq!(files[0].file_name.as_deref(), Some("offerte-xc60.pdf"));
        assert_eq!(files[0].file_size, Some(182_734));
        assert_eq!(files[0].id, Some(9314));
        assert_eq!(files[1].kind, MediaKind::Image);
        assert_eq!(files[1].file_name.as_deref(), Some("interieur-xc60.jpg"));
    }

    #[test]
    fn non_file_attachments_are_left_out() {
        let body = serde_json::json!({"attachments": [
            {"file_type": "location", "data_url": "https://maps.example/x", "coordinates_lat": 52.1},
            {"file_type": "contact", "fallback_title": "Mark"},
            {"file_type": "audio", "data_url": ""},
            {"file_type": "video", "data_url": "https://cdn.example/v.mp4"}
        ]});
        let files = webhook_attachments(&body);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].kind, MediaKind::Video);
        assert!(webhook_attachments(&serde_json::json!({"content": "hoi"})).is_empty());
    }
}
