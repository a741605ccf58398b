//! `wa-agent check`: the first command an operator runs. It validates the settings (done by the
//! caller), then reaches every configured external once and prints one line each on stdout.
//!
//! Each line starts with `✓` (reached; a note may follow, e.g. Redis without AOF), `✗` (failed: the
//! reason and a hint) or `-` (not configured, which is not a failure). Invariants: every request uses
//! `HTTP_TIMEOUT_SECS`, the probes run concurrently and print in a fixed order, nothing is written to
//! any external, and no secret is printed. Exit status: 1 on any `✗`, else 0.
//!
//! Extension point: a new external gets an `async fn` in `probes` returning a [`Line`], called from
//! [`lines`]; MCP servers have [`probes::mcp`], which connects to each and lists its tools.

mod probes;
mod reach;

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Settings;

/// The outcome of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Reached and usable.
    Ok,
    /// Reached and usable, with something the operator should know.
    Note,
    /// Not reachable or not usable.
    Fail,
    /// Not configured (not a failure).
    Off,
}

/// One printed line.
#[derive(Debug, Clone)]
pub struct Line {
    /// The outcome.
    pub status: Status,
    /// What was checked (`redis`, `chatwoot`, `mcp docs`).
    pub target: String,
    /// What was found.
    pub message: String,
    /// What to do about it (failures and notes).
    pub hint: Option<String>,
}

impl Line {
    fn new(status: Status, target: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            target: target.into(),
            message: message.into(),
            hint: None,
        }
    }
    pub(crate) fn ok(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Status::Ok, target, message)
    }
    pub(crate) fn off(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Status::Off, target, message)
    }
    pub(crate) fn fail(
        target: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(Status::Fail, target, message).with_hint(hint)
    }
    pub(crate) fn note(
        target: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(Status::Note, target, message).with_hint(hint)
    }
    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Ok | Status::Note => "✓",
            Status::Fail => "✗",
            Status::Off => "-",
        };
        write!(f, "{mark} {}: {}", self.target, self.message)?;
        match (&self.hint, self.status) {
            (Some(hint), Status::Note) => write!(f, " (note: {hint})"),
            (Some(hint), _) => write!(f, " (hint: {hint})"),
            (None, _) => Ok(()),
        }
    }
}

/// Run the check with valid `settings` (read from `config_file` when given): print every line,
/// return the exit status.
pub async fn run(settings: &Settings, config_file: Option<&Path>) -> ExitCode {
    let source = match config_file {
        Some(path) => format!("valid (environment over {})", path.display()),
        None => "valid (environment and defaults; no settings file)".to_owned(),
    };
    println!("{}", Line::ok("settings", source));
    let mut failed = false;
    for line in lines(settings).await {
        failed |= line.status == Status::Fail;
        println!("{line}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One line per external, in a fixed order.
pub async fn lines(settings: &Settings) -> Vec<Line> {
    let http = match reqwest::Client::builder()
        .timeout(settings.http_timeout)
        .connect_timeout(settings.http_timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Line::fail(
                "http",
                format!("cannot build a client: {e}"),
                "report this bug",
            )];
        }
    };
    let (redis, chatwoot, waha, meta, llm, evolution, agent_bot) = tokio::join!(
        probes::redis(settings),
        probes::chatwoot(&http, settings),
        probes::waha(&http, settings),
        probes::meta(&http, settings),
        probes::llm(&http, settings),
        reach::evolution(&http, settings),
        reach::agent_bot(&http, settings),
    );
    let mut out = vec![redis, chatwoot, waha, meta, llm, evolution, agent_bot];
    if settings.mcp_servers.is_empty() {
        out.push(Line::off(
            "mcp",
            "no servers configured (MCP_SERVERS or [[mcp_servers]])",
        ));
    }
    out.extend(probes::mcp(settings, &settings.mcp_servers).await);
    out
}
