//! Working hours: the setting syntax, Chatwoot's inbox shape, and status across DST changes.

use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::*;

fn hours(s: &str) -> WorkingHours {
    s.parse().unwrap_or_else(|e| panic!("{s:?} parses: {e}"))
}

fn at(utc: &str) -> Timestamp {
    utc.parse().unwrap_or_else(|e| panic!("{utc}: {e}"))
}

fn amsterdam() -> TimeZone {
    parse_timezone("Europe/Amsterdam").unwrap()
}

/// The status as (open, next change in UTC, closed since in UTC) for compact assertions.
fn utc(s: &HoursStatus) -> (bool, Option<String>, Option<String>) {
    let z = |z: &Option<jiff::ZonedDateTime>| z.as_ref().map(|z| z.timestamp().to_string());
    (s.open, z(&s.next_change), z(&s.closed_since))
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn the_setting_syntax_reads_days_ranges_and_keywords() {
    let h = hours("mon-fri 09:00-18:00, sat 10:00-14:00");
    assert_eq!(
        h.to_string(),
        "mon 09:00-18:00, tue 09:00-18:00, wed 09:00-18:00, thu 09:00-18:00, fri 09:00-18:00, sat 10:00-14:00, sun closed"
    );
    assert_eq!(hours(&h.to_string()), h, "the canonical form parses back");
    assert_eq!(
        hours("mon 09:00-12:00 13:00-17:00").to_string(),
        "mon 09:00-12:00 13:00-17:00, tue closed, wed closed, thu closed, fri closed, sat closed, sun closed"
    );
    assert_eq!(
        hours("fri-mon 24h").to_string(),
        "mon 24h, tue closed, wed closed, thu closed, fri 24h, sat 24h, sun 24h",
        "a day range may wrap over the weekend"
    );
    assert_eq!(
        hours("mon-fri 09:00-17:00, wed closed"),
        hours("mon-tue 9:00-17:00, Thursday-FRI 09:00-17:00")
    );
    assert_eq!(
        hours("mon 11:00-13:00 09:00-12:00 13:00-14:00"),
        hours("mon 09:00-14:00"),
        "touching ranges merge"
    );
    assert!(
        hours("").is_always() && hours("  ").is_always(),
        "empty means no hours: always working"
    );
    assert_eq!(WorkingHours::always().to_string(), "always");
}

#[test]
fn setting_errors_name_the_bad_part() {
    let cases = [
        ("mon-fry 09:00-18:00", "unknown day \"fry\""),
        ("mon 9-18", "\"9\" is not a time"),
        (
            "mon 18:00-09:00",
            "the closing time is not after the opening time",
        ),
        ("sat", "no hours given"),
        ("mon 25:00-26:00", "\"25:00\" is not a time of day"),
        ("mon 24:00-24:00", "\"24:00\" is not a time of day"),
        (
            "mon 09:00-18:00,, tue 24h",
            "an entry between two commas is empty",
        ),
        (
            "mon closed 09:00-10:00",
            "\"closed\" cannot be combined with hours",
        ),
        ("mon 09:00", "is not a range of hours"),
        ("mon 09:0-10:00", "\"09:0\" is not a time"),
    ];
    for (input, expected) in cases {
        let err = input.parse::<WorkingHours>().expect_err(input).to_string();
        assert!(err.contains(expected), "{input:?}: {err}");
    }
    let err = "mon-fri 09:00-18:00, sun 10:00-0900"
        .parse::<WorkingHours>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("entry \"sun 10:00-0900\""),
        "the error names the entry: {err}"
    );
    assert!(
        parse_timezone("Mars/Olympus_Mons")
            .unwrap_err()
            .to_string()
            .contains("Mars/Olympus_Mons")
    );
    assert_eq!(parse_timezone(" UTC ").unwrap().iana_name(), Some("UTC"));
}

#[test]
fn no_hours_means_always_working() {
    let s = WorkingHours::always().status(at("2026-05-03T03:00:00Z"), &amsterdam());
    assert_eq!(utc(&s), (true, None, None));
    assert_eq!(s.period_id(), None);
    assert_eq!(
        s.local_now.to_string(),
        "2026-05-03T05:00:00+02:00[Europe/Amsterdam]"
    );
    let s = hours("mon-sun 24h").status(at("2026-05-03T03:00:00Z"), &amsterdam());
    assert_eq!(
        utc(&s),
        (true, None, None),
        "open every hour of the week never closes"
    );
}

#[test]
fn status_says_until_and_from_when() {
    let h = hours("mon-fri 09:00-18:00, sat 10:00-14:00");
    let tz = amsterdam();
    // Tuesday 2026-05-05 10:00 CEST.
    let s = h.status(at("2026-05-05T08:00:00Z"), &tz);
    assert_eq!(utc(&s), (true, some("2026-05-05T16:00:00Z"), None));
    assert_eq!(s.next_change_phrase().as_deref(), Some("Tuesday 18:00"));
    assert_eq!(
        s.describe(),
        "It is now Tuesday 2026-05-05 10:00 (Europe/Amsterdam). The team is working now, until Tuesday 18:00."
    );
    // Saturday 15:00: closed since 14:00, back Monday 09:00.
    let s = h.status(at("2026-05-09T13:00:00Z"), &tz);
    assert_eq!(
        utc(&s),
        (false, some("2026-05-11T07:00:00Z"), some("2026-05-09T12:00:00Z"))
    );
    assert_eq!(s.next_change_phrase().as_deref(), Some("Monday 09:00"));
    assert!(
        s.describe()
            .ends_with("The team is not working now; it is back Monday 09:00."),
        "{}",
        s.describe()
    );
    // Exactly at opening time it is open; exactly at closing time it is closed.
    assert!(h.status(at("2026-05-11T07:00:00Z"), &tz).open);
    assert!(!h.status(at("2026-05-11T16:00:00Z"), &tz).open);
}

#[test]
fn the_closed_period_id_is_stable_within_a_period_and_new_for_the_next() {
    let h = hours("mon-fri 09:00-18:00");
    let tz = amsterdam();
    let friday_evening = h.status(at("2026-05-08T16:30:00Z"), &tz).period_id();
    let sunday = h.status(at("2026-05-10T12:00:00Z"), &tz).period_id();
    let monday_early = h.status(at("2026-05-11T06:59:59Z"), &tz).period_id();
    let monday_evening = h.status(at("2026-05-11T17:00:00Z"), &tz).period_id();
    assert_eq!(
        friday_evening.as_deref(),
        Some("closed:1778256000"),
        "Friday 18:00 CEST"
    );
    assert_eq!(friday_evening, sunday);
    assert_eq!(friday_evening, monday_early);
    assert_ne!(friday_evening, monday_evening);
    assert_eq!(h.status(at("2026-05-11T08:00:00Z"), &tz).period_id(), None);
    let never = hours("mon closed").status(at("2026-05-11T08:00:00Z"), &tz);
    assert_eq!(utc(&never), (false, None, None));
    assert_eq!(never.period_id().as_deref(), Some("closed:never-open"));
    assert!(never.describe().ends_with("has no working hours set."));
}

#[test]
fn touching_openings_across_midnight_are_one_stretch() {
    let h = hours("fri 22:00-24:00, sat 00:00-02:00");
    let s = h.status(at("2026-05-08T21:00:00Z"), &amsterdam()); // Friday 23:00
    assert_eq!(
        utc(&s),
        (true, some("2026-05-09T00:00:00Z"), None),
        "open until Saturday 02:00"
    );
    assert_eq!(s.next_change_phrase().as_deref(), Some("Saturday 02:00"));
}

#[test]
fn phrases_add_the_date_a_week_or_more_ahead() {
    let h = hours("tue 09:00-17:00");
    // Tuesday 2026-05-05 17:30: next opening is a week away, same weekday.
    let s = h.status(at("2026-05-05T15:30:00Z"), &amsterdam());
    assert_eq!(
        s.next_change_phrase().as_deref(),
        Some("Tuesday 2026-05-12 09:00")
    );
}

#[test]
fn spring_forward_keeps_wall_clock_openings() {
    // Europe/Amsterdam, Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z).
    let tz = amsterdam();
    let h = hours("mon-fri 09:00-18:00");
    // Friday 27 March 18:30 CET: back Monday 09:00 CEST, which is 07:00Z (not 08:00Z).
    let s = h.status(at("2026-03-27T17:30:00Z"), &tz);
    assert_eq!(
        utc(&s),
        (false, some("2026-03-30T07:00:00Z"), some("2026-03-27T17:00:00Z"))
    );
    assert_eq!(s.next_change_phrase().as_deref(), Some("Monday 09:00"));
    // Thursday before the change closes at 18:00 CET = 17:00Z; the Monday after at 18:00 CEST = 16:00Z.
    assert_eq!(
        utc(&h.status(at("2026-03-26T10:00:00Z"), &tz)).1,
        some("2026-03-26T17:00:00Z")
    );
    assert_eq!(
        utc(&h.status(at("2026-03-30T10:00:00Z"), &tz)).1,
        some("2026-03-30T16:00:00Z")
    );
}

#[test]
fn a_time_the_clock_skips_takes_effect_at_the_jump() {
    let tz = amsterdam();
    let h = hours("sun 02:30-05:00");
    // 01:59 CET: the 02:30 opening does not exist tonight; it opens when the clock jumps (03:00 CEST).
    let s = h.status(at("2026-03-29T00:59:00Z"), &tz);
    assert_eq!(utc(&s).1, some("2026-03-29T01:00:00Z"));
    assert_eq!(s.next_change_phrase().as_deref(), Some("Sunday 03:00"));
    let s = h.status(at("2026-03-29T01:00:00Z"), &tz);
    assert_eq!(
        utc(&s),
        (true, some("2026-03-29T03:00:00Z"), None),
        "open from the jump to 05:00 CEST"
    );
    // A closing time in the skipped hour also falls at the jump.
    let s = hours("sun 01:00-02:30").status(at("2026-03-29T00:30:00Z"), &tz);
    assert_eq!(utc(&s), (true, some("2026-03-29T01:00:00Z"), None));
    // A whole day of 24h lasts 23 hours that night: Sunday 00:00 CET to Monday 00:00 CEST.
    let s = hours("sun 24h").status(at("2026-03-29T12:00:00Z"), &tz);
    assert_eq!(utc(&s).1, some("2026-03-29T22:00:00Z"));
}

#[test]
fn fall_back_keeps_wall_clock_openings_and_uses_the_first_repeated_time() {
    // Europe/Amsterdam, Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00Z).
    let tz = amsterdam();
    // Saturday 24 October 17:05 CEST: back next Saturday 09:00 CET = 08:00Z.
    let s = hours("sat 09:00-17:00").status(at("2026-10-24T15:05:00Z"), &tz);
    assert_eq!(
        utc(&s),
        (false, some("2026-10-31T08:00:00Z"), some("2026-10-24T15:00:00Z"))
    );
    assert_eq!(
        s.next_change_phrase().as_deref(),
        Some("Saturday 2026-10-31 09:00"),
        "a week ahead"
    );
    // Friday 23 October 18:30 CEST: back Monday 09:00 CET = 08:00Z.
    let s = hours("mon-fri 09:00-18:00").status(at("2026-10-23T16:30:00Z"), &tz);
    assert_eq!(utc(&s).1, some("2026-10-26T08:00:00Z"));
    // 02:30 happens twice: the opening is the first (CEST, 00:30Z); it stays open through the second.
    let h = hours("sun 02:30-04:00");
    assert_eq!(
        utc(&h.status(at("2026-10-25T00:00:00Z"), &tz)).1,
        some("2026-10-25T00:30:00Z")
    );
    let s = h.status(at("2026-10-25T01:45:00Z"), &tz); // 02:45 CET, the second pass
    assert_eq!(utc(&s), (true, some("2026-10-25T03:00:00Z"), None));
    // A closing time in the repeated hour closes at its first occurrence.
    let s = hours("sun 01:00-02:30").status(at("2026-10-25T01:40:00Z"), &tz);
    assert_eq!(
        utc(&s),
        (false, some("2026-11-01T00:00:00Z"), some("2026-10-25T00:30:00Z"))
    );
    // That Sunday's 24h lasts 25 hours: until Monday 00:00 CET = 23:00Z.
    assert_eq!(
        utc(&hours("sun 24h").status(at("2026-10-25T12:00:00Z"), &tz)).1,
        some("2026-10-25T23:00:00Z")
    );
}

fn inbox_fixture() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chatwoot/api_inbox_working_hours.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_chatwoot_inbox_gives_hours_zone_and_message() {
    let inbox = InboxHours::from_chatwoot_inbox(&inbox_fixture()).unwrap();
    assert_eq!(
        inbox.hours.to_string(),
        "mon 09:00-17:30, tue 09:00-17:30, wed 09:00-17:30, thu 09:00-21:00, fri 09:00-17:30, sat 10:00-16:00, sun closed"
    );
    let tz = inbox.timezone.expect("the inbox names a zone");
    assert_eq!(tz.iana_name(), Some("Europe/Amsterdam"));
    assert!(
        inbox
            .out_of_office_message
            .unwrap()
            .starts_with("Bedankt voor je bericht!")
    );
    // Thursday 2026-05-07 20:00 CEST: open late on Thursdays.
    assert!(inbox.hours.status(at("2026-05-07T18:00:00Z"), &tz).open);
}

#[test]
fn chatwoot_variants_disabled_all_day_missing_days_and_errors() {
    let mut inbox = inbox_fixture();
    inbox["working_hours_enabled"] = json!(false);
    inbox["out_of_office_message"] = json!("");
    let read = InboxHours::from_chatwoot_inbox(&inbox).unwrap();
    assert!(
        read.hours.is_always(),
        "working_hours_enabled false means always working"
    );
    assert_eq!(read.out_of_office_message, None, "an empty message is no message");

    let read = InboxHours::from_chatwoot_inbox(&json!({
        "working_hours_enabled": true, "timezone": null,
        "working_hours": [
            {"day_of_week": 6, "closed_all_day": false, "open_all_day": true, "open_hour": 0, "open_minutes": 0, "close_hour": 23, "close_minutes": 59},
            {"day_of_week": 1, "closed_all_day": false, "open_all_day": false, "open_hour": 8, "open_minutes": 30, "close_hour": 23, "close_minutes": 59}
        ]
    }))
    .unwrap();
    assert_eq!(
        read.hours.to_string(),
        "mon 08:30-24:00, tue closed, wed closed, thu closed, fri closed, sat 24h, sun closed",
        "open_all_day and a 23:59 close mean the whole day; missing days are closed"
    );
    assert!(read.timezone.is_none());

    let errors = [
        (
            json!({"working_hours_enabled": true, "working_hours": [{"day_of_week": 2, "closed_all_day": false, "open_hour": 9}]}),
            "day_of_week 2 (tue)",
        ),
        (
            json!({"working_hours_enabled": true, "working_hours": [{"day_of_week": 9, "closed_all_day": true}]}),
            "day_of_week 9",
        ),
        (
            json!({"working_hours_enabled": true, "working_hours": [{"day_of_week": 3, "open_hour": 17, "open_minutes": 0, "close_hour": 9, "close_minutes": 0}]}),
            "closes (09:00) before it opens (17:00)",
        ),
        (
            json!({"timezone": "Amsterdam"}),
            "unknown time zone \"Amsterdam\"",
        ),
        (json!({"working_hours": "9-5"}), "Chatwoot inbox working hours"),
    ];
    for (inbox, expected) in errors {
        let err = InboxHours::from_chatwoot_inbox(&inbox)
            .expect_err(expected)
            .to_string();
        assert!(err.contains(expected), "{expected}: {err}");
    }
}
