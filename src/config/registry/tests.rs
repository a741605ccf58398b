//! The registry's own invariants: unique, well-formed names; contiguous groups; literal defaults that
//! read exactly as an unset setting; examples the reads accept; secrets never shown.

use std::collections::HashMap;

use super::*;
use crate::config::Settings;

fn load(vars: &HashMap<String, String>) -> Result<Settings, crate::config::ConfigError> {
    Settings::from_vars(|k| vars.get(k).cloned())
}

#[test]
fn names_are_unique_upper_case_words_and_groups_are_contiguous() {
    let mut seen: Vec<&str> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    for s in SETTINGS {
        assert!(
            !s.name.is_empty()
                && s.name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "{} is not an upper-case name",
            s.name
        );
        assert!(!seen.contains(&s.name), "{} is listed twice", s.name);
        seen.push(s.name);
        if groups.last() != Some(&s.group) {
            assert!(
                !groups.contains(&s.group),
                "{}: the rows of {:?} are not together",
                s.name,
                s.group
            );
            groups.push(s.group);
        }
        assert!(!s.help.is_empty(), "{} has no meaning", s.name);
        assert!(
            s.literal().is_some() || !s.example.is_empty(),
            "{}: no default, no example",
            s.name
        );
        assert_eq!(get(s.name).name, s.name, "get finds its row");
    }
}

#[test]
fn literal_defaults_read_exactly_as_unset_settings() {
    let defaults = format!("{:?}", load(&HashMap::new()).unwrap());
    let vars: HashMap<String, String> = SETTINGS
        .iter()
        .filter_map(|s| Some((s.name.to_owned(), s.literal()?.to_owned())))
        .collect();
    assert!(vars.len() > 20, "{vars:?}");
    let explicit = load(&vars).unwrap_or_else(|e| panic!("a literal default is rejected by its read: {e}"));
    assert_eq!(format!("{explicit:?}"), defaults);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa-agent.toml");
    let toml: String = vars
        .iter()
        .filter(|(k, _)| !get(k).env_only)
        .map(|(k, v)| format!("{} = {v:?}\n", k.to_ascii_lowercase()))
        .collect();
    std::fs::write(&path, toml).unwrap();
    let from_file = Settings::load(|_| None, Some(&path)).unwrap();
    assert_eq!(
        format!("{from_file:?}"),
        defaults,
        "the same defaults written in the settings file"
    );
}

#[test]
fn every_example_is_accepted() {
    let vars: HashMap<String, String> = SETTINGS
        .iter()
        .filter(|s| !s.example.is_empty() && s.name != "SYSTEM_PROMPT_FILE")
        .map(|s| (s.name.to_owned(), s.example.to_owned()))
        .collect();
    let s = load(&vars).unwrap_or_else(|e| panic!("an example is rejected: {e}"));
    assert!(s.chatwoot.is_some() && s.waha.is_some() && s.evolution.is_some() && s.agent_bot.is_some());
    assert!(s.playground && s.redis_url.is_some() && s.hours.working_hours.is_some());
}

#[test]
fn no_secret_is_ever_shown() {
    let mut vars: HashMap<String, String> = SETTINGS
        .iter()
        .filter(|s| !s.example.is_empty() && s.name != "SYSTEM_PROMPT_FILE")
        .map(|s| (s.name.to_owned(), s.example.to_owned()))
        .collect();
    let secrets: Vec<&Setting> = SETTINGS.iter().filter(|s| s.secret).collect();
    assert!(secrets.len() >= 14, "{}", secrets.len());
    for s in &secrets {
        let marker = format!("hush-{}", s.name.to_ascii_lowercase());
        let value = match s.name {
            "REDIS_URL" => format!("redis://:{marker}@redis.internal:6379"),
            _ => marker,
        };
        vars.insert(s.name.to_owned(), value);
    }
    let settings = load(&vars).unwrap();
    let shown = format!(
        "{settings:?}\n{}\n{}",
        settings.summary(),
        crate::config::settings_help()
    );
    assert!(!shown.contains("hush-"), "a secret is shown: {shown}");
}

#[test]
fn derived_defaults_name_what_the_code_uses() {
    assert!(
        get("CONFIG_FILE")
            .default_text()
            .contains(crate::config::DEFAULT_CONFIG_FILE)
    );
    assert_eq!(crate::config::DEFAULT_LOG_FILTER, "info");
}
