//! The drift tests: `.env.example`, the README's settings tables and `--help` say what the registry
//! says, and nothing it lacks. The two `generated_*` tests, run with `WA_AGENT_WRITE_DOCS=1`, rewrite
//! the files instead of failing (only they run then, so no other test reads a half-written file).

use std::collections::HashMap;

use super::*;
use crate::config::Settings;

const ENV_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

/// Passes when `current` (the text of `path`) is `expected`; with `WA_AGENT_WRITE_DOCS` set, writes
/// `whole` to `path` instead of failing.
fn in_step(path: &str, current: &str, expected: &str, whole: impl FnOnce() -> String) {
    if current == expected {
        return;
    }
    if std::env::var_os("WA_AGENT_WRITE_DOCS").is_some() {
        std::fs::write(path, whole()).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        return;
    }
    let (n, (have, want)) = current
        .lines()
        .chain(std::iter::repeat("<end of text>"))
        .zip(expected.lines().chain(std::iter::repeat("<end of text>")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap_or((0, ("", "")));
    panic!(
        "{path} has drifted from the settings registry (src/config/registry/table.rs); first difference \
         at line {} of the generated text:\n  file:     {have}\n  registry: {want}\nRegenerate: {REGENERATE}",
        n + 1
    );
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn generated_env_example_is_the_registry_rendered() {
    let current = read(ENV_EXAMPLE);
    in_step(ENV_EXAMPLE, &current, &env_example(), env_example);
}

#[test]
fn generated_readme_tables_are_the_registry_rendered() {
    let readme = read(README);
    let begin = readme
        .find(README_BEGIN)
        .unwrap_or_else(|| panic!("README.md lacks {README_BEGIN}"));
    let end = readme[begin..]
        .find(README_END)
        .map(|i| begin + i + README_END.len() + 1)
        .unwrap_or_else(|| panic!("README.md lacks {README_END} after {README_BEGIN}"));
    let block = &readme[begin..end.min(readme.len())];
    let expected = readme_tables();
    in_step(README, block, &expected, || {
        format!(
            "{}{expected}{}",
            &readme[..begin],
            &readme[end.min(readme.len())..]
        )
    });
}

#[test]
fn the_readme_settings_section_has_no_rows_outside_the_generated_block() {
    let readme = read(README);
    let start = readme
        .find("\n## Settings\n")
        .expect("README.md has a Settings section");
    let section = &readme[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let outside: String = match (section.find(README_BEGIN), section.find(README_END)) {
        (Some(b), Some(e)) => format!("{}{}", &section[..b], &section[e..]),
        _ => section.to_owned(),
    };
    for line in outside.lines() {
        assert!(
            !line.starts_with("| `"),
            "a settings row outside the generated block (add it to the registry instead): {line}"
        );
    }
}

#[test]
fn help_lists_every_setting_with_its_default_and_nothing_else() {
    let help = settings_help();
    for s in SETTINGS {
        let row = format!("  {}  (default: {}", s.name, plain(s.default_text()));
        assert!(help.contains(&row), "--help lacks {row:?}");
    }
    let rows: Vec<&str> = help
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.contains("  (default: "))
        .map(|l| l.trim_start().split_once("  ").map_or(l, |(name, _)| name))
        .collect();
    let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    assert_eq!(
        rows, names,
        "--help shows exactly the registry's settings, in its order"
    );
}

#[test]
fn env_example_copied_to_dot_env_gives_the_defaults() {
    let file = std::fs::File::open(ENV_EXAMPLE).expect(".env.example exists");
    let vars: HashMap<String, String> = dotenvy::from_read_iter(file)
        .map(|item| item.expect(".env.example is a valid .env file"))
        .collect();
    for s in SETTINGS {
        assert_eq!(
            vars.get(s.name).map(String::as_str),
            s.literal().filter(|_| !s.commented),
            "{}: .env.example sets exactly the literal defaults",
            s.name
        );
    }
    let copied = Settings::from_vars(|k| vars.get(k).cloned()).expect(".env.example loads");
    let defaults = Settings::from_vars(|_| None).unwrap();
    assert_eq!(format!("{copied:?}"), format!("{defaults:?}"));
}

#[test]
fn every_setting_appears_in_each_document_in_the_form_of_its_default() {
    let example = read(ENV_EXAMPLE);
    let readme = read(README);
    let help = settings_help();
    for s in SETTINGS {
        let line = example
            .lines()
            .find(|l| {
                l.trim_start_matches(['#', ' '])
                    .starts_with(&format!("{}=", s.name))
            })
            .unwrap_or_else(|| panic!("{} is missing from .env.example", s.name));
        match (s.default, s.commented) {
            (DefaultValue::Value(v), false) => assert_eq!(line, format!("{}={v}", s.name)),
            (DefaultValue::Value(v), true) => assert_eq!(line, format!("# {}={v}", s.name)),
            (DefaultValue::Empty, _) => assert_eq!(line, format!("{}=", s.name)),
            _ => assert!(line.starts_with('#'), "{} is unset by default: {line}", s.name),
        }
        assert!(help.contains(s.name), "{} is missing from --help", s.name);
        assert!(
            readme.contains(&format!("| `{}` |", s.name)),
            "{} is missing from README.md",
            s.name
        );
    }
}

#[test]
fn every_see_also_names_a_readme_heading() {
    let readme = read(README);
    for s in SETTINGS {
        if let Some(section) = s.see {
            assert!(
                readme
                    .lines()
                    .any(|l| l.trim_start_matches('#') == format!(" {section}") && l.starts_with("##")),
                "{}: README.md has no heading {section:?}",
                s.name
            );
        }
    }
}

#[test]
fn anchors_and_ranges_read_as_the_readme_needs() {
    assert_eq!(anchor("Agent Bot mode"), "agent-bot-mode");
    assert_eq!(anchor("Settings file"), "settings-file");
    assert_eq!(range_text(1, 1000).as_deref(), Some("1 to 1000"));
    assert_eq!(range_text(60, u64::MAX).as_deref(), Some("at least 60"));
    assert_eq!(range_text(1, u64::MAX), None);
}
