//! The parts of a WAHA webhook that the parser reads, as typed structs borrowing from the body. A WAHA
//! webhook carries far more than the agent needs (the whole message again under `_data`, the sender's
//! and recipient's ids as objects, acks, links, the engine's environment): every key not named here
//! is skipped by serde with `IgnoredAny`, unbuilt, and every named one is [`Scalar`] or [`Object`], so a
//! value of an unexpected type is the parser's to judge. Every engine's shape (WEBJS, NOWEB, GOWS) fits.
//!
//! Invariants: reading fails only on broken JSON (serde_json's error); a key given twice is refused
//! like any struct field given twice; a field the parser reads must be listed here.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::channel::lenient::{Key, Object, Scalar};

/// The envelope of every WAHA event.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Webhook<'a> {
    #[serde(borrow, default)]
    pub event: Scalar<'a>,
    #[serde(borrow, default)]
    pub session: Scalar<'a>,
    #[serde(borrow, default)]
    pub payload: Object<Payload<'a>>,
}

/// A message event's `payload`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Payload<'a> {
    #[serde(borrow, default)]
    pub id: Scalar<'a>,
    #[serde(borrow, default)]
    pub from_me: Scalar<'a>,
    #[serde(borrow, default)]
    pub source: Scalar<'a>,
    #[serde(borrow, default)]
    pub from: Scalar<'a>,
    #[serde(borrow, default)]
    pub timestamp: Scalar<'a>,
    #[serde(borrow, default)]
    pub body: Scalar<'a>,
    #[serde(borrow, default)]
    pub has_media: Scalar<'a>,
    #[serde(borrow, default)]
    pub media: Object<Media<'a>>,
    #[serde(borrow, default)]
    pub location: Object<Location<'a>>,
    #[serde(borrow, default, rename = "vCards")]
    pub v_cards: Scalar<'a>,
    #[serde(borrow, default, rename = "_data")]
    pub data: Object<Data<'a>>,
}

/// `payload.media`: the file WAHA downloaded.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Media<'a> {
    #[serde(borrow, default)]
    pub url: Scalar<'a>,
    #[serde(borrow, default)]
    pub mimetype: Scalar<'a>,
    #[serde(borrow, default)]
    pub filename: Scalar<'a>,
}

/// `payload.location` (every engine).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Location<'a> {
    #[serde(borrow, default)]
    pub name: Scalar<'a>,
    #[serde(borrow, default)]
    pub address: Scalar<'a>,
    #[serde(borrow, default)]
    pub description: Scalar<'a>,
    #[serde(borrow, default)]
    pub latitude: Scalar<'a>,
    #[serde(borrow, default)]
    pub longitude: Scalar<'a>,
}

/// `payload._data`: the engine's own message (WEBJS fields, GOWS `Info`, NOWEB and GOWS `message`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Data<'a> {
    #[serde(borrow, default, rename = "notifyName")]
    pub notify_name: Scalar<'a>,
    #[serde(borrow, default, rename = "pushName")]
    pub push_name: Scalar<'a>,
    #[serde(borrow, default, rename = "Info")]
    pub info: Object<Info<'a>>,
    #[serde(borrow, default, rename = "type")]
    pub kind: Scalar<'a>,
    #[serde(borrow, default)]
    pub caption: Scalar<'a>,
    #[serde(borrow, default)]
    pub mimetype: Scalar<'a>,
    #[serde(borrow, default)]
    pub filename: Scalar<'a>,
    #[serde(borrow, default)]
    pub lat: Scalar<'a>,
    #[serde(borrow, default)]
    pub lng: Scalar<'a>,
    #[serde(borrow, default)]
    pub loc: Scalar<'a>,
    /// NOWEB (Baileys) message object, its keys naming the content (`imageMessage`, …) in key order.
    #[serde(borrow, default)]
    pub message: Object<Parts<'a>>,
    /// GOWS (whatsmeow) message object, the same shape.
    #[serde(borrow, default, rename = "Message")]
    pub message_gows: Object<Parts<'a>>,
}

/// A Baileys/whatsmeow message object: its content parts by key, in key order.
pub(super) type Parts<'a> = BTreeMap<Key<'a>, Object<Part<'a>>>;

/// GOWS `_data.Info`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Info<'a> {
    #[serde(borrow, default, rename = "PushName")]
    pub push_name: Scalar<'a>,
    #[serde(borrow, default, rename = "MediaType")]
    pub media_type: Scalar<'a>,
}

/// One content part of a message object (`audioMessage`, `documentMessage`, `contactMessage`, …).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Part<'a> {
    #[serde(borrow, default)]
    pub ptt: Scalar<'a>,
    #[serde(borrow, default, rename = "PTT")]
    pub ptt_gows: Scalar<'a>,
    #[serde(borrow, default, rename = "fileName")]
    pub file_name: Scalar<'a>,
    #[serde(borrow, default, rename = "displayName")]
    pub display_name: Scalar<'a>,
}

impl<'a> Data<'a> {
    /// Both engines' message objects, NOWEB's first.
    pub fn messages(&self) -> impl Iterator<Item = &Parts<'a>> {
        [&self.message, &self.message_gows]
            .into_iter()
            .filter_map(Object::get)
    }
}

impl<'a> Payload<'a> {
    /// `_data`, when it is an object.
    pub fn data(&self) -> Option<&Data<'a>> {
        self.data.get()
    }

    /// A string of `_data`, trimmed and not empty.
    pub fn data_str<'s>(&'s self, field: impl for<'d> Fn(&'d Data<'a>) -> &'d Scalar<'a>) -> Option<&'s str> {
        self.data().and_then(|d| field(d).non_empty())
    }

    /// A string of `media`, trimmed and not empty.
    pub fn media_str<'s>(
        &'s self,
        field: impl for<'d> Fn(&'d Media<'a>) -> &'d Scalar<'a>,
    ) -> Option<&'s str> {
        self.media.get().and_then(|m| field(m).non_empty())
    }

    /// The content part `key` of NOWEB's message object (`_data.message`), when present.
    pub fn noweb_part(&self, key: &str) -> Option<&Object<Part<'a>>> {
        self.data()?.message.get()?.get(key)
    }

    /// The content part `key` of GOWS's message object (`_data.Message`), when present.
    pub fn gows_part(&self, key: &str) -> Option<&Object<Part<'a>>> {
        self.data()?.message_gows.get()?.get(key)
    }
}
