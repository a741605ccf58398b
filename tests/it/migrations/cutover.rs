//! The cut-over over a keyspace with bad data among hundreds of good keys: a list-typed legacy key, an
//! invalid-JSON one and a key with one unreadable entry never block the migration. Naive legacy
//! timestamps are read in `LEGACY_TIMEZONE` (Europe/Amsterdam here).

use std::time::Duration;

use super::*;
use crate::support::app::spawn_app;
use crate::support::fake_llm::FakeLlm;
use crate::support::fake_waha::FakeWaha;
use crate::support::redis::RedisServer;
use crate::support::waha_hooks::message;

const GOOD: usize = 250;
const LIST_KEY: &str = "conversation:31611111111@c.us:history";
const JSON_KEY: &str = "conversation:31622222222@c.us:history";
const ZONE: &str = "Europe/Amsterdam";

fn good_chat(i: usize) -> String {
    format!("316{i:08}@c.us")
}

/// `GOOD` one-message chats, the two unreadable keys inserted half-way, and `CHAT`, whose legacy
/// exchange (winter, then summer) holds one entry of an unknown role.
fn seed_cutover(redis: &RedisServer) {
    for i in 0..GOOD {
        if i == GOOD / 2 {
            redis
                .command(&["RPUSH", LIST_KEY, "written", "by another app"])
                .unwrap();
            redis
                .command(&["SET", JSON_KEY, "{\"role\": \"user\", \"content\""])
                .unwrap();
        }
        let value = legacy(&[("user", &format!("Bericht {i}"), "2025-10-17T09:00:00")]);
        redis
            .command(&["SET", &legacy_key(&good_chat(i)), &value])
            .unwrap();
    }
    let chat = legacy(&[
        ("user", "Ik zoek een BMW X5.", "2025-01-17T12:45:03"),
        (
            "assistant",
            "We hebben er twee op voorraad.",
            "2025-01-17T12:45:10.5",
        ),
        ("system", "internal routing note", "2025-01-17T12:45:11"),
        ("user", "Welke kleur?", "2025-10-17T12:45:03"),
    ]);
    redis.command(&["SET", &legacy_key(CHAT), &chat]).unwrap();
}

fn assert_cutover_report(report: &MigrationReport) {
    assert_eq!((report.from_version, report.to_version), (0, 1), "{report}");
    assert_eq!(report.keys_scanned, GOOD as u64 + 3, "{report:?}");
    assert_eq!(report.keys_imported, GOOD as u64 + 1, "{report:?}");
    assert_eq!(report.entries_imported, GOOD as u64 + 3, "{report:?}");
    assert_eq!(report.entries_skipped, 1, "{report:?}");
    assert_eq!(report.keys_skipped, 2, "{report:?}");
    let mut skipped: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.key.as_str(), s.reason.as_str()))
        .collect();
    skipped.sort_unstable();
    assert_eq!(skipped[0], (LIST_KEY, "holds a list, not a JSON string"));
    assert_eq!(skipped[1].0, JSON_KEY);
    assert!(skipped[1].1.starts_with("invalid JSON"), "{skipped:?}");
}

/// The legacy exchange of `CHAT`: winter time is UTC+1, summer time UTC+2.
async fn assert_chat_imported_in_legacy_zone(store: &RedisStore) {
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
    // 2025-01-17T11:45:03Z, 2025-01-17T11:45:10.5Z, 2025-10-17T10:45:03Z.
    assert_eq!(at, vec![1_737_114_303_000, 1_737_114_310_500, 1_760_697_903_000]);
}

#[tokio::test]
async fn unreadable_keys_and_entries_are_skipped_named_and_never_block_the_cutover() {
    let redis = RedisServer::start();
    seed_cutover(&redis);
    // The legacy keys span several SCAN pages (the migration scans 100 keys per page).
    let first_page = redis
        .command(&["SCAN", "0", "MATCH", "conversation:*:history", "COUNT", "100"])
        .unwrap();
    assert!(
        !first_page.starts_with("*2\r\n$1\r\n0\r\n"),
        "one page only: {first_page:.40}"
    );
    let store = store(&redis).await;

    let report = migrations::run(&store, &options(ZONE)).await.expect("migrate");
    assert_cutover_report(&report);
    assert_eq!(version(&redis).as_deref(), Some("1"), "version recorded");
    let printed = report.to_string();
    assert!(
        printed.contains(LIST_KEY) && printed.contains(JSON_KEY),
        "{printed}"
    );
    assert!(
        !printed.contains("by another app"),
        "values are never printed: {printed}"
    );

    for i in 0..GOOD {
        let history = store.history(&good_chat(i)).await.unwrap();
        let history = history.unwrap_or_else(|| panic!("chat {i} not imported"));
        assert_eq!(
            texts(&history),
            vec![(Role::Customer, format!("Bericht {i}").as_str())]
        );
        // 09:00 in Amsterdam (summer) is 07:00 UTC.
        assert_eq!(history[0].at, 1_760_684_400_000, "chat {i}");
    }
    assert_chat_imported_in_legacy_zone(&store).await;
    assert!(
        redis.command(&["TYPE", LIST_KEY]).unwrap().contains("list"),
        "legacy keys untouched"
    );
    assert!(
        redis
            .command(&["EXISTS", "mig:migrate-lock"])
            .unwrap()
            .contains(":0"),
        "lock released"
    );

    // A second run is a no-op.
    let again = migrations::run(&store, &options(ZONE)).await.unwrap();
    assert_eq!((again.from_version, again.to_version), (1, 1), "{again:?}");
    assert!(again.applied.is_empty() && again.keys_scanned == 0 && again.skipped.is_empty());
    // Even forced (version forgotten), nothing is added twice and the same keys are skipped.
    redis.command(&["DEL", "mig:schema-version"]).unwrap();
    let forced = migrations::run(&store, &options(ZONE)).await.unwrap();
    assert_eq!(
        (forced.entries_imported, forced.keys_skipped),
        (0, 2),
        "{forced:?}"
    );
    assert_chat_imported_in_legacy_zone(&store).await;
}

#[tokio::test]
async fn the_migrate_command_exits_0_and_names_the_skipped_keys() {
    let redis = RedisServer::start();
    seed_cutover(&redis);
    let out = migrate_command(&redis, &[("LEGACY_TIMEZONE", ZONE)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("from version 0 to 1"), "{stdout}");
    assert!(stdout.contains(&format!("{} imported", GOOD + 1)), "{stdout}");
    assert!(stdout.contains("2 unreadable keys skipped"), "{stdout}");
    assert!(
        stdout.contains(&format!("  {LIST_KEY}: holds a list, not a JSON string")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  {JSON_KEY}: invalid JSON")),
        "{stdout}"
    );
    // The log (stderr: the report alone is on stdout) warns once per skipped key with the reason,
    // never with a message body.
    let warned = |key: &str| {
        stderr
            .lines()
            .any(|l| l.contains("legacy key unreadable; skipped") && l.contains(key))
    };
    assert!(warned(LIST_KEY) && warned(JSON_KEY), "{stderr}");
    assert!(
        !stdout.contains("legacy key unreadable"),
        "logs stay off stdout: {stdout}"
    );
    let all = format!("{stdout}{stderr}");
    assert!(
        !all.contains("internal routing note") && !all.contains("Bericht") && !all.contains("BMW"),
        "{all}"
    );
    assert_eq!(version(&redis).as_deref(), Some("1"));
    assert_chat_imported_in_legacy_zone(&store(&redis).await).await;

    let out = migrate_command(&redis, &[("LEGACY_TIMEZONE", ZONE)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to apply"));

    let out = migrate_command(&redis, &[("LEGACY_TIMEZONE", "Europe/Atlantis")]);
    assert_eq!(out.status.code(), Some(2), "an unknown zone is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LEGACY_TIMEZONE") && stderr.contains("Europe/Atlantis"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_server_migrates_at_start_over_bad_keys_and_the_next_turn_remembers_the_legacy_exchange() {
    // LEGACY_TIMEZONE unset: naive legacy times are read in TIMEZONE.
    let redis = RedisServer::start();
    seed_cutover(&redis);
    let llm = FakeLlm::start().await;
    let waha = FakeWaha::start("waha-key").await;
    let app = spawn_app(&[
        ("REDIS_URL", redis.url()),
        ("REDIS_KEY_PREFIX", PREFIX.into()),
        ("WAHA_BASE_URL", waha.url()),
        ("WAHA_API_KEY", "waha-key".into()),
        ("LLM_BASE_URL", llm.url()),
        ("LLM_MODEL", "gpt-4o-mini".into()),
        ("DEBOUNCE_MS", "50".into()),
        ("TIMEZONE", ZONE.into()),
    ])
    .await;

    let resp = app
        .post(
            "/webhooks/waha",
            message(CHAT, "MIG00001", "Weet je nog welke auto ik vroeg?"),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        llm.wait_for_requests(1, Duration::from_secs(15)).await,
        "the turn ran"
    );
    assert_eq!(version(&redis).as_deref(), Some("1"), "migrated at start-up");

    let req = &llm.requests()[0];
    // The changing tail (a later system message: time and hours) is not this test's business.
    let msgs: Vec<(String, String)> = req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, m)| *i == 0 || m["role"] != "system")
        .map(|(_, m)| m)
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(msgs[0].0, "system");
    assert_eq!(
        &msgs[1..],
        &[
            ("user".to_owned(), "Ik zoek een BMW X5.".to_owned()),
            (
                "assistant".to_owned(),
                "We hebben er twee op voorraad.".to_owned()
            ),
            ("user".to_owned(), "Welke kleur?".to_owned()),
            ("user".to_owned(), "Weet je nog welke auto ik vroeg?".to_owned()),
        ]
    );
    assert!(waha.wait_for_sent(1, Duration::from_secs(10)).await);
    assert!(
        waha.sent_to(CHAT)[0].contains("BMW X5"),
        "{:?}",
        waha.sent_to(CHAT)
    );
    let imported = store(&redis).await.history(CHAT).await.unwrap().unwrap();
    let at: Vec<i64> = imported.iter().take(3).map(|e| e.at).collect();
    assert_eq!(at, vec![1_737_114_303_000, 1_737_114_310_500, 1_760_697_903_000]);
    let other = store(&redis).await.history(&good_chat(GOOD - 1)).await.unwrap();
    assert!(other.is_some(), "keys after the unreadable ones were imported");
    app.stop().await;
}
