//! Customers' files in the mirror: the incoming Chatwoot message of a voice note, photo or document
//! gets the file attached (multipart `attachments[]`), with the transcript or caption as content.
//!
//! Where the bytes come from, and why no bytes go into Redis: a mirror job holds the file's
//! [`MediaRef`] (a WAHA path, a Cloud API media id or an Evolution message id, a few dozen bytes), never
//! the file. Files run up to `MEDIA_MAX_BYTES` (16 MB by default), the outbox is peeked 16 jobs at a
//! time and kept for as long as Chatwoot is down, and every job would be copied again when it is marked
//! tried; bytes there would multiply Redis memory for no gain. Instead:
//! - in the common case the turn that downloaded the file (to transcribe it or show it to the model)
//!   drains the outbox right after its commit and hands its files over by history entry id
//!   ([`super::Mirror::drain_with`]), so nothing is fetched twice;
//! - a job that runs later (Chatwoot was down, another instance drains it, a document the turn never
//!   downloaded) fetches the file again from the gateway, streamed and capped like every download, and
//!   retried like any external call.
//!
//! The trade-off is stated plainly: WAHA deletes its downloaded files after
//! `WHATSAPP_FILES_LIFETIME` and Meta its media ids after 7 days, so a job delayed beyond that creates
//! the message with its text only (a warning is logged; the mirror never blocks on a file). The text
//! itself (transcript, `[image] caption`) always arrives.

use std::collections::HashMap;

use super::Mirror;
use crate::domain::MediaRef;
use crate::media::Downloaded;

impl Mirror {
    /// The file to attach to the message of history entry `id`: the one the turn handed over, else
    /// `media` fetched again. `None` when the message has no file or it cannot be fetched any more.
    pub(super) async fn file_for(
        &self,
        chat_id: &str,
        id: &str,
        media: Option<&MediaRef>,
        files: &HashMap<String, Downloaded>,
    ) -> Option<Downloaded> {
        let media = media?;
        if let Some(file) = files.get(id) {
            return Some(file.clone());
        }
        let fetcher = self.media.as_ref()?;
        match fetcher.download(media).await {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::warn!(chat_id, entry = id, kind = media.kind.as_str(), %error, "customer file not attached in Chatwoot; the message goes with its text only");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::MirrorJob;
    use crate::domain::{MediaKind, MediaRef, MediaSource};

    #[test]
    fn jobs_carry_the_file_reference_never_the_bytes_and_old_jobs_still_read() {
        let media = MediaRef {
            kind: MediaKind::Voice,
            mime_type: Some("audio/ogg; codecs=opus".into()),
            file_name: None,
            caption: None,
            source: MediaSource::Meta { id: "1298".into() },
        };
        let job = MirrorJob::customer("wamid.A", "[voice note] hallo", Some(&media));
        let raw = job.encode();
        assert!(raw.contains(r#""media":{"kind":"voice""#), "{raw}");
        assert!(raw.len() < 200, "{raw}");
        assert_eq!(serde_json::from_str::<MirrorJob>(&raw).unwrap(), job);

        let old = r#"{"op":"message","id":"wamid.B","incoming":true,"text":"hoi"}"#;
        let MirrorJob::Message { media, .. } = serde_json::from_str::<MirrorJob>(old).unwrap() else {
            panic!("a message job")
        };
        assert_eq!(media, None);
        assert!(!MirrorJob::customer("x", "hoi", None).encode().contains("media"));
    }
}
