//! Reading working hours: the `WORKING_HOURS` setting syntax, a Chatwoot inbox, and `TIMEZONE`.
//!
//! Setting syntax: comma-separated entries `DAYS HOURS`. `DAYS` is a day (`mon`…`sun`, or the full
//! English name) or a range of days (`mon-fri`; `fri-mon` wraps over the weekend). `HOURS` is one or
//! more `HH:MM-HH:MM` (24-hour clock, closing up to `24:00`, after the opening), `24h` or `closed`.
//! Days no entry names are closed; a later entry for a day replaces an earlier one, so
//! `mon-fri 09:00-17:00, wed closed` works. An empty setting means no hours (always working).
//! Every error names the entry and the part that is wrong.

use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::Value;

use super::{DAY_MINUTES, Opening, WorkingHours};

/// Day names, Monday first, as the canonical syntax writes them.
pub(super) const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Working hours, a time zone or a Chatwoot inbox that cannot be read; the message says what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HoursError(pub String);

fn entry_error(entry: &str, message: impl std::fmt::Display) -> HoursError {
    HoursError(format!("working hours entry {entry:?}: {message}"))
}

fn day(word: &str) -> Option<usize> {
    let w = word.to_ascii_lowercase();
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    DAY_NAMES
        .iter()
        .position(|d| *d == w)
        .or_else(|| full.iter().position(|d| *d == w))
        .or(match w.as_str() {
            "tues" => Some(1),
            "thur" | "thurs" => Some(3),
            _ => None,
        })
}

fn days(word: &str) -> Result<Vec<usize>, String> {
    let unknown = |d: &str| format!("unknown day {d:?} (days are mon, tue, wed, thu, fri, sat, sun)");
    let (first, last) = match word.split_once('-') {
        Some((a, b)) => (
            day(a).ok_or_else(|| unknown(a))?,
            day(b).ok_or_else(|| unknown(b))?,
        ),
        None => {
            let d = day(word).ok_or_else(|| unknown(word))?;
            (d, d)
        }
    };
    let count = (last + 7 - first) % 7 + 1;
    Ok((0..count).map(|i| (first + i) % 7).collect())
}

fn time(text: &str, closing: bool) -> Result<u16, String> {
    let bad = || format!("{text:?} is not a time (write HH:MM, e.g. 09:00)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) if closing => Ok(DAY_MINUTES),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(format!(
            "{text:?} is not a time of day (00:00 to 23:59, or 24:00 as a closing time)"
        )),
    }
}

fn range(text: &str) -> Result<Opening, String> {
    let (open, close) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a range of hours (write HH:MM-HH:MM, `24h` or `closed`)"))?;
    let (open, close) = (time(open, false)?, time(close, true)?);
    if close <= open {
        return Err(format!(
            "in {text:?} the closing time is not after the opening time (past midnight, write two \
             entries: `fri 22:00-24:00, sat 00:00-02:00`)"
        ));
    }
    Ok(Opening { open, close })
}

/// Sorts openings and merges those that overlap or touch.
fn normalise(mut openings: Vec<Opening>) -> Vec<Opening> {
    openings.sort();
    let mut out: Vec<Opening> = Vec::with_capacity(openings.len());
    for o in openings {
        match out.last_mut() {
            Some(last) if o.open <= last.close => last.close = last.close.max(o.close),
            _ => out.push(o),
        }
    }
    out
}

/// Parses the `WORKING_HOURS` setting syntax (see the module doc).
impl std::str::FromStr for WorkingHours {
    type Err = HoursError;

    fn from_str(s: &str) -> Result<WorkingHours, HoursError> {
        if s.trim().is_empty() {
            return Ok(WorkingHours::always());
        }
        let mut week: [Vec<Opening>; 7] = Default::default();
        for entry in s.split(',').map(str::trim) {
            if entry.is_empty() {
                return Err(HoursError(format!(
                    "working hours {s:?}: an entry between two commas is empty"
                )));
            }
            let mut words = entry.split_whitespace();
            let which = days(words.next().unwrap_or_default()).map_err(|m| entry_error(entry, m))?;
            let hours: Vec<&str> = words.collect();
            let openings = match hours.as_slice() {
                [] => {
                    return Err(entry_error(
                        entry,
                        "no hours given (write HH:MM-HH:MM, `24h` or `closed`)",
                    ));
                }
                [w] if w.eq_ignore_ascii_case("closed") => Vec::new(),
                [w] if w.eq_ignore_ascii_case("24h") => vec![Opening {
                    open: 0,
                    close: DAY_MINUTES,
                }],
                ranges => {
                    let mut openings = Vec::with_capacity(ranges.len());
                    for r in ranges {
                        if r.eq_ignore_ascii_case("closed") || r.eq_ignore_ascii_case("24h") {
                            return Err(entry_error(entry, format!("{r:?} cannot be combined with hours")));
                        }
                        openings.push(range(r).map_err(|m| entry_error(entry, m))?);
                    }
                    normalise(openings)
                }
            };
            for d in which {
                week[d] = openings.clone();
            }
        }
        Ok(WorkingHours::from_week(week))
    }
}

/// `TIMEZONE`: an IANA zone name (`Europe/Amsterdam`, `UTC`) from the bundled time-zone database.
pub fn parse_timezone(name: &str) -> Result<TimeZone, HoursError> {
    TimeZone::get(name.trim()).map_err(|e| {
        HoursError(format!(
            "unknown time zone {name:?} (use an IANA name such as Europe/Amsterdam): {e}"
        ))
    })
}

/// What a Chatwoot inbox says about working hours (`GET /api/v1/accounts/{a}/inboxes/{id}`).
#[derive(Debug, Clone)]
pub struct InboxHours {
    /// The inbox's weekly schedule; [`WorkingHours::always`] when `working_hours_enabled` is false.
    pub hours: WorkingHours,
    /// The inbox's `timezone`, when it names one.
    pub timezone: Option<TimeZone>,
    /// The inbox's `out_of_office_message`, when not empty.
    pub out_of_office_message: Option<String>,
}

#[derive(Deserialize)]
struct InboxJson {
    working_hours_enabled: Option<bool>,
    working_hours: Option<Vec<DayJson>>,
    timezone: Option<String>,
    out_of_office_message: Option<String>,
}

/// One element of the inbox's `working_hours` (Chatwoot's `weekly_schedule`).
#[derive(Deserialize)]
struct DayJson {
    /// 0 = Sunday … 6 = Saturday.
    day_of_week: u8,
    closed_all_day: Option<bool>,
    open_all_day: Option<bool>,
    open_hour: Option<u16>,
    open_minutes: Option<u16>,
    close_hour: Option<u16>,
    close_minutes: Option<u16>,
}

impl DayJson {
    fn opening(&self) -> Result<Option<Opening>, String> {
        if self.closed_all_day.unwrap_or(false) {
            return Ok(None);
        }
        if self.open_all_day.unwrap_or(false) {
            return Ok(Some(Opening {
                open: 0,
                close: DAY_MINUTES,
            }));
        }
        let (Some(oh), Some(om), Some(ch), Some(cm)) = (
            self.open_hour,
            self.open_minutes,
            self.close_hour,
            self.close_minutes,
        ) else {
            return Err("is neither closed all day nor has open and close hours and minutes".to_owned());
        };
        if oh > 23 || om > 59 || ch > 23 || cm > 59 {
            return Err(format!("has an impossible time ({oh}:{om:02}-{ch}:{cm:02})"));
        }
        let open = oh * 60 + om;
        // Chatwoot's "open all day" and its day pickers end a day at 23:59, meaning the day's end.
        let close = if (ch, cm) == (23, 59) {
            DAY_MINUTES
        } else {
            ch * 60 + cm
        };
        if close <= open {
            return Err(format!(
                "closes ({ch:02}:{cm:02}) before it opens ({oh:02}:{om:02})"
            ));
        }
        Ok(Some(Opening { open, close }))
    }
}

impl InboxHours {
    /// Reads an inbox object as Chatwoot's API returns it. Days missing from `working_hours` are
    /// closed; `timezone` must be an IANA name (Chatwoot's own list uses them).
    pub fn from_chatwoot_inbox(inbox: &Value) -> Result<InboxHours, HoursError> {
        let bad = |m: String| HoursError(format!("Chatwoot inbox working hours: {m}"));
        let json = InboxJson::deserialize(inbox).map_err(|e| bad(e.to_string()))?;
        let timezone = match json.timezone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(parse_timezone(name).map_err(|e| bad(e.0))?),
        };
        let out_of_office_message = json.out_of_office_message.filter(|m| !m.trim().is_empty());
        if !json.working_hours_enabled.unwrap_or(false) {
            return Ok(InboxHours {
                hours: WorkingHours::always(),
                timezone,
                out_of_office_message,
            });
        }
        let mut week: [Vec<Opening>; 7] = Default::default();
        for d in json.working_hours.unwrap_or_default() {
            if d.day_of_week > 6 {
                return Err(bad(format!(
                    "day_of_week {} is not 0 (Sunday) to 6",
                    d.day_of_week
                )));
            }
            let index = (usize::from(d.day_of_week) + 6) % 7;
            let opening = d.opening().map_err(|m| {
                bad(format!(
                    "day_of_week {} ({}) {m}",
                    d.day_of_week, DAY_NAMES[index]
                ))
            })?;
            week[index] = opening.into_iter().collect();
        }
        Ok(InboxHours {
            hours: WorkingHours::from_week(week),
            timezone,
            out_of_office_message,
        })
    }
}
