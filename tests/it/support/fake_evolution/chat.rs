//! The fake's media and history routes, after Evolution v2's `getBase64FromMediaMessage` and
//! `fetchMessages` (`src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts`).
//!
//! - `POST /chat/getBase64FromMediaMessage/{instance}` `{"message": {"key": {"id"}}, "convertToMp4"}`:
//!   every body is recorded (after the instance and key checks). A message added with
//!   [`FakeEvolution::add_media`] answers 201 `{mediaType, fileName, caption, size: {fileLength,
//!   height, width}, mimetype, base64, buffer: null}`; an unknown id answers 400 `Message not found`
//!   as Evolution does (it throws `BadRequestException`), and [`FakeEvolution::fail_media`] makes every
//!   request answer a given status.
//! - `POST /chat/findMessages/{instance}` `{"where": {"key": {"remoteJid", "fromMe"}}, "offset",
//!   "page"}`: every body is recorded; answers `{"messages": {total, pages, currentPage, records}}`
//!   with the records of the sends to that JID (all `fromMe`), newest first, `offset` per page (50 by
//!   default), or the status set with [`FakeEvolution::fail_reads`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::{FakeEvolution, Shared, check, refuse};

/// A file Evolution can hand out for a message.
#[derive(Clone)]
struct StoredMedia {
    bytes: Vec<u8>,
    mime: String,
    media_type: String,
    file_name: Option<String>,
}

/// The media and history side of the fake.
#[derive(Default)]
pub(super) struct MediaState {
    files: HashMap<String, StoredMedia>,
    requests: Vec<Value>,
    fail: Option<u16>,
    reads: Vec<Value>,
    read_fail: Option<u16>,
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) async fn get_base64(
    State(s): State<Shared>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = check(&s, &headers, &instance) {
        return *r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.media.requests.push(body.clone());
    if let Some(code) = s.media.fail {
        return refuse(status_of(code), "fake Evolution media failure");
    }
    let Some(id) = body.pointer("/message/key/id").and_then(Value::as_str) else {
        let problem = "TypeError: Cannot read properties of undefined (reading 'key')";
        return refuse(StatusCode::BAD_REQUEST, problem);
    };
    let Some(file) = s.media.files.get(id) else {
        return refuse(StatusCode::BAD_REQUEST, "Message not found");
    };
    let extension = file.mime.split(['/', ';']).nth(1).unwrap_or("bin").trim();
    let answer = json!({
        "mediaType": file.media_type,
        "fileName": file.file_name.clone().unwrap_or_else(|| format!("{id}.{extension}")),
        "caption": null,
        "size": {"fileLength": {"low": file.bytes.len(), "high": 0, "unsigned": true}, "height": null, "width": null},
        "mimetype": file.mime,
        "base64": base64::engine::general_purpose::STANDARD.encode(&file.bytes),
        "buffer": null,
    });
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn find_messages(
    State(s): State<Shared>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = check(&s, &headers, &instance) {
        return *r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.media.reads.push(body.clone());
    if let Some(code) = s.media.read_fail {
        return refuse(status_of(code), "fake Evolution read failure");
    }
    let key = body.pointer("/where/key").cloned().unwrap_or(Value::Null);
    if key
        .get("remoteJid")
        .is_some_and(|j| j.as_str().is_none_or(str::is_empty))
    {
        return refuse(StatusCode::BAD_REQUEST, "The property cannot be empty");
    }
    let per_page = body["offset"].as_u64().filter(|&n| n > 0).unwrap_or(50) as usize;
    let page = body["page"].as_u64().filter(|&n| n > 0).unwrap_or(1) as usize;
    let matching: Vec<Value> = s
        .records
        .iter()
        .rev()
        .filter(|r| key.get("remoteJid").is_none_or(|j| r["key"]["remoteJid"] == *j))
        .filter(|r| key.get("fromMe").is_none_or(|f| r["key"]["fromMe"] == *f))
        .map(|r| {
            let mut record = r.clone();
            record["id"] = json!(format!("cm{}", r["key"]["id"].as_str().unwrap_or_default()));
            record["pushName"] = json!("Você");
            record["contextInfo"] = Value::Null;
            record["MessageUpdate"] = json!([{ "status": "SERVER_ACK" }]);
            record
        })
        .collect();
    let total = matching.len();
    let records: Vec<Value> = matching
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    axum::Json(json!({
        "messages": {
            "total": total,
            "pages": total.div_ceil(per_page),
            "currentPage": page,
            "records": records,
        }
    }))
    .into_response()
}

impl FakeEvolution {
    /// Makes message `id` carry a file: `media_type` as Evolution names it (`audioMessage`,
    /// `imageMessage`, …), with `file_name` for documents.
    pub fn add_media(&self, id: &str, bytes: &[u8], mime: &str, media_type: &str, file_name: Option<&str>) {
        let file = StoredMedia {
            bytes: bytes.to_vec(),
            mime: mime.to_owned(),
            media_type: media_type.to_owned(),
            file_name: file_name.map(str::to_owned),
        };
        self.state.lock().unwrap().media.files.insert(id.to_owned(), file);
    }

    /// Every `getBase64FromMediaMessage` request to the right instance with the right key answers
    /// `status` (`None`: normal service).
    pub fn fail_media(&self, status: Option<u16>) {
        self.state.lock().unwrap().media.fail = status;
    }

    /// The bodies of `getBase64FromMediaMessage` requests that passed the instance and key checks.
    pub fn media_requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().media.requests.clone()
    }

    /// Every `findMessages` request that passes the checks answers `status` (`None`: normal service).
    pub fn fail_reads(&self, status: Option<u16>) {
        self.state.lock().unwrap().media.read_fail = status;
    }

    /// The bodies of `findMessages` requests that passed the instance and key checks.
    pub fn reads(&self) -> Vec<Value> {
        self.state.lock().unwrap().media.reads.clone()
    }
}
