//! Settings of the channels added beside WAHA and the Cloud API: Evolution API (`EVOLUTION_*`) and
//! Chatwoot's Agent Bot mode (`CHATWOOT_AGENT_BOT_TOKEN`, `CHATWOOT_AGENT_BOT_SECRET`).
//!
//! Invariants: Evolution is on only with both `EVOLUTION_BASE_URL` and `EVOLUTION_INSTANCE` (a base
//! URL without an instance is an error naming both); the Agent Bot is on only with its token, and
//! needs `CHATWOOT_BASE_URL` to answer through; its webhook secret falls back to
//! `CHATWOOT_WEBHOOK_SECRET`.

use secrecy::SecretString;

use super::ConfigError;
use super::registry::setting;
use super::sources::Sources;

/// Evolution API gateway settings.
#[derive(Debug, Clone)]
pub struct EvolutionSettings {
    /// `EVOLUTION_BASE_URL`, without a trailing slash.
    pub base_url: String,
    /// `EVOLUTION_API_KEY`: sent as the `apikey` header, and checked on `POST /webhooks/evolution`.
    pub api_key: Option<SecretString>,
    /// `EVOLUTION_INSTANCE`: the instance replies are sent through.
    pub instance: String,
}

/// Chatwoot Agent Bot settings.
#[derive(Debug, Clone)]
pub struct AgentBotSettings {
    /// `CHATWOOT_AGENT_BOT_TOKEN`: the bot's access token (`api_access_token` header).
    pub token: SecretString,
    /// `CHATWOOT_AGENT_BOT_SECRET`, else `CHATWOOT_WEBHOOK_SECRET`: checks the bot's events.
    pub secret: Option<SecretString>,
    /// `CHATWOOT_BASE_URL`, without a trailing slash.
    pub base_url: String,
}

/// `EVOLUTION_*`; `None` when `EVOLUTION_BASE_URL` is unset.
pub(super) fn evolution(v: &Sources) -> Result<Option<EvolutionSettings>, ConfigError> {
    let Some(base_url) = v.http_url(setting!("EVOLUTION_BASE_URL"))? else {
        return Ok(None);
    };
    let Some(instance) = v.raw(setting!("EVOLUTION_INSTANCE")) else {
        return Err(ConfigError::new(
            "EVOLUTION_BASE_URL, EVOLUTION_INSTANCE",
            "EVOLUTION_BASE_URL is set but EVOLUTION_INSTANCE is not; set the instance name replies go through",
        ));
    };
    Ok(Some(EvolutionSettings {
        base_url,
        api_key: v.secret(setting!("EVOLUTION_API_KEY")),
        instance,
    }))
}

/// `CHATWOOT_AGENT_BOT_*`; `None` without the token.
pub(super) fn agent_bot(v: &Sources) -> Result<Option<AgentBotSettings>, ConfigError> {
    let Some(token) = v.secret(setting!("CHATWOOT_AGENT_BOT_TOKEN")) else {
        return Ok(None);
    };
    let Some(base_url) = v.http_url(setting!("CHATWOOT_BASE_URL"))? else {
        return Err(ConfigError::new(
            "CHATWOOT_AGENT_BOT_TOKEN, CHATWOOT_BASE_URL",
            "the Agent Bot answers through Chatwoot's API: set CHATWOOT_BASE_URL too",
        ));
    };
    Ok(Some(AgentBotSettings {
        token,
        secret: v
            .secret(setting!("CHATWOOT_AGENT_BOT_SECRET"))
            .or_else(|| v.secret(setting!("CHATWOOT_WEBHOOK_SECRET"))),
        base_url,
    }))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::config::Settings;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn evolution_is_off_by_default_and_needs_an_instance() {
        assert!(settings(&[]).unwrap().evolution.is_none());
        let err = settings(&[("EVOLUTION_BASE_URL", "http://evo:8080")]).unwrap_err();
        assert!(err.variable.contains("EVOLUTION_INSTANCE"), "{err}");
        let s = settings(&[
            ("EVOLUTION_BASE_URL", "http://evo:8080/"),
            ("EVOLUTION_INSTANCE", "verkoop"),
            ("EVOLUTION_API_KEY", "k"),
        ])
        .unwrap();
        let evo = s.evolution.unwrap();
        assert_eq!(evo.base_url, "http://evo:8080");
        assert_eq!(evo.instance, "verkoop");
        assert_eq!(evo.api_key.unwrap().expose_secret(), "k");
    }

    #[test]
    fn agent_bot_needs_chatwoot_and_falls_back_to_the_webhook_secret() {
        assert!(settings(&[]).unwrap().agent_bot.is_none());
        let err = settings(&[("CHATWOOT_AGENT_BOT_TOKEN", "t")]).unwrap_err();
        assert!(err.variable.contains("CHATWOOT_BASE_URL"), "{err}");
        let s = settings(&[
            ("CHATWOOT_AGENT_BOT_TOKEN", "t"),
            ("CHATWOOT_BASE_URL", "http://cw:3000"),
            ("CHATWOOT_WEBHOOK_SECRET", "shared"),
        ])
        .unwrap();
        let bot = s.agent_bot.unwrap();
        assert_eq!(bot.secret.unwrap().expose_secret(), "shared");
        let s = settings(&[
            ("CHATWOOT_AGENT_BOT_TOKEN", "t"),
            ("CHATWOOT_BASE_URL", "http://cw:3000"),
            ("CHATWOOT_WEBHOOK_SECRET", "shared"),
            ("CHATWOOT_AGENT_BOT_SECRET", "own"),
        ])
        .unwrap();
        assert_eq!(s.agent_bot.unwrap().secret.unwrap().expose_secret(), "own");
    }
}
