//! The turn's gate: whether the agent answers a customer now, stays silent for the humans, or sends
//! the out-of-office message (behaviours 6 and 10 of `INTERFACE.md`).
//!
//! [`decide`] is pure: it combines `BOT_HOURS` ([`BotHours`]), whether the team works now (from
//! [`crate::hours::HoursStatus`]) and whether a human holds the conversation (its Chatwoot status is
//! not `pending`, or it has an assignee; see [`human_holds`]).
//!
//! Rules, in order:
//! 1. A human holds the conversation: the agent never answers (humans win). If the team works now,
//!    [`Decision::Silent`]; if not, nobody will answer now: [`Decision::OutOfOffice`].
//! 2. The bot serves now (`always`; `outside_working_hours` while the team is away;
//!    `inside_working_hours` while it works): [`Decision::Answer`].
//! 3. Otherwise the team works now: [`Decision::Silent`] (humans will answer), or it does not (only
//!    with `inside_working_hours`): [`Decision::OutOfOffice`].
//!
//! The caller sends `OUT_OF_OFFICE_MESSAGE` for [`Decision::OutOfOffice`] at most once per chat and
//! `period_id` (e.g. a Redis `SET NX` on the pair), and nothing when the message is empty; the
//! customer's messages are mirrored and remembered whatever the decision.

use std::fmt;
use std::str::FromStr;

use crate::hours::HoursStatus;

/// `BOT_HOURS`: when the agent answers customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BotHours {
    /// At any time (the default).
    #[default]
    Always,
    /// Only while the team is not working (humans answer during working hours).
    OutsideWorkingHours,
    /// Only while the team is working.
    InsideWorkingHours,
}

/// A `BOT_HOURS` value that is none of the allowed ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BOT_HOURS must be always, outside_working_hours or inside_working_hours, not {0:?}")]
pub struct BotHoursError(pub String);

impl FromStr for BotHours {
    type Err = BotHoursError;

    /// Reads `always`, `outside_working_hours` or `inside_working_hours` (case and surrounding
    /// spaces ignored; `-` accepted for `_`).
    fn from_str(s: &str) -> Result<BotHours, BotHoursError> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "always" => Ok(BotHours::Always),
            "outside_working_hours" => Ok(BotHours::OutsideWorkingHours),
            "inside_working_hours" => Ok(BotHours::InsideWorkingHours),
            _ => Err(BotHoursError(s.to_owned())),
        }
    }
}

impl fmt::Display for BotHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BotHours::Always => "always",
            BotHours::OutsideWorkingHours => "outside_working_hours",
            BotHours::InsideWorkingHours => "inside_working_hours",
        })
    }
}

/// Whether the team works now, as the gate needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Team {
    /// Working now.
    Working,
    /// Not working; the id of the current closed period ([`HoursStatus::period_id`]).
    Away {
        /// Same for every instant of one closed period, different for the next.
        period_id: String,
    },
}

impl From<&HoursStatus> for Team {
    fn from(status: &HoursStatus) -> Team {
        match status.period_id() {
            None => Team::Working,
            Some(period_id) => Team::Away { period_id },
        }
    }
}

/// Everything [`decide`] looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateInput {
    /// `BOT_HOURS`.
    pub bot_hours: BotHours,
    /// Whether the team works now.
    pub team: Team,
    /// A human holds the conversation ([`human_holds`]).
    pub human_holds: bool,
}

/// What the turn does with the customer's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The agent answers.
    Answer,
    /// The agent stays silent: humans will answer.
    Silent,
    /// Nobody will answer now: send `OUT_OF_OFFICE_MESSAGE`, once per chat and period.
    OutOfOffice {
        /// The closed period the message belongs to.
        period_id: String,
    },
}

/// Whether a human holds a Chatwoot conversation: its status is not `pending`, or it has an assignee.
pub fn human_holds(status: &str, has_assignee: bool) -> bool {
    has_assignee || !status.trim().eq_ignore_ascii_case("pending")
}

/// The gate's decision; see the module doc for the rules.
pub fn decide(input: &GateInput) -> Decision {
    let away = match &input.team {
        Team::Working => None,
        Team::Away { period_id } => Some(period_id),
    };
    let out_of_office = |period_id: &String| Decision::OutOfOffice {
        period_id: period_id.clone(),
    };
    if input.human_holds {
        return away.map_or(Decision::Silent, out_of_office);
    }
    let bot_serves = match input.bot_hours {
        BotHours::Always => true,
        BotHours::OutsideWorkingHours => away.is_some(),
        BotHours::InsideWorkingHours => away.is_none(),
    };
    if bot_serves {
        return Decision::Answer;
    }
    away.map_or(Decision::Silent, out_of_office)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hours::WorkingHours;

    #[test]
    fn every_combination() {
        use BotHours::*;
        let ooo = || Decision::OutOfOffice {
            period_id: "closed:1".to_owned(),
        };
        // (bot hours, team working, human holds) → decision
        let table = [
            (Always, true, false, Decision::Answer),
            (Always, false, false, Decision::Answer),
            (Always, true, true, Decision::Silent),
            (Always, false, true, ooo()),
            (OutsideWorkingHours, true, false, Decision::Silent),
            (OutsideWorkingHours, false, false, Decision::Answer),
            (OutsideWorkingHours, true, true, Decision::Silent),
            (OutsideWorkingHours, false, true, ooo()),
            (InsideWorkingHours, true, false, Decision::Answer),
            (InsideWorkingHours, false, false, ooo()),
            (InsideWorkingHours, true, true, Decision::Silent),
            (InsideWorkingHours, false, true, ooo()),
        ];
        for (bot_hours, working, human, expected) in table {
            let team = if working {
                Team::Working
            } else {
                Team::Away {
                    period_id: "closed:1".to_owned(),
                }
            };
            let input = GateInput {
                bot_hours,
                team,
                human_holds: human,
            };
            assert_eq!(decide(&input), expected, "{input:?}");
        }
    }

    #[test]
    fn who_holds_a_conversation() {
        assert!(!human_holds("pending", false));
        assert!(!human_holds(" Pending ", false));
        assert!(
            human_holds("pending", true),
            "an assignee holds it even while pending"
        );
        assert!(human_holds("open", false));
        assert!(human_holds("snoozed", false));
        assert!(human_holds("resolved", false));
    }

    #[test]
    fn bot_hours_parse_and_print() {
        for (text, value) in [
            ("always", BotHours::Always),
            ("outside_working_hours", BotHours::OutsideWorkingHours),
            (" Inside-Working-Hours ", BotHours::InsideWorkingHours),
        ] {
            assert_eq!(text.parse::<BotHours>(), Ok(value));
            assert_eq!(
                value.to_string().parse::<BotHours>(),
                Ok(value),
                "Display round-trips"
            );
        }
        assert_eq!(BotHours::default(), BotHours::Always);
        let err = "nights".parse::<BotHours>().unwrap_err().to_string();
        assert_eq!(
            err,
            "BOT_HOURS must be always, outside_working_hours or inside_working_hours, not \"nights\""
        );
    }

    #[test]
    fn the_team_comes_from_the_hours_status() {
        let tz = crate::hours::parse_timezone("Europe/Amsterdam").unwrap();
        let h: WorkingHours = "mon-fri 09:00-18:00".parse().unwrap();
        let sunday = h.status("2026-05-10T12:00:00Z".parse().unwrap(), &tz);
        let team = Team::from(&sunday);
        assert_eq!(
            team,
            Team::Away {
                period_id: "closed:1778256000".to_owned()
            }
        );
        let input = GateInput {
            bot_hours: BotHours::InsideWorkingHours,
            team,
            human_holds: false,
        };
        assert_eq!(
            decide(&input),
            Decision::OutOfOffice {
                period_id: "closed:1778256000".to_owned()
            }
        );
        let monday = h.status("2026-05-11T08:00:00Z".parse().unwrap(), &tz);
        assert_eq!(Team::from(&monday), Team::Working);
        assert_eq!(
            Team::from(&WorkingHours::always().status(jiff::Timestamp::UNIX_EPOCH, &tz)),
            Team::Working
        );
    }
}
