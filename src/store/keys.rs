//! Every key the service writes, in one place. All start with `REDIS_KEY_PREFIX`.
//!
//! | key | type | what |
//! |---|---|---|
//! | `seen:{gateway}:{id}` | string | a gateway message id seen in the last 24 h (the most numerous keys, so the name is short) |
//! | `inbox:{chat}` | list | envelopes accepted and not yet handled, oldest first |
//! | `work` | stream | "chat has work" signals, read by the `workers` consumer group |
//! | `lease:{chat}` | string | the worker holding the chat (`PX` expiry, renewed during a turn) |
//! | `history:{chat}` | list | the chat's history entries (JSON), oldest first, trimmed to the window |
//! | `outbox:{chat}` | list | mirror jobs waiting for Chatwoot, in order |
//! | `outbox-chats` | set | chats whose outbox is not empty |
//! | `chat:{chat}` | string | chat state (JSON): gateway, name, Chatwoot mapping, handoff gate |
//! | `summary:{chat}` | string | the chat's summary of the history beyond the window (the history's TTL) |
//! | `cw-delivered:{id}` | string | marker: a Chatwoot human reply already delivered to WhatsApp |
//! | `history-incomplete:{chat}` | string | marker: the chat's history was started while Chatwoot could not be read |
//! | `ooo:{chat}:{period}` | string | marker: the out-of-office message of a closed period was sent to the chat |
//! | `intent:{chat}` | hash | the reply a turn is sending (`v`: JSON) and the parts the gateway accepted (`s{n}`: its id); deleted by the turn's commit |
//! | `dlq` | hash | dead letters by id (JSON: chat, reason, envelopes) |
//! | `lock:{name}` | string | short expiring locks (outbox sweep) |
//! | `consumer:{name}` | string | the instance registered under a `CONSUMER_NAME` (`PX` expiry, refreshed every second) |
//! | `schema-version` | string | number of the last keyspace migration applied (absent: 0) |
//! | `web-events:{chat}` | stream | a playground chat's replies, typing and notes (capped, expiring) |
//! | `migrate-lock` | string | the process applying migrations (`PX` expiry, renewed while it runs) |

/// A presence marker: a key holding `1` until it expires (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker<'a> {
    /// The chat's history was started while Chatwoot could not be read.
    HistoryIncomplete(&'a str),
    /// A Chatwoot human reply (by its message id) was already delivered to WhatsApp.
    HumanReplyDelivered(u64),
    /// The out-of-office message of a closed period was sent to a chat.
    OutOfOfficeSent {
        /// The chat.
        chat: &'a str,
        /// The closed period's id.
        period: &'a str,
    },
}

/// Key builder bound to one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// `{prefix}{suffix}`.
    pub fn raw(&self, suffix: &str) -> String {
        format!("{}{}", self.prefix, suffix)
    }

    /// The dedupe marker of a gateway message.
    pub fn dedupe(&self, id: &str) -> String {
        self.raw(&format!("seen:{id}"))
    }
    /// A chat's inbox.
    pub fn inbox(&self, chat: &str) -> String {
        self.raw(&format!("inbox:{chat}"))
    }
    /// The work stream.
    pub fn work(&self) -> String {
        self.raw("work")
    }
    /// A chat's lease.
    pub fn lease(&self, chat: &str) -> String {
        self.raw(&format!("lease:{chat}"))
    }
    /// A chat's history.
    pub fn history(&self, chat: &str) -> String {
        self.raw(&format!("history:{chat}"))
    }
    /// A chat's mirror outbox.
    pub fn outbox(&self, chat: &str) -> String {
        self.raw(&format!("outbox:{chat}"))
    }
    /// A chat's state (JSON).
    pub fn chat_state(&self, chat: &str) -> String {
        self.raw(&format!("chat:{chat}"))
    }
    /// A chat's summary.
    pub fn summary(&self, chat: &str) -> String {
        self.raw(&format!("summary:{chat}"))
    }
    /// A presence marker.
    pub fn marker(&self, marker: Marker<'_>) -> String {
        match marker {
            Marker::HistoryIncomplete(chat) => self.raw(&format!("history-incomplete:{chat}")),
            Marker::HumanReplyDelivered(id) => self.raw(&format!("cw-delivered:{id}")),
            Marker::OutOfOfficeSent { chat, period } => self.raw(&format!("ooo:{chat}:{period}")),
        }
    }
    /// A chat's send intent.
    pub fn intent(&self, chat: &str) -> String {
        self.raw(&format!("intent:{chat}"))
    }
    /// The dead-letter hash.
    pub fn dlq(&self) -> String {
        self.raw("dlq")
    }
    /// A named expiring lock.
    pub fn lock(&self, name: &str) -> String {
        self.raw(&format!("lock:{name}"))
    }
    /// The registration of a consumer name.
    pub fn consumer(&self, name: &str) -> String {
        self.raw(&format!("consumer:{name}"))
    }
    /// The set of chats with mirror jobs.
    pub fn outbox_chats(&self) -> String {
        self.raw("outbox-chats")
    }
    /// The keyspace's schema version (see `store::migrations`).
    pub fn schema_version(&self) -> String {
        self.raw("schema-version")
    }
    /// A playground chat's event log.
    pub fn web_events(&self, chat: &str) -> String {
        self.raw(&format!("web-events:{chat}"))
    }
    /// The lock held by the process applying migrations.
    pub fn migrate_lock(&self) -> String {
        self.raw("migrate-lock")
    }
}

/// The consumer group of the work stream.
pub const WORK_GROUP: &str = "workers";
/// Approximate cap of the work stream (acknowledged entries are deleted; this bounds a backlog).
pub const WORK_STREAM_MAXLEN: u64 = 1_000_000;
