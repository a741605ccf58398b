//! Working hours on a manual clock: the fake inbox is open Monday to Friday 09:00-17:00 UTC, and each
//! test stands its clock at a chosen local time: a Monday 10:00 (the team works) or a Saturday 12:00
//! (closed; back "Monday 09:00"), so no assertion depends on when the suite runs.

use std::sync::Arc;

use jiff::civil::Weekday;
use serde_json::{Value, json};
use wa_agent::clock::{ManualClock, SharedClock};

use super::{CHAT, WAIT, World, messages, remembered, say, turns, world};
use crate::support::time::next_local;

/// When the closed inbox opens again, as the prompt and the handoff name it.
const BACK: &str = "Monday 09:00";

/// Chatwoot's inbox fields: open Monday to Friday 09:00-17:00 UTC, with an out-of-office message.
fn weekdays() -> Value {
    let days: Vec<Value> = (0..7)
        .map(|d| {
            if (1..=5).contains(&d) {
                json!({"day_of_week": d, "closed_all_day": false, "open_all_day": false,
                    "open_hour": 9, "open_minutes": 0, "close_hour": 17, "close_minutes": 0})
            } else {
                json!({"day_of_week": d, "closed_all_day": true, "open_all_day": false,
                    "open_hour": null, "open_minutes": null, "close_hour": null, "close_minutes": null})
            }
        })
        .collect();
    json!({ "working_hours_enabled": true, "timezone": "UTC", "working_hours": days,
        "out_of_office_message": "We are closed; we answer you as soon as we are back." })
}

/// A clock standing at the next `weekday hour:00` UTC.
fn at(weekday: Weekday, hour: i8) -> SharedClock {
    Arc::new(ManualClock::new(next_local("UTC", weekday, hour, 0)))
}

/// The world on a Monday 10:00: the team works.
async fn open(extra: &[(&str, &str)]) -> World {
    world(weekdays(), extra, at(Weekday::Monday, 10)).await
}

/// The world on a Saturday 12:00: closed until Monday 09:00.
async fn closed(extra: &[(&str, &str)]) -> World {
    world(weekdays(), extra, at(Weekday::Saturday, 12)).await
}

#[tokio::test]
async fn outside_working_hours_mode_is_silent_while_the_team_works_and_answers_when_it_does_not() {
    let w = open(&[("BOT_HOURS", "outside_working_hours")]).await;
    say(&w, "OWH1", "Is the showroom open?").await;
    assert!(
        remembered(&w, "Is the showroom open?").await,
        "mirrored and remembered"
    );
    w.app.run_until_idle().await;
    assert!(w.llm.requests().is_empty(), "the agent was not asked");
    assert!(
        w.waha.sent_to(CHAT).is_empty(),
        "humans answer during working hours"
    );

    let w = closed(&[("BOT_HOURS", "outside_working_hours")]).await;
    say(&w, "OWH2", "Is the showroom open?").await;
    assert!(
        w.waha.wait_for_sent(1, WAIT).await,
        "the bot serves the closed hours"
    );
    let prompt = messages(&turns(&w.llm)[0]);
    let tail = &prompt[prompt.len() - 2];
    assert_eq!(
        tail.0, "system",
        "the changing tail sits just before the new message"
    );
    assert!(
        tail.1.contains("The team is not working now; it is back"),
        "{}",
        tail.1
    );
    assert!(tail.1.contains(BACK), "{} names {BACK}", tail.1);
    assert!(
        !prompt[0].1.contains("It is now"),
        "the leading system message stays fixed"
    );
}

#[tokio::test]
async fn inside_working_hours_mode_answers_while_the_team_works() {
    let w = open(&[("BOT_HOURS", "inside_working_hours")]).await;
    say(&w, "IWH1", "Do you have a BMW X5?").await;
    assert!(w.waha.wait_for_sent(1, WAIT).await);
    assert_eq!(w.waha.sent_to(CHAT), ["Antwoord op: Do you have a BMW X5?"]);
    let prompt = messages(&turns(&w.llm)[0]);
    assert!(
        prompt[prompt.len() - 2].1.contains("The team is working now"),
        "{prompt:?}"
    );
    assert!(prompt[prompt.len() - 2].1.contains("(UTC)"), "{prompt:?}");
}

#[tokio::test]
async fn out_of_office_goes_once_for_two_messages_when_nobody_answers() {
    let w = closed(&[("BOT_HOURS", "inside_working_hours")]).await;
    say(&w, "OOO1", "Hello?").await;
    assert!(w.waha.wait_for_sent(1, WAIT).await);
    say(&w, "OOO2", "Anyone there?").await;
    assert!(remembered(&w, "Anyone there?").await);
    w.app.run_until_idle().await;
    assert_eq!(
        w.waha.sent_to(CHAT),
        ["We are closed; we answer you as soon as we are back."],
        "one out-of-office message per closed period"
    );
    assert!(
        w.llm.requests().is_empty(),
        "the agent does not answer outside its hours"
    );
}

#[tokio::test]
async fn always_mode_answers_at_night_and_a_handoff_names_the_reopening_time() {
    let w = closed(&[]).await;
    w.llm.handoff_next("the customer wants a test drive");
    say(&w, "NIGHT1", "Can I book a test drive?").await;
    assert!(w.waha.wait_for_sent(1, WAIT).await);
    assert_eq!(
        w.waha.sent_to(CHAT),
        [format!("A colleague will take over. Our team is back {BACK}.")]
    );
}
