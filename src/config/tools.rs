//! The agent's tool settings (behaviour 8): `AGENT_MAX_STEPS`, `TOOL_TIMEOUT_SECS`, `CATALOGUE_FILE`
//! and `CONTACT_ATTRIBUTES`.
//!
//! Invariants: at least one model call per turn and at most 50; a tool call has at least one second
//! and at most ten minutes; contact attribute keys are unique, lower-cased `[a-z0-9_]` words (an
//! empty list leaves `update_contact` with name and email only). The catalogue file itself is read
//! at start-up by the service (`agent::tools::catalogue`), which fails with the line that is wrong.

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::registry::setting;
use super::sources::Sources;

/// The default of `CONTACT_ATTRIBUTES`.
pub const DEFAULT_CONTACT_ATTRIBUTES: &str = "interest,budget,timeline";

/// How the agent uses tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSettings {
    /// `AGENT_MAX_STEPS`: model calls per turn (tool rounds plus the final answer).
    pub max_steps: u32,
    /// `TOOL_TIMEOUT_SECS`: the limit of one tool call.
    pub timeout: Duration,
    /// `CATALOGUE_FILE`: the business's items; `search_catalogue` is offered when set.
    pub catalogue_file: Option<PathBuf>,
    /// `CONTACT_ATTRIBUTES`: the custom attributes `update_contact` may record.
    pub contact_attributes: Vec<String>,
}

pub(super) fn tools(v: &Sources) -> Result<ToolSettings, ConfigError> {
    Ok(ToolSettings {
        max_steps: v.number(setting!("AGENT_MAX_STEPS"))? as u32,
        timeout: Duration::from_secs(v.number(setting!("TOOL_TIMEOUT_SECS"))?),
        catalogue_file: v.raw(setting!("CATALOGUE_FILE")).map(PathBuf::from),
        contact_attributes: attributes(&v.string(setting!("CONTACT_ATTRIBUTES")))
            .map_err(|reason| v.err(setting!("CONTACT_ATTRIBUTES"), reason))?,
    })
}

/// A comma-separated list of attribute keys; `-` or `none` for an empty list.
fn attributes(raw: &str) -> Result<Vec<String>, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("none") || raw == "-" {
        return Ok(Vec::new());
    }
    let mut out: Vec<String> = Vec::new();
    for key in raw.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let key = key.to_ascii_lowercase();
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "expected comma-separated keys of letters, digits and '_', got {key:?}"
            ));
        }
        if out.contains(&key) {
            return Err(format!("the key {key:?} is listed twice"));
        }
        out.push(key);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_five_steps_fifteen_seconds_and_three_attributes() {
        let s = settings(&[]).unwrap().tools;
        assert_eq!(s.max_steps, 5);
        assert_eq!(s.timeout, Duration::from_secs(15));
        assert_eq!(s.catalogue_file, None);
        assert_eq!(s.contact_attributes, vec!["interest", "budget", "timeline"]);
    }

    #[test]
    fn values_are_read_and_keys_lower_cased() {
        let s = settings(&[
            ("AGENT_MAX_STEPS", "3"),
            ("TOOL_TIMEOUT_SECS", "2"),
            ("CATALOGUE_FILE", "/data/stock.csv"),
            ("CONTACT_ATTRIBUTES", " Model , trade_in "),
        ])
        .unwrap()
        .tools;
        assert_eq!(s.max_steps, 3);
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.catalogue_file, Some(PathBuf::from("/data/stock.csv")));
        assert_eq!(s.contact_attributes, vec!["model", "trade_in"]);
        assert!(
            settings(&[("CONTACT_ATTRIBUTES", "none")])
                .unwrap()
                .tools
                .contact_attributes
                .is_empty()
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            ("AGENT_MAX_STEPS", "0"),
            ("TOOL_TIMEOUT_SECS", "soon"),
            ("CONTACT_ATTRIBUTES", "budget,bud get"),
            ("CONTACT_ATTRIBUTES", "budget,budget"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
        }
    }
}
