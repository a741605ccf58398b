//! Settings of the agent's sense of time and memory: `BOT_HOURS`, `WORKING_HOURS`, `TIMEZONE` (as an
//! override of the Chatwoot inbox's zone), `OUT_OF_OFFICE_MESSAGE` and `HISTORY_SUMMARY`.
//!
//! Invariants: each of `WORKING_HOURS`, `TIMEZONE` and `OUT_OF_OFFICE_MESSAGE` is `None` when unset,
//! so the Chatwoot inbox's value is used instead (see [`crate::hours::source`]); `TIMEZONE` itself
//! stays in `Settings::timezone` with its `UTC` default for the other users of the zone.
//! `HISTORY_SUMMARY` defaults to on exactly when an LLM is configured.

use jiff::tz::TimeZone;

use super::ConfigError;
use super::registry::setting;
use super::sources::Sources;
use crate::gate::BotHours;
use crate::hours::{WorkingHours, parse_timezone};

/// What the operator set about hours and memory.
#[derive(Debug, Clone)]
pub struct HoursSettings {
    /// `BOT_HOURS`: when the agent answers.
    pub bot_hours: BotHours,
    /// `WORKING_HOURS`; `None` when unset (the Chatwoot inbox's hours, else always working).
    pub working_hours: Option<WorkingHours>,
    /// `TIMEZONE` when set; `None`: the Chatwoot inbox's zone, else UTC.
    pub timezone: Option<TimeZone>,
    /// `OUT_OF_OFFICE_MESSAGE` when set (trimmed); `None`: the inbox's, else none.
    pub out_of_office_message: Option<String>,
    /// `HISTORY_SUMMARY`: fold messages leaving the window into the chat's summary.
    pub history_summary: bool,
}

/// What unset settings read as without an LLM (a unit test keeps the two equal).
impl Default for HoursSettings {
    fn default() -> Self {
        Self {
            bot_hours: BotHours::Always,
            working_hours: None,
            timezone: None,
            out_of_office_message: None,
            history_summary: false,
        }
    }
}

/// Reads the settings; `llm_configured` sets `HISTORY_SUMMARY`'s default.
pub(super) fn hours(v: &Sources, llm_configured: bool) -> Result<HoursSettings, ConfigError> {
    let bot_hours: BotHours = v
        .string(setting!("BOT_HOURS"))
        .parse()
        .map_err(|e: crate::gate::BotHoursError| v.err(setting!("BOT_HOURS"), e.to_string()))?;
    let working_hours = match v.raw(setting!("WORKING_HOURS")) {
        None => None,
        Some(raw) => Some(
            raw.parse::<WorkingHours>()
                .map_err(|e| v.err(setting!("WORKING_HOURS"), e.to_string()))?,
        ),
    };
    let timezone = match v.raw(setting!("TIMEZONE")) {
        None => None,
        Some(raw) => Some(parse_timezone(&raw).map_err(|e| v.err(setting!("TIMEZONE"), e.0))?),
    };
    let out_of_office_message = v.raw(setting!("OUT_OF_OFFICE_MESSAGE"));
    Ok(HoursSettings {
        bot_hours,
        working_hours,
        timezone,
        out_of_office_message,
        history_summary: v.flag_or(setting!("HISTORY_SUMMARY"), llm_configured)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::gate::BotHours;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_leave_everything_to_the_inbox() {
        let s = settings(&[]).unwrap().hours;
        assert_eq!(s.bot_hours, BotHours::Always);
        assert!(s.working_hours.is_none());
        assert!(s.timezone.is_none());
        assert!(s.out_of_office_message.is_none());
        assert!(!s.history_summary, "no LLM: no summary");
        let with_llm = settings(&[("LLM_BASE_URL", "http://llm.test/v1")]).unwrap().hours;
        assert!(with_llm.history_summary, "an LLM turns the summary on");
        let off = settings(&[
            ("LLM_BASE_URL", "http://llm.test/v1"),
            ("HISTORY_SUMMARY", "false"),
        ])
        .unwrap()
        .hours;
        assert!(!off.history_summary);
    }

    #[test]
    fn the_default_value_is_what_unset_settings_read_as() {
        let unset = settings(&[]).unwrap().hours;
        assert_eq!(
            format!("{unset:?}"),
            format!("{:?}", super::HoursSettings::default())
        );
    }

    #[test]
    fn values_are_read() {
        let s = settings(&[
            ("BOT_HOURS", "outside_working_hours"),
            ("WORKING_HOURS", "mon-fri 09:00-18:00, sat 10:00-14:00"),
            ("TIMEZONE", "Europe/Amsterdam"),
            ("OUT_OF_OFFICE_MESSAGE", " We are closed. "),
        ])
        .unwrap()
        .hours;
        assert_eq!(s.bot_hours, BotHours::OutsideWorkingHours);
        let expected: crate::hours::WorkingHours = "mon-fri 09:00-18:00, sat 10:00-14:00".parse().unwrap();
        assert_eq!(s.working_hours, Some(expected));
        assert!(!s.working_hours.as_ref().is_some_and(|h| h.is_always()));
        assert_eq!(s.timezone.unwrap().iana_name(), Some("Europe/Amsterdam"));
        assert_eq!(s.out_of_office_message.as_deref(), Some("We are closed."));
    }

    #[test]
    fn bad_values_name_their_setting() {
        let e = settings(&[("BOT_HOURS", "nights")]).unwrap_err();
        assert!(e.to_string().contains("BOT_HOURS"), "{e}");
        let e = settings(&[("WORKING_HOURS", "someday 9-5")]).unwrap_err();
        assert!(e.to_string().contains("WORKING_HOURS"), "{e}");
        let e = settings(&[("HISTORY_SUMMARY", "maybe")]).unwrap_err();
        assert!(e.to_string().contains("HISTORY_SUMMARY"), "{e}");
    }
}
