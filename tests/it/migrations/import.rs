//! The import of migration 0001 through the store: order, TTL, window, merging, re-runs, the lock.

use std::process::Command;

use super::*;
use crate::support::redis::RedisServer;

const OTHER: &str = "31600000001@c.us";

/// Two chats with a TTL, one without, one unreadable.
fn seed_legacy(redis: &RedisServer) {
    let chat = legacy(&[
        ("user", "Ik zoek een BMW X5.", "2025-10-17T10:40:49.123456"),
        (
            "assistant",
            "We hebben er twee op voorraad.",
            "2025-10-17T10:41:02.5",
        ),
        ("user", "Welke kleur?", "2025-10-17T10:42:00"),
    ]);
    redis
        .command(&["SET", &legacy_key(CHAT), &chat, "EX", "3600"])
        .unwrap();
    let other = legacy(&[("user", "Hallo", "2025-10-16T08:00:00.000001")]);
    redis.command(&["SET", &legacy_key(OTHER), &other]).unwrap();
    redis
        .command(&["SET", &legacy_key("broken@c.us"), "not json"])
        .unwrap();
    redis.command(&["SET", "conversation:unrelated", "x"]).unwrap();
}

#[tokio::test]
async fn legacy_keys_are_imported_in_order_with_their_ttl() {
    let redis = RedisServer::start();
    seed_legacy(&redis);
    let store = store(&redis).await;

    let report = migrate(&store).await;
    assert_eq!((report.from_version, report.to_version), (0, 1), "{report}");
    assert_eq!(report.applied, vec!["0001_import_legacy_history"]);
    assert_eq!(report.keys_scanned, 3, "{report:?}");
    assert_eq!(report.keys_imported, 2, "{report:?}");
    assert_eq!(report.entries_imported, 4, "{report:?}");
    assert_eq!(report.keys_skipped, 1, "{report:?}");
    assert!(!report.locked_by_other);
    assert_eq!(version(&redis).as_deref(), Some("1"));

    let history = store.history(CHAT).await.unwrap().expect("imported");
    assert_eq!(
        texts(&history),
        vec![
            (Role::Customer, "Ik zoek een BMW X5."),
            (Role::Agent, "We hebben er twee op voorraad."),
            (Role::Customer, "Welke kleur?"),
        ]
    );
    let at: Vec<i64> = history.iter().map(|e| e.at).collect();
    assert_eq!(at, vec![1_760_697_649_123, 1_760_697_662_500, 1_760_697_720_000]);
    assert!(history.iter().all(|e| e.id.starts_with("legacy-")));

    let ttl = pttl(&redis, &format!("{PREFIX}history:{CHAT}"));
    assert!((3_500_000..=3_600_000).contains(&ttl), "legacy TTL kept: {ttl}");
    let ttl = pttl(&redis, &format!("{PREFIX}history:{OTHER}"));
    assert!(
        ttl > 86_000_000 && ttl <= 86_400_000,
        "no legacy TTL: HISTORY_TTL_SECS: {ttl}"
    );
    assert!(
        redis
            .command(&["EXISTS", &legacy_key(CHAT)])
            .unwrap()
            .contains(":1"),
        "legacy kept"
    );
}

#[tokio::test]
async fn the_window_keeps_the_newest_legacy_messages() {
    let redis = RedisServer::start();
    let items: Vec<(String, String)> = (0..30)
        .map(|i| (format!("line {i}"), format!("2025-10-17T10:{i:02}:00")))
        .collect();
    let borrowed: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|(c, t)| ("user", c.as_str(), t.as_str()))
        .collect();
    redis
        .command(&["SET", &legacy_key(CHAT), &legacy(&borrowed)])
        .unwrap();
    let store = store(&redis).await;
    migrate(&store).await;
    let history = store.history(CHAT).await.unwrap().unwrap();
    assert_eq!(history.len(), WINDOW);
    assert_eq!(history[0].text, "line 10");
    assert_eq!(history[19].text, "line 29");
}

#[tokio::test]
async fn running_again_changes_nothing() {
    let redis = RedisServer::start();
    seed_legacy(&redis);
    let store = store(&redis).await;
    migrate(&store).await;
    let before = store.history(CHAT).await.unwrap();

    let again = migrate(&store).await;
    assert_eq!((again.from_version, again.to_version), (1, 1));
    assert!(again.applied.is_empty() && again.keys_scanned == 0, "{again:?}");
    assert!(again.to_string().contains("nothing to apply"), "{again}");

    // Even with the version forgotten, the script itself adds nothing twice.
    redis
        .command(&["DEL", &format!("{PREFIX}schema-version")])
        .unwrap();
    let replay = migrate(&store).await;
    assert_eq!(replay.applied.len(), 1);
    assert_eq!(
        (replay.keys_imported, replay.entries_imported),
        (0, 0),
        "{replay:?}"
    );
    assert_eq!(store.history(CHAT).await.unwrap(), before);
    assert_eq!(version(&redis).as_deref(), Some("1"));
}

#[tokio::test]
async fn an_existing_history_is_merged_without_duplicates() {
    let redis = RedisServer::start();
    let first = [
        ("user", "Oud bericht", "2025-10-17T09:00:00"),
        ("assistant", "Oud antwoord", "2025-10-17T09:00:05"),
    ];
    redis
        .command(&["SET", &legacy_key(CHAT), &legacy(&first), "EX", "600"])
        .unwrap();
    // The new system already answered this chat once.
    let store = store(&redis).await;
    let newer = vec![
        HistoryEntry {
            id: "WA0001".into(),
            role: Role::Customer,
            text: "Nieuw bericht".into(),
            at: 1_760_700_000_000,
        },
        HistoryEntry {
            id: "r-1".into(),
            role: Role::Agent,
            text: "Nieuw antwoord".into(),
            at: 1_760_700_001_000,
        },
    ];
    store.fill_history(CHAT, &newer, WINDOW, TTL).await.unwrap();

    let report = migrate(&store).await;
    assert_eq!(report.entries_imported, 2);
    let history = store.history(CHAT).await.unwrap().unwrap();
    assert_eq!(
        texts(&history),
        vec![
            (Role::Customer, "Oud bericht"),
            (Role::Agent, "Oud antwoord"),
            (Role::Customer, "Nieuw bericht"),
            (Role::Agent, "Nieuw antwoord"),
        ]
    );
    let ttl = pttl(&redis, &format!("{PREFIX}history:{CHAT}"));
    assert!(ttl > 86_000_000, "a longer TTL already there is kept: {ttl}");

    // The old system, still running, appended one more; a re-run adds only that one, after the
    // legacy entries already imported and before the new system's.
    let mut more = first.to_vec();
    more.push(("user", "Nog iets oud", "2025-10-17T09:01:00"));
    redis
        .command(&["SET", &legacy_key(CHAT), &legacy(&more)])
        .unwrap();
    redis
        .command(&["DEL", &format!("{PREFIX}schema-version")])
        .unwrap();
    let report = migrate(&store).await;
    assert_eq!(report.entries_imported, 1, "{report:?}");
    let history = store.history(CHAT).await.unwrap().unwrap();
    assert_eq!(
        history.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(),
        vec![
            "Oud bericht",
            "Oud antwoord",
            "Nog iets oud",
            "Nieuw bericht",
            "Nieuw antwoord"
        ]
    );
}

#[tokio::test]
async fn only_one_process_migrates_at_a_time() {
    let redis = RedisServer::start();
    seed_legacy(&redis);
    let lock = format!("{PREFIX}migrate-lock");

    // Another process holds the lock: nothing is done and the report says why.
    redis
        .command(&["SET", &lock, "someone-else", "PX", "60000"])
        .unwrap();
    let store_a = store(&redis).await;
    let report = migrate(&store_a).await;
    assert!(report.locked_by_other, "{report:?}");
    assert!(report.applied.is_empty());
    assert!(report.to_string().contains("lock"), "{report}");
    assert_eq!(version(&redis), None);
    assert!(store_a.history(CHAT).await.unwrap().is_none());
    redis.command(&["DEL", &lock]).unwrap();

    // Two at once: exactly one applies the migration; the other saw the lock or found it done.
    let store_b = store(&redis).await;
    let (a, b) = tokio::join!(migrate(&store_a), migrate(&store_b));
    let ran = [&a, &b].iter().filter(|r| !r.applied.is_empty()).count();
    assert_eq!(ran, 1, "{a:?} / {b:?}");
    for r in [&a, &b] {
        if r.applied.is_empty() {
            assert!(r.locked_by_other || r.from_version == 1, "{r:?}");
        }
    }
    assert_eq!(store_a.history(CHAT).await.unwrap().unwrap().len(), 3);
    assert!(
        redis.command(&["EXISTS", &lock]).unwrap().contains(":0"),
        "lock released"
    );
    assert_eq!(version(&redis).as_deref(), Some("1"));
}

#[test]
fn the_migrate_command_applies_and_reports() {
    let redis = RedisServer::start();
    seed_legacy(&redis);
    let out = migrate_command(&redis, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("from version 0 to 1"), "{stdout}");
    assert!(stdout.contains("2 imported"), "{stdout}");
    assert_eq!(version(&redis).as_deref(), Some("1"));

    let out = migrate_command(&redis, &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to apply"));

    let out = Command::new(env!("CARGO_BIN_EXE_wa-agent"))
        .arg("migrate")
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success(), "migrate without REDIS_URL fails");
    assert!(String::from_utf8_lossy(&out.stderr).contains("REDIS_URL"));
}
