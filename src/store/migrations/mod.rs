//! Keyspace migrations: ordered changes to what Redis holds, applied once per keyspace.
//!
//! Migrations depend on the store's narrow [`Keyspace`] interface, never the reverse: a store offers
//! it through [`Store::keyspace`], and a store without one (the embedded store) has nothing to
//! migrate. `migrations/README.md` at the repository root describes each migration for operators.
//!
//! # Invariants
//! - **Version.** `{prefix}schema-version` holds the number of the last migration applied (0 when
//!   absent). It is set after a migration has gone through every key, never before, so a crash
//!   mid-way re-runs that migration from the start: every migration is idempotent.
//! - **Never blocked by bad data.** A key whose value cannot be read (another type, invalid JSON, not a
//!   list) is skipped, counted and named in the [`MigrationReport`] and in a warning; an unreadable
//!   entry inside a key is skipped and counted. Only a store failure stops a migration.
//! - **One migrator.** `{prefix}migrate-lock` (`SET NX PX 60 s`, renewed every 20 s while running,
//!   released by compare-and-delete) lets one process migrate at a time; another one reports the lock
//!   instead of migrating (and [`migrate_or_wait`] waits for the holder to finish). The version is
//!   recorded only while the lock is still ours (compare-and-set), so a migrator that lost its lock
//!   records nothing.
//! - **Cheap when done.** The version is read before the lock is taken: an up-to-date keyspace costs
//!   one `GET` at start-up.

mod legacy;
mod report;

use std::time::{Duration, Instant};

use jiff::tz::TimeZone;

pub use report::{MigrationReport, SKIPPED_NAMED_MAX, SKIPPED_SHOWN, SkippedKey};

use super::keyspace::{HistoryImport, Keyspace, LegacyValue};
use super::{Store, StoreError};

/// How long the migration lock lives without renewal.
const LOCK_TTL: Duration = Duration::from_secs(60);
/// How often the holder renews the lock (checked before every key).
const LOCK_RENEW_EVERY: Duration = Duration::from_secs(20);
/// `SCAN … COUNT`: keys looked at per page.
const SCAN_COUNT: u32 = 100;
/// How often [`migrate_or_wait`] looks again while another process migrates.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// What a migration needs to know beyond the keyspace.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// `HISTORY_WINDOW`: entries an imported chat keeps.
    pub window: usize,
    /// `HISTORY_TTL_SECS`: the TTL of an imported chat whose legacy key has none.
    pub ttl: Duration,
    /// `LEGACY_TIMEZONE`: the zone of the replaced system's naive timestamps.
    pub legacy_zone: TimeZone,
}

/// What a migration does.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// 0001: import `conversation:{chat}:history` into `{prefix}history:{chat}` (see `legacy`).
    ImportLegacyHistory,
}

/// One keyspace migration.
#[derive(Debug)]
pub struct Migration {
    /// Its number; the schema version once it is applied.
    pub version: u64,
    /// Its name, `NNNN_what`.
    pub name: &'static str,
    step: Step,
}

/// Every migration, in order. Versions are 1, 2, 3… without gaps.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_import_legacy_history",
    step: Step::ImportLegacyHistory,
}];

/// The schema version this binary migrates to.
pub fn latest_version() -> u64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Apply every pending migration to `store` once, under the lock. A store without a keyspace has
/// nothing to migrate: an empty report.
pub async fn run(store: &dyn Store, opts: &MigrateOptions) -> Result<MigrationReport, StoreError> {
    match store.keyspace() {
        Some(ks) => run_on(ks, opts).await,
        None => Ok(MigrationReport::default()),
    }
}

/// [`run`], retried while another process holds the lock, for at most `wait`. Once the holder
/// finishes, the retry finds the keyspace up to date. A report with `locked_by_other` means the holder
/// was still at it when `wait` ran out.
pub async fn migrate_or_wait(
    store: &dyn Store,
    opts: &MigrateOptions,
    wait: Duration,
) -> Result<MigrationReport, StoreError> {
    let deadline = Instant::now() + wait;
    loop {
        let report = run(store, opts).await?;
        if !report.locked_by_other || Instant::now() >= deadline {
            return Ok(report);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

async fn run_on(ks: &dyn Keyspace, opts: &MigrateOptions) -> Result<MigrationReport, StoreError> {
    let found = ks.schema_version().await?;
    let mut report = MigrationReport {
        from_version: found,
        to_version: found,
        ..Default::default()
    };
    if found >= latest_version() {
        return Ok(report);
    }
    let Some(mut lock) = Lock::acquire(ks).await? else {
        report.locked_by_other = true;
        return Ok(report);
    };
    let outcome = apply_pending(ks, &mut lock, opts, &mut report).await;
    if let Err(e) = ks.unlock_migrations(&lock.token).await {
        tracing::warn!(error = %e, "could not release the migration lock; it expires by itself");
    }
    outcome.map(|()| report)
}

/// The migration lock while held; renewed by [`Lock::keep`] between keys.
struct Lock {
    token: String,
    renewed: Instant,
}

impl Lock {
    async fn acquire(ks: &dyn Keyspace) -> Result<Option<Lock>, StoreError> {
        let token = uuid::Uuid::new_v4().to_string();
        let taken = ks.lock_migrations(&token, LOCK_TTL).await?;
        Ok(taken.then(|| Lock {
            token,
            renewed: Instant::now(),
        }))
    }

    /// Renew the lock when due; an error when it is no longer ours.
    async fn keep(&mut self, ks: &dyn Keyspace) -> Result<(), StoreError> {
        if self.renewed.elapsed() < LOCK_RENEW_EVERY {
            return Ok(());
        }
        if !ks.renew_migration_lock(&self.token, LOCK_TTL).await? {
            return Err(lost_lock());
        }
        self.renewed = Instant::now();
        Ok(())
    }
}

fn lost_lock() -> StoreError {
    StoreError("the migration lock was lost (expired or taken over); stopped without recording".into())
}

async fn apply_pending(
    ks: &dyn Keyspace,
    lock: &mut Lock,
    opts: &MigrateOptions,
    report: &mut MigrationReport,
) -> Result<(), StoreError> {
    // Read again under the lock: the previous holder may have finished just now.
    let version = ks.schema_version().await?;
    report.from_version = version;
    report.to_version = version;
    for m in MIGRATIONS.iter().filter(|m| m.version > version) {
        let started = Instant::now();
        match m.step {
            Step::ImportLegacyHistory => import_legacy(ks, lock, opts, report).await?,
        }
        lock.keep(ks).await?;
        if !ks.set_schema_version(&lock.token, m.version).await? {
            return Err(lost_lock());
        }
        report.to_version = m.version;
        report.applied.push(m.name);
        tracing::info!(
            migration = m.name,
            version = m.version,
            keys_skipped = report.keys_skipped,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "keyspace migration applied"
        );
    }
    Ok(())
}

/// Migration 0001 over every legacy key, page by page.
async fn import_legacy(
    ks: &dyn Keyspace,
    lock: &mut Lock,
    opts: &MigrateOptions,
    report: &mut MigrationReport,
) -> Result<(), StoreError> {
    let mut cursor = String::from("0");
    loop {
        let (next, keys) = ks.scan_legacy(legacy::PATTERN, &cursor, SCAN_COUNT).await?;
        for key in keys {
            lock.keep(ks).await?;
            import_legacy_key(ks, &key, opts, report).await?;
        }
        if next == "0" {
            return Ok(());
        }
        cursor = next;
    }
}

/// One legacy key: skipped with a warning when unreadable, else its readable entries merged.
async fn import_legacy_key(
    ks: &dyn Keyspace,
    key: &str,
    opts: &MigrateOptions,
    report: &mut MigrationReport,
) -> Result<(), StoreError> {
    report.keys_scanned += 1;
    let Some(chat) = legacy::chat_of(key) else {
        skip(report, key, "names no chat".into());
        return Ok(());
    };
    let (value, ttl) = match ks.read_legacy(key).await? {
        LegacyValue::Missing => return Ok(()),
        LegacyValue::OtherType(kind) => {
            skip(report, key, format!("holds a {kind}, not a JSON string"));
            return Ok(());
        }
        LegacyValue::Text { value, ttl } => (value, ttl),
    };
    let parsed = match legacy::parse(&value, &opts.legacy_zone) {
        Ok(p) => p,
        Err(reason) => {
            skip(report, key, reason);
            return Ok(());
        }
    };
    if parsed.skipped_count() > 0 {
        report.entries_skipped += parsed.skipped_count();
        tracing::warn!(
            key,
            entries_skipped = parsed.skipped_count(),
            reasons = %parsed.skipped_reasons(),
            "legacy entries unreadable; skipped, the rest of the key imported"
        );
    }
    let import = HistoryImport {
        entries: &parsed.entries,
        head_prefix: legacy::ID_PREFIX,
        window: opts.window,
        ttl: ttl.unwrap_or(opts.ttl),
    };
    let added = ks.import_history(chat, &import).await?;
    if added > 0 {
        report.keys_imported += 1;
        report.entries_imported += added;
    }
    Ok(())
}

fn skip(report: &mut MigrationReport, key: &str, reason: String) {
    tracing::warn!(key, reason = %reason, "legacy key unreadable; skipped");
    report.skip(key, reason);
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
}
