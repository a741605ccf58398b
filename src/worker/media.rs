//! Files in the turn, both ways.
//!
//! Customer to agent: before the agent is asked, every message of the run that carries a file is
//! [`prepare`]d (downloaded, transcribed, or turned into an image for the model). What comes out is
//! the message's text for the agent, the history and the Chatwoot mirror (`[voice note] <transcript>`,
//! `[image] caption`); an image's data URL lives for this turn only and is never stored. Preparing
//! never fails: whatever goes wrong, the placeholder stands and the turn goes on.
//!
//! Human to customer: a human agent's Chatwoot reply with attachments sends each file through the
//! chat's gateway ([`Channel::send_media`]), the text as the first file's caption when the file kind
//! shows one, else as its own message. A file that cannot be fetched from Chatwoot or sent is left
//! out and named in a private note; the text still goes.

use std::sync::Arc;

use crate::channel::{Channel, MediaOut};
use crate::domain::{Attachment, HumanReply, InboundMessage, MediaKind, media_text};
use crate::media::{MediaError, PreparedMedia, prepare};
use crate::outbound::OutboundError;
use crate::retry::with_retries;

use super::{ATTEMPTS, BACKOFF, Worker};

/// What reached the customer of a human's reply.
pub(super) struct HumanSent {
    /// The gateway's id of the last message sent.
    pub id: Option<String>,
    /// The reply as the history keeps it: a placeholder per file sent, then the text.
    pub text: String,
    /// Each file left out, with why (for the private note).
    pub missing: Vec<String>,
}

impl Worker {
    /// Each message's text (and image, and file) for this turn, in order.
    pub(super) async fn prepare_media(&self, messages: &[&InboundMessage]) -> Vec<PreparedMedia> {
        let mut prepared = Vec::with_capacity(messages.len());
        for m in messages {
            prepared.push(prepare(m, &self.media).await);
        }
        prepared
    }

    /// Send a human's reply, files first. `Err` only when nothing reached the customer (the text could
    /// not be sent, or a reply of files only had none sent).
    pub(super) async fn send_human_reply(
        &self,
        chat_id: &str,
        gateway: &Arc<dyn Channel>,
        reply: &HumanReply,
    ) -> Result<HumanSent, OutboundError> {
        let text = reply.text.trim();
        let mut caption_left = !text.is_empty();
        let mut sent = HumanSent {
            id: None,
            text: String::new(),
            missing: Vec::new(),
        };
        let mut shown = Vec::new();
        for attachment in &reply.attachments {
            let captioned = caption_left
                && matches!(
                    attachment.kind,
                    MediaKind::Image | MediaKind::Video | MediaKind::Document
                );
            let caption = captioned.then_some(text);
            match self.send_attachment(chat_id, gateway, attachment, caption).await {
                Ok((id, shown_as)) => {
                    caption_left &= !captioned;
                    sent.id = id.or(sent.id.take());
                    shown.push(shown_as);
                }
                Err(missing) => sent.missing.push(missing),
            }
        }
        if caption_left {
            let message =
                with_retries("gateway", ATTEMPTS, BACKOFF, || gateway.send_text(chat_id, text)).await?;
            sent.id = message.id.or(sent.id);
        } else if shown.is_empty() {
            return Err(OutboundError::fatal(
                gateway.kind().as_str(),
                format!("no file could be sent: {}", sent.missing.join("; ")),
            ));
        }
        if !text.is_empty() {
            shown.push(text.to_owned());
        }
        sent.text = shown.join("\n");
        Ok(sent)
    }

    /// Fetch one attachment from Chatwoot and send it, with `caption`. `Ok`: the gateway's id and
    /// the file as the history shows it; `Err`: the file and why it was left out.
    async fn send_attachment(
        &self,
        chat_id: &str,
        gateway: &Arc<dyn Channel>,
        attachment: &Attachment,
        caption: Option<&str>,
    ) -> Result<(Option<String>, String), String> {
        let name = attachment
            .file_name
            .clone()
            .unwrap_or_else(|| attachment.kind.as_str().to_owned());
        let file = self
            .fetch_attachment(attachment)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        let out = MediaOut {
            kind: attachment.kind,
            bytes: file.bytes,
            mime: file.mime_type,
            file_name: file.file_name,
            caption: caption.map(str::to_owned),
        };
        let result = with_retries("gateway", ATTEMPTS, BACKOFF, || gateway.send_media(chat_id, &out)).await;
        let (outcome, sent) = match result {
            Ok(message) => (
                "sent",
                Ok((
                    message.id,
                    media_text(attachment.kind.placeholder(), Some(&name), None),
                )),
            ),
            Err(e) => ("send_failed", Err(format!("{name}: {e}"))),
        };
        crate::media::count(attachment.kind, outcome);
        sent
    }

    /// An attachment's bytes from Chatwoot (without the API token; see
    /// [`crate::chatwoot::ChatwootClient::fetch_attachment`]), retried, capped at `MEDIA_MAX_BYTES`.
    async fn fetch_attachment(
        &self,
        attachment: &Attachment,
    ) -> Result<crate::media::Downloaded, MediaError> {
        let Some(cw) = self.mirror.chatwoot() else {
            return Err(MediaError::fatal("Chatwoot is not configured"));
        };
        let max = self.media.fetcher.max_bytes();
        let result = with_retries("chatwoot attachment", ATTEMPTS, BACKOFF, || {
            cw.fetch_attachment(attachment, max)
        })
        .await;
        if let Ok(file) = &result {
            metrics::counter!("wa_agent_media_bytes_total").increment(file.bytes.len() as u64);
        }
        result
    }
}
