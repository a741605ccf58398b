//! The narrow interface keyspace migrations need from a store, and nothing more.
//!
//! `store::migrations` depends on this trait; the stores never depend on the migrations. A store that
//! keeps a shared keyspace (Redis) implements it and hands it out through [`Store::keyspace`]; the
//! embedded store keeps nothing across restarts, so it has nothing to migrate and does not implement it.
//!
//! # Invariants
//! - Legacy keys are the replaced system's: they are named without the key prefix, and are only ever
//!   read, never changed or deleted.
//! - The schema version only changes through [`Keyspace::set_schema_version`], which writes only while
//!   the caller still holds the migration lock, so a migrator that lost its lock records nothing.
//!
//! [`Store::keyspace`]: super::Store::keyspace

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::HistoryEntry;

/// A legacy key's value as read by [`Keyspace::read_legacy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyValue {
    /// The key no longer exists (expired or deleted since the scan).
    Missing,
    /// A string value and the key's remaining time to live (`None`: no expiry).
    Text {
        /// The value.
        value: String,
        /// The remaining TTL.
        ttl: Option<Duration>,
    },
    /// A value of another type (`list`, `hash`, …), named as Redis `TYPE` names it.
    OtherType(String),
}

/// Entries to merge into a chat's history by [`Keyspace::import_history`].
#[derive(Debug, Clone)]
pub struct HistoryImport<'a> {
    /// The entries, oldest first. Ids already in the history are skipped.
    pub entries: &'a [HistoryEntry],
    /// Entries whose id starts with this prefix stay at the head: the imported ones go after the
    /// leading run of such entries and before everything else (what the new system wrote).
    pub head_prefix: &'a str,
    /// The history window: the list is trimmed to its newest `window` entries.
    pub window: usize,
    /// The TTL the history gets; a longer remaining TTL already there is kept.
    pub ttl: Duration,
}

/// What keyspace migrations may do to a store.
#[async_trait]
pub trait Keyspace: Send + Sync {
    /// One `SCAN` page of keys matching `pattern` (not prefixed): the next cursor (`"0"` when done)
    /// and the keys found. Start with cursor `"0"`; `count` is a hint of keys looked at per page.
    async fn scan_legacy(
        &self,
        pattern: &str,
        cursor: &str,
        count: u32,
    ) -> Result<(String, Vec<String>), StoreError>;

    /// A legacy key (not prefixed) read as a string, with its TTL; another type is reported, not an
    /// error.
    async fn read_legacy(&self, key: &str) -> Result<LegacyValue, StoreError>;

    /// Atomically merge `import.entries` into the chat's history (see [`HistoryImport`]); the number
    /// of entries added (0 when every id was there already).
    async fn import_history(&self, chat_id: &str, import: &HistoryImport<'_>) -> Result<u64, StoreError>;

    /// The number of the last migration applied (0 when none was).
    async fn schema_version(&self) -> Result<u64, StoreError>;

    /// Take the migration lock for `ttl` as `token`; `false` when another process holds it.
    async fn lock_migrations(&self, token: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Extend the migration lock to `ttl` from now; `false` when it is no longer `token`'s.
    async fn renew_migration_lock(&self, token: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Release the migration lock if `token` still holds it.
    async fn unlock_migrations(&self, token: &str) -> Result<(), StoreError>;

    /// Record `version` as applied, only while `token` holds the migration lock; `false` (nothing
    /// recorded) when it does not.
    async fn set_schema_version(&self, token: &str, version: u64) -> Result<bool, StoreError>;
}
