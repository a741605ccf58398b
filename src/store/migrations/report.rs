//! What a migration run did, for `wa-agent migrate`'s output and the start-up log.

use super::latest_version;

/// Skipped keys the report names; [`MigrationReport::keys_skipped`] counts them all.
pub const SKIPPED_NAMED_MAX: usize = 1000;
/// Skipped keys the printed report lists; the rest are summed up as "and N more".
pub const SKIPPED_SHOWN: usize = 20;

/// A legacy key that could not be read, and why (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// The key, as named in Redis.
    pub key: String,
    /// Why it was skipped, e.g. `holds a list, not a JSON string`.
    pub reason: String,
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
    /// Entries skipped inside readable keys (no role or content, an unknown role, an unreadable
    /// timestamp); the rest of their key was imported.
    pub entries_skipped: u64,
    /// Keys skipped because their value could not be read (another type, invalid JSON, not a list).
    pub keys_skipped: u64,
    /// The skipped keys with their reason, in the order met (the first [`SKIPPED_NAMED_MAX`]).
    pub skipped: Vec<SkippedKey>,
    /// Another process held the migration lock: this run changed nothing.
    pub locked_by_other: bool,
}

impl MigrationReport {
    /// Count a skipped key, and name it while fewer than [`SKIPPED_NAMED_MAX`] are named.
    pub(super) fn skip(&mut self, key: &str, reason: String) {
        self.keys_skipped += 1;
        if self.skipped.len() < SKIPPED_NAMED_MAX {
            self.skipped.push(SkippedKey {
                key: key.to_owned(),
                reason,
            });
        }
    }
}

impl std::fmt::Display for MigrationReport {
    /// One sentence, then (when keys were skipped) one line per skipped key, the first
    /// [`SKIPPED_SHOWN`] of them, and "and N more".
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
             ({} history entries, {} unreadable entries skipped), {} unreadable keys skipped",
            self.from_version,
            self.to_version,
            self.applied.join(", "),
            self.keys_scanned,
            self.keys_imported,
            self.entries_imported,
            self.entries_skipped,
            self.keys_skipped
        )?;
        if self.keys_skipped == 0 {
            return Ok(());
        }
        write!(f, "\nskipped keys:")?;
        for s in self.skipped.iter().take(SKIPPED_SHOWN) {
            write!(f, "\n  {}: {}", s.key, s.reason)?;
        }
        let shown = self.skipped.len().min(SKIPPED_SHOWN) as u64;
        if self.keys_skipped > shown {
            write!(f, "\n  and {} more", self.keys_skipped - shown)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied() -> MigrationReport {
        MigrationReport {
            from_version: 0,
            to_version: 1,
            applied: vec!["0001_import_legacy_history"],
            keys_scanned: 3,
            keys_imported: 2,
            entries_imported: 7,
            ..Default::default()
        }
    }

    #[test]
    fn the_report_reads_as_a_sentence() {
        let text = applied().to_string();
        assert!(
            text.contains("from version 0 to 1") && text.contains("2 imported"),
            "{text}"
        );
        assert!(!text.contains('\n'), "nothing skipped, no list: {text}");
        let locked = MigrationReport {
            locked_by_other: true,
            ..Default::default()
        };
        assert!(locked.to_string().contains("lock"));
    }

    #[test]
    fn skipped_keys_are_listed_up_to_a_cap() {
        let mut r = applied();
        for i in 0..SKIPPED_NAMED_MAX + 5 {
            r.skip(
                &format!("conversation:{i}:history"),
                "holds a list, not a JSON string".into(),
            );
        }
        assert_eq!(r.keys_skipped, SKIPPED_NAMED_MAX as u64 + 5);
        assert_eq!(r.skipped.len(), SKIPPED_NAMED_MAX);
        let text = r.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 1 + SKIPPED_SHOWN + 1, "{text}");
        assert_eq!(
            lines[2],
            "  conversation:0:history: holds a list, not a JSON string"
        );
        assert_eq!(
            lines.last().copied(),
            Some(format!("  and {} more", SKIPPED_NAMED_MAX + 5 - SKIPPED_SHOWN).as_str())
        );
    }
}
