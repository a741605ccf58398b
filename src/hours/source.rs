//! Where the working hours come from at run time: the settings (`WORKING_HOURS`, `TIMEZONE`,
//! `OUT_OF_OFFICE_MESSAGE`), else the Chatwoot inbox (`GET /api/v1/accounts/{a}/inboxes/{id}`),
//! refreshed in the background every [`REFRESH_EVERY`].
//!
//! Invariants: a setting that is set always wins over the inbox's value; until the inbox has been
//! read (or when it cannot be read) the last known inbox values are used, and with none the team is
//! always working in UTC with no out-of-office message. Reading the hours never waits on Chatwoot.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{HoursStatus, InboxHours, WorkingHours};
use crate::chatwoot::ChatwootClient;
use crate::config::HoursSettings;
use crate::gate::BotHours;

/// How often the Chatwoot inbox's hours are read again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);

/// The hours as they stand now, for one turn.
#[derive(Debug, Clone)]
pub struct HoursNow {
    /// `BOT_HOURS`.
    pub bot_hours: BotHours,
    /// Whether the team works now, in the business's zone.
    pub status: HoursStatus,
    /// Whether any working hours are known (else the team counts as always working).
    pub known: bool,
    /// The out-of-office message; empty: none.
    pub out_of_office_message: String,
}

/// The settings plus the last inbox read; shared by the worker and the refresh task.
#[derive(Debug, Default)]
pub struct HoursSource {
    settings: HoursSettings,
    inbox: RwLock<Option<InboxHours>>,
}

impl HoursSource {
    /// A source over the settings; the inbox is unknown until [`HoursSource::set_inbox`].
    pub fn new(settings: HoursSettings) -> Arc<HoursSource> {
        Arc::new(HoursSource {
            settings,
            inbox: RwLock::new(None),
        })
    }

    /// Remember what the Chatwoot inbox says.
    pub fn set_inbox(&self, inbox: InboxHours) {
        *self.inbox.write().unwrap_or_else(|e| e.into_inner()) = Some(inbox);
    }

    /// The hours at `now`.
    pub fn at(&self, now: Timestamp) -> HoursNow {
        let inbox = self.inbox.read().unwrap_or_else(|e| e.into_inner());
        let hours: WorkingHours = match (&self.settings.working_hours, inbox.as_ref()) {
            (Some(h), _) => h.clone(),
            (None, Some(i)) => i.hours.clone(),
            (None, None) => WorkingHours::always(),
        };
        let tz: TimeZone = match (
            &self.settings.timezone,
            inbox.as_ref().and_then(|i| i.timezone.as_ref()),
        ) {
            (Some(tz), _) => tz.clone(),
            (None, Some(tz)) => tz.clone(),
            (None, None) => TimeZone::UTC,
        };
        let out_of_office_message = match (&self.settings.out_of_office_message, inbox.as_ref()) {
            (Some(m), _) => m.clone(),
            (None, Some(i)) => i.out_of_office_message.clone().unwrap_or_default(),
            (None, None) => String::new(),
        };
        HoursNow {
            bot_hours: self.settings.bot_hours,
            status: hours.status(now, &tz),
            known: !hours.is_always(),
            out_of_office_message,
        }
    }

    /// Read the inbox once; a failure keeps the last known values.
    pub async fn refresh(&self, client: &ChatwootClient) {
        match client.get_inbox().await {
            Ok(json) => match InboxHours::from_chatwoot_inbox(&json) {
                Ok(inbox) => {
                    tracing::debug!(hours = %inbox.hours, "Chatwoot inbox hours read");
                    self.set_inbox(inbox);
                }
                Err(e) => tracing::warn!(error = %e, "the Chatwoot inbox's working hours are unusable"),
            },
            Err(e) => tracing::warn!(error = %e, "could not read the Chatwoot inbox's working hours"),
        }
    }

    /// Read the inbox now and every `every` after, until the task is aborted.
    pub fn spawn_refresh(
        self: &Arc<Self>,
        client: ChatwootClient,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let source = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                source.refresh(&client).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hours: Option<&str>, tz: Option<&str>) -> HoursSettings {
        HoursSettings {
            working_hours: hours.map(|h| h.parse().unwrap()),
            timezone: tz.map(|t| super::super::parse_timezone(t).unwrap()),
            ..HoursSettings::default()
        }
    }

    #[test]
    fn settings_win_over_the_inbox_and_the_inbox_over_nothing() {
        let sunday_noon: Timestamp = "2026-05-10T12:00:00Z".parse().unwrap();
        let none = HoursSource::new(settings(None, None));
        let now = none.at(sunday_noon);
        assert!(now.status.open && !now.known);
        assert_eq!(now.status.local_now.time_zone().iana_name(), Some("UTC"));

        let inbox: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/chatwoot/api_inbox_working_hours.json"
        ))
        .unwrap();
        let inbox = InboxHours::from_chatwoot_inbox(&inbox).unwrap();
        none.set_inbox(inbox.clone());
        let now = none.at(sunday_noon);
        assert!(now.known);
        assert_eq!(
            now.status.local_now.time_zone().iana_name(),
            inbox.timezone.as_ref().and_then(|t| t.iana_name())
        );

        let own = HoursSource::new(settings(Some("sun 10:00-16:00"), Some("Europe/Amsterdam")));
        own.set_inbox(inbox);
        let now = own.at(sunday_noon);
        assert!(now.status.open, "the setting's Sunday hours win");
        assert_eq!(
            now.status.local_now.time_zone().iana_name(),
            Some("Europe/Amsterdam")
        );
    }
}
