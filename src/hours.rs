//! Working hours: when the team works, in the business's time zone, and what that means right now.
//!
//! A [`WorkingHours`] is a weekly schedule of wall-clock openings, read from the `WORKING_HOURS`
//! setting (`mon-fri 09:00-18:00, sat 10:00-14:00`; see [`WorkingHours::from_str`]) or from a
//! Chatwoot inbox ([`InboxHours::from_chatwoot_inbox`]). No hours known (the setting unset or empty,
//! or the inbox's `working_hours_enabled` false) is [`WorkingHours::always`]: always working.
//! [`WorkingHours::status`] answers, for an instant and a [`TimeZone`] (`TIMEZONE`, see
//! [`parse_timezone`]), whether the team works now, until when or from when, and which closed period
//! this is (so an out-of-office message goes out once per period).
//!
//! Invariants: openings are wall-clock times and stay so across daylight-saving changes (09:00 is
//! 09:00 local on both sides of a change); an opening or closing time the clock skips (02:30 on the
//! spring-forward night) takes effect at the jump, the first instant the clock shows a later time
//! (03:00); a time the clock shows twice (the fall-back night) means its first occurrence. Openings
//! of consecutive days that touch (`mon 24h, tue 24h`, or `fri 22:00-24:00, sat 00:00-02:00`) are
//! one stretch. Everything here is pure: no clock is read, nothing is logged.

mod parse;
pub mod source;
#[cfg(test)]
mod tests;

use std::fmt;

use jiff::civil::Date;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan, ZonedDateTime};

pub use parse::{HoursError, InboxHours, parse_timezone};

/// Minutes in a day; a closing time of 24:00 is this.
const DAY_MINUTES: u16 = 24 * 60;
/// Days looked at on each side of today: more than a week, so a weekly schedule's previous closing
/// and next opening are always found.
const HORIZON_DAYS: i64 = 8;

/// One opening within a day, in minutes since local midnight: `open` < `close` ≤ 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Opening {
    open: u16,
    close: u16,
}

/// A weekly schedule of openings, Monday first; `None` means always working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    week: Option<[Vec<Opening>; 7]>,
}

/// Whether the team works at one instant, seen in the business's time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct HoursStatus {
    /// The team works now.
    pub open: bool,
    /// Now, in the business's time zone.
    pub local_now: ZonedDateTime,
    /// When it next closes (if open) or opens (if closed); `None` when that does not happen within a
    /// week: always open, or never open.
    pub next_change: Option<ZonedDateTime>,
    /// When closed: when the current closed period began (`None` when the schedule never opens).
    pub closed_since: Option<ZonedDateTime>,
}

impl HoursStatus {
    /// An id of the current closed period, the same for every instant of it and different for the
    /// next one: `closed:{unix seconds it closed}`, or `closed:never-open` for a schedule without
    /// openings. `None` while the team works.
    pub fn period_id(&self) -> Option<String> {
        if self.open {
            return None;
        }
        Some(match &self.closed_since {
            Some(z) => format!("closed:{}", z.timestamp().as_second()),
            None => "closed:never-open".to_owned(),
        })
    }

    /// [`HoursStatus::next_change`] as a phrase for prompts and messages, e.g. `Tuesday 09:00`.
    pub fn next_change_phrase(&self) -> Option<String> {
        self.next_change.as_ref().map(|at| phrase(at, &self.local_now))
    }

    /// One or two sentences for the prompt: the local time, whether the team works, and until or from
    /// when, e.g. `It is now Saturday 20:15 (Europe/Amsterdam). The team is not working now; it is
    /// back Monday 09:00.`
    pub fn describe(&self) -> String {
        let zone = self
            .local_now
            .time_zone()
            .iana_name()
            .unwrap_or("local time")
            .to_owned();
        let now = self.local_now.strftime("%A %Y-%m-%d %H:%M");
        let team = match (self.open, self.next_change_phrase()) {
            (true, Some(until)) => format!("The team is working now, until {until}."),
            (true, None) => "The team is working now.".to_owned(),
            (false, Some(back)) => format!("The team is not working now; it is back {back}."),
            (false, None) => "The team is not working now and has no working hours set.".to_owned(),
        };
        format!("It is now {now} ({zone}). {team}")
    }
}

/// `Tuesday 09:00` for an instant within six days of `now`; further away the date is added
/// (`Tuesday 2026-11-10 09:00`) so a phrase never names the wrong week.
pub fn phrase(at: &ZonedDateTime, now: &ZonedDateTime) -> String {
    let days_ahead = (at.date() - now.date()).get_days();
    if (0..7).contains(&days_ahead) {
        at.strftime("%A %H:%M").to_string()
    } else {
        at.strftime("%A %Y-%m-%d %H:%M").to_string()
    }
}

/// The instant `minute` (0..=1440) of local `date` in `tz`, with the module doc's rules for times
/// the clock skips (at the jump) or repeats (the first occurrence).
fn instant(date: Date, minute: u16, tz: &TimeZone) -> Option<Timestamp> {
    let (date, minute) = if minute >= DAY_MINUTES {
        (date.tomorrow().ok()?, 0)
    } else {
        (date, minute)
    };
    let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, the wall-clock time lies just before the jump.
            let before_jump = after.to_timestamp(dt).ok()?;
            let jump = tz.following(before_jump).next().map(|t| t.timestamp());
            jump.or_else(|| ambiguous.compatible().ok())
        }
        _ => ambiguous.compatible().ok(),
    }
}

impl WorkingHours {
    /// No working hours known: the team always works.
    pub fn always() -> WorkingHours {
        WorkingHours { week: None }
    }

    /// Whether this is [`WorkingHours::always`] (no schedule at all).
    pub fn is_always(&self) -> bool {
        self.week.is_none()
    }

    fn from_week(week: [Vec<Opening>; 7]) -> WorkingHours {
        WorkingHours { week: Some(week) }
    }

    /// The stretches of working time, as instants, from `HORIZON_DAYS` before `today` to the end of
    /// `HORIZON_DAYS` after it, sorted and with touching or overlapping stretches merged; plus the
    /// horizon's end.
    fn stretches(&self, week: &[Vec<Opening>; 7], today: Date, tz: &TimeZone) -> Vec<(Timestamp, Timestamp)> {
        let mut out: Vec<(Timestamp, Timestamp)> = Vec::new();
        for offset in -HORIZON_DAYS..=HORIZON_DAYS {
            let Ok(date) = today.checked_add(offset.days()) else {
                continue;
            };
            let day = &week[date.weekday().to_monday_zero_offset() as usize];
            for o in day {
                let (Some(start), Some(end)) = (instant(date, o.open, tz), instant(date, o.close, tz)) else {
                    continue;
                };
                if start >= end {
                    continue;
                }
                match out.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => out.push((start, end)),
                }
            }
        }
        out
    }

    /// Whether the team works at `now`, seen in `tz`; see [`HoursStatus`].
    pub fn status(&self, now: Timestamp, tz: &TimeZone) -> HoursStatus {
        let local_now = now.to_zoned_datetime(tz.clone());
        let zoned = |t: Timestamp| t.to_zoned_datetime(tz.clone());
        let Some(week) = &self.week else {
            return HoursStatus {
                open: true,
                local_now,
                next_change: None,
                closed_since: None,
            };
        };
        let today = local_now.date();
        let stretches = self.stretches(week, today, tz);
        let horizon_end = today
            .checked_add((HORIZON_DAYS + 1).days())
            .ok()
            .and_then(|d| instant(d, 0, tz))
            .unwrap_or(Timestamp::MAX);
        if let Some(&(_, end)) = stretches.iter().find(|(s, e)| *s <= now && now < *e) {
            let next_change = (end < horizon_end).then(|| zoned(end));
            return HoursStatus {
                open: true,
                local_now,
                next_change,
                closed_since: None,
            };
        }
        let next_change = stretches.iter().find(|(s, _)| *s > now).map(|(s, _)| zoned(*s));
        let closed_since = stretches
            .iter()
            .rev()
            .find(|(_, e)| *e <= now)
            .map(|(_, e)| zoned(*e));
        HoursStatus {
            open: false,
            local_now,
            next_change,
            closed_since,
        }
    }
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The canonical setting syntax: `always`, or every day Monday first (`mon 09:00-18:00, …, sun
/// closed`); it parses back to the same schedule.
impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(week) = &self.week else {
            return f.write_str("always");
        };
        for (i, (name, day)) in parse::DAY_NAMES.iter().zip(week).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
            match day.as_slice() {
                [] => f.write_str(" closed")?,
                [o] if o.open == 0 && o.close == DAY_MINUTES => f.write_str(" 24h")?,
                openings => {
                    for o in openings {
                        write!(f, " {}-{}", hhmm(o.open), hhmm(o.close))?;
                    }
                }
            }
        }
        Ok(())
    }
}
