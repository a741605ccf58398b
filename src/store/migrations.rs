//! Keyspace migrations: ordered changes to what Redis holds, applied once per keyspace.
//!
//! The files live in `migrations/` at the repository root (`0001_…`, `0002_…`), embedded in the binary.
//! Each migration is a Lua script applied to every key a `SCAN` pattern matches, atomically per key.
//!
//! # Invariants
//! - **Version.** `{prefix}schema-version` holds the number of the last migration applied (0 when
//!   absent). It is set after a migration has gone through every key, never before, so a crash
//!   mid-way re-runs that migration from the start: every script is idempotent.
//! - **One migrator.** `{prefix}migrate-lock` (`SET NX PX 60 s`, renewed every 20 s while running,
//!   released by compare-and-delete) lets one process migrate at a time; another one reports the lock
//!   instead of migrating (and [`migrate_or_wait`] waits for the holder to finish). A migrator that
//!   loses its lock stops before the next page of keys and records nothing.
//! - **Cheap when done.** The version is read before the lock is taken: an up-to-date keyspace costs
//!   one `GET` at start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::Value;
use fred::types::scripts::Script;

use super::keys::Keys;
use super::redis::RedisStore;
use super::{Store, StoreError};

/// How long the migration lock lives without renewal.
const LOCK_TTL: Duration = Duration::from_secs(60);
/// How often the holder renews the lock.
const LOCK_RENEW_EVERY: Duration = Duration::from_secs(20);
/// `SCAN … COUNT`.
const SCAN_COUNT: u32 = 500;
/// How often [`migrate_or_wait`] looks again while another process migrates.
const WAIT_POLL: Duration = Duration::from_millis(500);

const RENEW_LOCK_LUA: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"#;

const RELEASE_LOCK_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// One keyspace migration: a Lua script applied to each key that `scan` matches.
pub struct Migration {
    /// Its number; the schema version once it is applied.
    pub version: u64,
    /// The file name without `.lua`.
    pub name: &'static str,
    /// The script. KEYS: the matched key and the key `target` names; ARGV: window, TTL in ms.
    lua: &'static str,
    /// The `SCAN MATCH` pattern of the keys it applies to (not prefixed).
    scan: &'static str,
    /// The second key for a matched key; `None` skips the key.
    target: fn(&Keys, &str) -> Option<String>,
}

/// Every migration, in order. Versions are 1, 2, 3… without gaps.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_import_legacy_history",
    lua: include_str!("../../migrations/0001_import_legacy_history.lua"),
    scan: "conversation:*:history",
    target: legacy_history_target,
}];

/// The schema version this binary migrates to.
pub fn latest_version() -> u64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// `conversation:{chat}:history` → `{prefix}history:{chat}`.
fn legacy_history_target(keys: &Keys, legacy: &str) -> Option<String> {
    let chat = legacy.strip_prefix("conversation:")?.strip_suffix(":history")?;
    (!chat.is_empty()).then(|| keys.history(chat))
}

/// What a migration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version found.
    pub from_version: u64,
    /// The schema version left (equal to `from_version` when nothing ran).
    pub to_version: u64,
    /// Names of the migrations applied by this run, in order.
    pub applied: Vec<&'static str>,
    /// Keys the applied migrations looked at.
    pub keys_scanned: u64,
    /// Keys that changed something (legacy chats imported).
    pub keys_imported: u64,
    /// History entries added over all keys.
    pub entries_imported: u64,
    /// Keys skipped because their value could not be read.
    pub keys_unreadable: u64,
    /// Another process held the migration lock: this run changed nothing.
    pub locked_by_other: bool,
}

impl std::fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let latest = latest_version();
        if self.locked_by_other {
            return write!(
                f,
                "another process holds the migration lock (keyspace at version {}, this binary knows {latest}); \
                 nothing done here",
                self.from_version
            );
        }
        if self.applied.is_empty() {
            return write!(f, "keyspace at version {}: nothing to apply", self.to_version);
        }
        write!(
            f,
            "keyspace migrated from version {} to {} ({}): {} legacy keys scanned, {} imported \
             ({} history entries), {} unreadable and skipped",
            self.from_version,
            self.to_version,
            self.applied.join(", "),
            self.keys_scanned,
            self.keys_imported,
            self.entries_imported,
            self.keys_unreadable
        )
    }
}

/// [`Store::migrate`], retried while another process holds the lock, for at most `wait`. Once the
/// holder finishes, the retry finds the keyspace up to date. A report with `locked_by_other` means the
/// holder was still at it when `wait` ran out.
pub async fn migrate_or_wait(
    store: &dyn Store,
    window: usize,
    ttl: Duration,
    wait: Duration,
) -> Result<MigrationReport, StoreError> {
    let deadline = Instant::now() + wait;
    loop {
        let report = store.migrate(window, ttl).await?;
        if !report.locked_by_other || Instant::now() >= deadline {
            return Ok(report);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn read_version(client: &Client, keys: &Keys) -> Result<u64, StoreError> {
    let raw: Option<String> = client.get(keys.schema_version()).await.map_err(err)?;
    match raw {
        None => Ok(0),
        Some(v) => v.trim().parse().map_err(|_| {
            StoreError(format!(
                "{} holds {v:?}, not a version number",
                keys.schema_version()
            ))
        }),
    }
}

/// The migration lock while held: renewed in the background, released on [`Lock::release`].
struct Lock {
    key: String,
    token: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lock {
    async fn acquire(client: &Client, keys: &Keys) -> Result<Option<Lock>, StoreError> {
        let key = keys.migrate_lock();
        let token = uuid::Uuid::new_v4().to_string();
        let set: Option<String> = client
            .set(
                &key,
                &token,
                Some(Expiration::PX(ms(LOCK_TTL))),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(err)?;
        if set.is_none() {
            return Ok(None);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(client.clone(), key.clone(), token.clone(), lost.clone()));
        Ok(Some(Lock {
            key,
            token,
            lost,
            renewer,
        }))
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(StoreError(
                "the migration lock was lost (Redis unreachable for a minute?); stopped without recording"
                    .into(),
            ));
        }
        Ok(())
    }

    async fn release(self, client: &Client) {
        self.renewer.abort();
        let script = Script::from_lua(RELEASE_LOCK_LUA);
        let res: Result<i64, _> = script
            .evalsha_with_reload(client, vec![self.key], vec![Value::from(self.token)])
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not release the migration lock; it expires by itself");
        }
    }
}

async fn renew(client: Client, key: String, token: String, lost: Arc<AtomicBool>) {
    let script = Script::from_lua(RENEW_LOCK_LUA);
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(LOCK_RENEW_EVERY).await;
        let res: Result<i64, _> = script
            .evalsha_with_reload(
                &client,
                vec![key.clone()],
                vec![Value::from(token.clone()), Value::from(ms(LOCK_TTL))],
            )
            .await;
        match res {
            Ok(1) => last_ok = Instant::now(),
            Ok(_) => break,
            // A failed renewal is retried; the lock only counts as lost once it may have expired.
            Err(_) if last_ok.elapsed() + LOCK_RENEW_EVERY < LOCK_TTL => continue,
            Err(_) => break,
        }
    }
    lost.store(true, Ordering::SeqCst);
}

/// Apply every pending migration to `store`'s Redis (the body of [`Store::migrate`] for Redis).
pub(super) async fn run(
    store: &RedisStore,
    window: usize,
    ttl: Duration,
) -> Result<MigrationReport, StoreError> {
    let (client, keys) = (store.client(), store.keys());
    let found = read_version(client, keys).await?;
    let mut report = MigrationReport {
        from_version: found,
        to_version: found,
        ..Default::default()
    };
    if found >= latest_version() {
        return Ok(report);
    }
    let Some(lock) = Lock::acquire(client, keys).await? else {
        report.locked_by_other = true;
        return Ok(report);
    };
    let outcome = apply_pending(client, keys, &lock, window, ttl, &mut report).await;
    lock.release(client).await;
    outcome.map(|()| report)
}

async fn apply_pending(
    client: &Client,
    keys: &Keys,
    lock: &Lock,
    window: usize,
    ttl: Duration,
    report: &mut MigrationReport,
) -> Result<(), StoreError> {
    // Read again under the lock: the previous holder may have finished just now.
    let version = read_version(client, keys).await?;
    report.from_version = version;
    report.to_version = version;
    for m in MIGRATIONS.iter().filter(|m| m.version > version) {
        let started = Instant::now();
        apply(client, keys, lock, m, window, ttl, report).await?;
        lock.check()?;
        client
            .set::<(), _, _>(keys.schema_version(), m.version as i64, None, None, false)
            .await
            .map_err(err)?;
        report.to_version = m.version;
        report.applied.push(m.name);
        tracing::info!(
            migration = m.name,
            version = m.version,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "keyspace migration applied"
        );
    }
    Ok(())
}

async fn apply(
    client: &Client,
    keys: &Keys,
    lock: &Lock,
    m: &Migration,
    window: usize,
    ttl: Duration,
    report: &mut MigrationReport,
) -> Result<(), StoreError> {
    let script = Script::from_lua(m.lua);
    let mut cursor = String::from("0");
    loop {
        lock.check()?;
        let page: Value = client
            .scan_page(cursor.as_str(), m.scan, Some(SCAN_COUNT), None)
            .await
            .map_err(err)?;
        let mut parts = page.into_array().into_iter();
        cursor = parts
            .next()
            .and_then(|c| c.as_string())
            .ok_or_else(|| StoreError("SCAN answered without a cursor".into()))?;
        let found: Vec<String> = parts
            .next()
            .map(|v| v.into_array().into_iter().filter_map(|k| k.as_string()).collect())
            .unwrap_or_default();
        for key in found {
            let Some(target) = (m.target)(keys, &key) else {
                continue;
            };
            report.keys_scanned += 1;
            let args = vec![Value::from(window as i64), Value::from(ms(ttl))];
            let added: i64 = script
                .evalsha_with_reload(client, vec![key.clone(), target], args)
                .await
                .map_err(|e| StoreError(format!("{} on {key}: {e}", m.name)))?;
            match added {
                n if n > 0 => {
                    report.keys_imported += 1;
                    report.entries_imported += n as u64;
                }
                0 => {}
                _ => {
                    report.keys_unreadable += 1;
                    tracing::warn!(key = %key, migration = m.name, "legacy value unreadable; skipped");
                }
            }
        }
        if cursor == "0" {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as u64 + 1, "{}", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{}", m.name);
        }
        assert_eq!(latest_version(), MIGRATIONS.len() as u64);
    }

    #[test]
    fn legacy_keys_map_to_prefixed_history_keys() {
        let keys = Keys::new("p:");
        assert_eq!(
            legacy_history_target(&keys, "conversation:31612345678@c.us:history").as_deref(),
            Some("p:history:31612345678@c.us")
        );
        assert_eq!(legacy_history_target(&keys, "conversation::history"), None);
        assert_eq!(legacy_history_target(&keys, "other:x:history"), None);
    }

    #[test]
    fn the_report_reads_as_a_sentence() {
        let r = MigrationReport {
            from_version: 0,
            to_version: 1,
            applied: vec!["0001_import_legacy_history"],
            keys_scanned: 3,
            keys_imported: 2,
            entries_imported: 7,
            keys_unreadable: 1,
            locked_by_other: false,
        };
        let text = r.to_string();
        assert!(
            text.contains("from version 0 to 1") && text.contains("2 imported"),
            "{text}"
        );
        let locked = MigrationReport {
            locked_by_other: true,
            ..Default::default()
        };
        assert!(locked.to_string().contains("lock"));
    }
}
