use super::*;
use crate::config::HoursSettings;
use crate::gate::BotHours;
use crate::hours::WorkingHours;
use crate::hours::source::HoursSource;

/// The hours on a Sunday noon (team away) or a Monday 10:00 (team working), Amsterdam time.
fn hours(bot_hours: BotHours, team_working: bool) -> HoursNow {
    let settings = HoursSettings {
        bot_hours,
        working_hours: Some("mon-fri 09:00-18:00".parse::<WorkingHours>().unwrap()),
        timezone: Some(crate::hours::parse_timezone("Europe/Amsterdam").unwrap()),
        ..HoursSettings::default()
    };
    let at = if team_working {
        "2026-05-11T08:00:00Z"
    } else {
        "2026-05-10T12:00:00Z"
    };
    HoursSource::new(settings).at(at.parse().unwrap())
}

fn state(status: Option<&str>, assignee_id: Option<u64>) -> ChatState {
    ChatState {
        status: status.map(str::to_owned),
        assignee_id,
        ..ChatState::default()
    }
}

fn facts<'a>(state: &'a ChatState, hours: &'a HoursNow) -> Facts<'a> {
    Facts {
        intent: None,
        state,
        bot_user: Some(7),
        replay: false,
        hours,
    }
}

const CLOSED: &str = "closed:1778256000";

#[test]
fn an_unfinished_reply_is_resumed_whoever_holds_the_chat() {
    let intent = SendIntent::new(vec!["m1".into()], None, &["hello".into()]);
    let held = state(Some("open"), Some(3));
    let away = hours(BotHours::InsideWorkingHours, false);
    let arm = decide(Facts {
        intent: Some(intent.clone()),
        replay: true,
        ..facts(&held, &away)
    });
    assert_eq!(arm, Arm::Resume(intent));
}

#[test]
fn a_replay_is_answered_whoever_holds_the_chat() {
    let held = state(Some("open"), Some(3));
    let away = hours(BotHours::InsideWorkingHours, false);
    let arm = decide(Facts {
        replay: true,
        ..facts(&held, &away)
    });
    assert_eq!(arm, Arm::Answer);
}

#[test]
fn the_gate_decides_the_rest() {
    let bots = state(Some("pending"), None);
    let bot_assigned = state(Some("pending"), Some(7));
    let human = state(Some("open"), None);
    let ooo = Arm::OutOfOffice {
        period_id: CLOSED.to_owned(),
    };
    // (bot hours, team working, state) → arm
    let table = [
        (BotHours::Always, true, &bots, Arm::Answer),
        (BotHours::Always, false, &bot_assigned, Arm::Answer),
        (BotHours::Always, true, &human, Arm::Silent),
        (BotHours::Always, false, &human, ooo.clone()),
        (BotHours::OutsideWorkingHours, true, &bots, Arm::Silent),
        (BotHours::OutsideWorkingHours, false, &bots, Arm::Answer),
        (BotHours::InsideWorkingHours, true, &bots, Arm::Answer),
        (BotHours::InsideWorkingHours, false, &bots, ooo.clone()),
    ];
    for (bot_hours, working, state, expected) in table {
        let hours = hours(bot_hours, working);
        assert_eq!(
            decide(facts(state, &hours)),
            expected,
            "{bot_hours} working={working} {state:?}"
        );
    }
}

#[test]
fn an_unknown_chat_is_the_bots() {
    let fresh = ChatState::default();
    let hours = hours(BotHours::Always, true);
    assert_eq!(decide(facts(&fresh, &hours)), Arm::Answer);
}
