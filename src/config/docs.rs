//! The documentation of every setting, rendered from the registry: the settings part of
//! `wa-agent --help`, the whole of `.env.example`, and the README's settings tables.
//!
//! Invariants: nothing here names a setting or a default; each text is a pure function of
//! [`SETTINGS`]. The unit tests fail while `.env.example` or the README's block between
//! [`README_BEGIN`] and [`README_END`] differ from what these functions render, and rewrite them
//! when run with `WA_AGENT_WRITE_DOCS=1` (see [`REGENERATE`]).

use super::registry::{DefaultValue, Group, SETTINGS, Setting};

#[cfg(test)]
mod tests;

/// The command that rewrites `.env.example` and the README's settings tables from the registry.
pub const REGENERATE: &str = "WA_AGENT_WRITE_DOCS=1 cargo nextest run --lib config::docs::tests::generated";
/// The line that opens the README's generated settings block.
pub const README_BEGIN: &str = "<!-- settings:begin (generated from src/config/registry/table.rs) -->";
/// The line that closes it.
pub const README_END: &str = "<!-- settings:end -->";

/// Width of `--help` and `.env.example` lines.
const WIDTH: usize = 100;

/// The settings part of `wa-agent --help`: every setting with its default, by section.
pub fn settings_help() -> String {
    let mut out = String::from(
        "Settings (environment variables, or lower-case keys in CONFIG_FILE; the environment wins; \
         empty values count as unset; a .env file in the working directory is read too):\n",
    );
    for (group, settings) in groups() {
        out.push_str(&format!("\n{}:\n", plain(group.title())));
        for s in settings {
            let marks: String = [(s.secret, "; secret"), (s.env_only, "; environment only")]
                .iter()
                .filter_map(|(on, mark)| on.then_some(*mark))
                .collect();
            out.push_str(&format!(
                "  {}  (default: {}{marks})\n",
                s.name,
                plain(s.default_text())
            ));
            out.push_str(&wrap(&plain(&meaning(s)), "      ", WIDTH));
        }
    }
    out
}

/// The whole of `.env.example`.
pub fn env_example() -> String {
    let mut out = String::from(
        "# wa-agent settings. Copy to .env (or pass with `docker run --env-file`) and adjust.\n\
         # Every variable is optional; empty values count as unset. wa-agent reads .env from the working \
         directory\n\
         # itself (real environment variables win), and any setting can also live in wa-agent.toml \
         (CONFIG_FILE).\n\
         # Live lines show the default value. A commented-out line is unset (or worked out at start-up) by\n\
         # default and shows an example, or shows a default that, live, would clash with another setting.\n\
         # `wa-agent --help` lists the same settings. This file is generated from the settings registry\n\
         # (src/config/registry/table.rs); the README's Settings section says how to regenerate it.\n",
    );
    for (group, settings) in groups() {
        let title = format!("# --- {} ", plain(group.title()));
        out.push_str(&format!(
            "\n{title}{}\n\n",
            "-".repeat(WIDTH.saturating_sub(title.len()))
        ));
        for s in settings {
            out.push_str(&wrap(&env_comment(s), "# ", WIDTH));
            out.push_str(&env_line(s));
            out.push('\n');
        }
    }
    out
}

/// The README's settings block, from [`README_BEGIN`] to [`README_END`] inclusive.
pub fn readme_tables() -> String {
    let mut out = format!(
        "{README_BEGIN}\n\n_These tables are generated from `src/config/registry/table.rs`, like `--help` \
         and `.env.example`.\nAfter changing a setting there, `{REGENERATE}`\nrewrites them; \
         `cargo nextest run --lib config` fails while they differ._\n"
    );
    for (group, settings) in groups() {
        out.push_str(&format!(
            "\n**{}**\n\n| name | default | meaning |\n|---|---|---|\n",
            group.title()
        ));
        for s in settings {
            let default = match s.default {
                DefaultValue::Value(v) => format!("`{v}`"),
                _ => s.default_text().to_owned(),
            };
            let mut meaning = meaning(s);
            if let Some(section) = s.see {
                meaning.push_str(&format!(" (see [{section}](#{}))", anchor(section)));
            }
            for mark in marks(s) {
                meaning.push_str(&format!("; {mark}"));
            }
            out.push_str(&format!("| `{}` | {default} | {meaning} |\n", s.name));
        }
    }
    out.push('\n');
    out.push_str(README_END);
    out.push('\n');
    out
}

/// The settings in registry order, one run per group.
fn groups() -> Vec<(Group, Vec<&'static Setting>)> {
    let mut out: Vec<(Group, Vec<&'static Setting>)> = Vec::new();
    for s in SETTINGS {
        match out.last_mut() {
            Some((group, list)) if *group == s.group => list.push(s),
            _ => out.push((s.group, vec![s])),
        }
    }
    out
}

/// The help text with the accepted range, when the setting has one worth saying.
fn meaning(s: &Setting) -> String {
    match s.range.and_then(|(min, max)| range_text(min, max)) {
        Some(range) => format!("{} ({range})", s.help),
        None => s.help.to_owned(),
    }
}

/// How a whole-number range reads in the docs; nothing for "any positive number".
fn range_text(min: u64, max: u64) -> Option<String> {
    match (min, max) {
        (1, u64::MAX) => None,
        (_, u64::MAX) => Some(format!("at least {min}")),
        _ => Some(format!("{min} to {max}")),
    }
}

/// What else the docs say about a setting beside its default: a secret, environment only.
fn marks(s: &Setting) -> Vec<&'static str> {
    let mut out = Vec::new();
    if s.secret {
        out.push("a secret, never logged");
    }
    if s.env_only {
        out.push("environment only, not in CONFIG_FILE");
    }
    out
}

/// The comment above a setting in `.env.example`: its meaning as a sentence, and what is not literal.
fn env_comment(s: &Setting) -> String {
    let text = plain(&meaning(s));
    let mut out = match text.chars().next() {
        Some(first) if !s.help.starts_with('`') => first.to_uppercase().chain(text.chars().skip(1)).collect(),
        _ => text,
    };
    out.push('.');
    if let DefaultValue::Derived(how) = s.default {
        out.push_str(&format!(" Default: {}.", plain(how)));
    }
    for mark in marks(s) {
        out.push_str(&format!(" {}{}.", mark[..1].to_uppercase(), &mark[1..]));
    }
    out
}

/// The assignment line in `.env.example`: the default as a live line, else a commented-out example.
fn env_line(s: &Setting) -> String {
    match (s.literal(), s.commented) {
        (Some(value), false) => format!("{}={value}", s.name),
        (Some(value), true) => format!("# {}={value}", s.name),
        (None, _) => format!("# {}={}", s.name, s.example),
    }
}

/// Text for a terminal: code marks dropped.
fn plain(text: &str) -> String {
    text.replace('`', "")
}

/// The GitHub anchor of a README heading.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Word-wraps `text` into lines of at most `width` characters, each starting with `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}
