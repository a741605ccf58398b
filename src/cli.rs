//! The command line: `serve` (the default), `migrate`, `dlq list`, `dlq replay <id>|--all`, `check`
//! and `healthcheck`, parsed by `clap` with generated `--help`.
//!
//! Invariants: parsing and `--help` read no settings and connect to nothing; settings are loaded only
//! once a command runs. A command's report goes to stdout and its logs to stderr (only `serve` logs
//! to stdout). Exit status: 0 ok, 1 failure, 2 bad usage or settings; every command's `--help` says
//! what each means for it. `--help` never shows an environment value (`hide_env_values`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

mod healthcheck;

use crate::config::{Settings, config_file_path, settings_help};
use crate::telemetry::{LogWriter, init_logging};

/// `wa-agent`: the whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "wa-agent",
    version,
    about = "WhatsApp AI agent with per-chat Redis history over Chatwoot",
    after_help = root_after_help()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// What to do; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// TOML settings file (default: wa-agent.toml in the working directory when it exists).
    #[arg(
        long = "config",
        value_name = "FILE",
        env = "CONFIG_FILE",
        hide_env_values = true,
        global = true
    )]
    pub config: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP intake and the workers, as ROLE says (the default command).
    #[command(after_help = serve_after_help())]
    Serve,
    /// Apply pending keyspace migrations to Redis and exit.
    #[command(after_help = MIGRATE_EXIT)]
    Migrate,
    /// Dead letters: work that failed after its retries.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Validate the settings, then reach every configured external and report one line each.
    #[command(after_help = CHECK_EXIT)]
    Check,
    /// Ask the local server's /health, for a container's health check; exit 0 when it answers 200.
    #[command(after_help = healthcheck_after_help())]
    Healthcheck,
}

/// `wa-agent dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List the dead letters, oldest first.
    #[command(after_help = DLQ_EXIT)]
    List,
    /// Put dead letters back in their chat's queue.
    #[command(after_help = DLQ_EXIT)]
    Replay(ReplayArgs),
}

/// Which dead letters to replay.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The dead letter's id (as `dlq list` shows it).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// Replay every dead letter.
    #[arg(long)]
    pub all: bool,
}

const SERVE_EXIT: &str = "Exit status: 0 after a clean shutdown (SIGTERM or SIGINT); 1 when it cannot \
    listen or fails; 2 for bad usage or settings.";
const MIGRATE_EXIT: &str = "Needs REDIS_URL. Prints its report on stdout, logs on stderr.\n\n\
    Exit status: 0 once the keyspace is at this binary's version; 1 when a migration failed or another \
    process was still migrating after a minute; 2 for bad usage or settings (REDIS_URL unset included).";
const DLQ_EXIT: &str = "Needs REDIS_URL. Prints its report on stdout, logs on stderr.\n\n\
    Exit status: 0 ok; 1 when the store failed or no dead letter has the given id; 2 for bad usage or \
    settings (REDIS_URL unset included).";
const CHECK_EXIT: &str = "Prints one line per external on stdout: ✓ reached (maybe with a note), \
    ✗ failed (with the reason and a hint), - not configured. Logs go to stderr.\n\n\
    Exit status: 0 when nothing failed; 1 on any ✗; 2 for bad usage or settings.";

fn healthcheck_after_help() -> String {
    format!(
        "Sends GET /health to loopback at LISTEN_ADDR's port (0.0.0.0 asks 127.0.0.1, [::] asks [::1]; \
         a specific address is asked as given), with no proxy, within {} s. Prints one line on stdout: \
         healthy, or unhealthy and why.\n\n\
         Exit status: 0 when /health answered 200; 1 otherwise; 2 for bad usage or settings.",
        healthcheck::TIMEOUT.as_secs()
    )
}

fn root_after_help() -> String {
    format!(
        "{}\n{}",
        serve_after_help(),
        "Each command's --help gives its exit status."
    )
}

fn serve_after_help() -> String {
    format!("{}\n{SERVE_EXIT}", settings_help())
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let (settings, file) = match load_settings(&cli.global) {
        Ok(loaded) => loaded,
        Err(message) => {
            if matches!(cli.command, Some(Command::Check)) {
                println!("✗ settings: {message}");
            } else {
                eprintln!("wa-agent: invalid settings: {message}");
            }
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Dlq(cmd) => dlq(settings, cmd).await,
        Command::Check => {
            init_logging(settings.log_format, LogWriter::Stderr);
            crate::check::run(&settings, file.as_deref()).await
        }
        Command::Healthcheck => health(settings).await,
    }
}

/// `wa-agent healthcheck`: one line on stdout; 0 when the local `/health` answered 200, else 1.
async fn health(settings: Settings) -> ExitCode {
    match healthcheck::probe(settings.listen_addr).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("{reason}");
            ExitCode::FAILURE
        }
    }
}

/// The settings: the file (`--config`/`CONFIG_FILE`, else `wa-agent.toml` when present) under the
/// process environment, and the file read. On failure, the sentence naming the setting.
fn load_settings(global: &Global) -> Result<(Settings, Option<PathBuf>), String> {
    let given = global.config.as_ref().map(|p| p.to_string_lossy().into_owned());
    let env = |k: &str| match k {
        "CONFIG_FILE" => given.clone(),
        _ => std::env::var(k).ok(),
    };
    let file = config_file_path(&env, std::path::Path::new("")).map_err(|e| e.to_string())?;
    let settings = Settings::load(env, file.as_deref()).map_err(|e| e.to_string())?;
    Ok((settings, file))
}

async fn serve(settings: Settings) -> ExitCode {
    init_logging(settings.log_format, LogWriter::Stdout);
    let listener = match tokio::net::TcpListener::bind(settings.listen_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %settings.listen_addr, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    crate::app::cancel_on_signals(shutdown.clone());
    match crate::app::run(settings, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "wa-agent failed");
            ExitCode::FAILURE
        }
    }
}

/// The Redis store for an operator command, or the exit code when there is none.
async fn operator_store(
    settings: &Settings,
    command: &str,
    why: &str,
) -> Result<std::sync::Arc<dyn crate::store::Store>, ExitCode> {
    if settings.redis_url.is_none() {
        eprintln!("wa-agent {command}: REDIS_URL is not set; {why}");
        return Err(ExitCode::from(2));
    }
    init_logging(settings.log_format, LogWriter::Stderr);
    crate::app::open_store(settings).await.map_err(|e| {
        eprintln!("wa-agent {command}: {e:#}");
        ExitCode::FAILURE
    })
}

/// `wa-agent migrate`: apply the pending keyspace migrations and print what was done.
async fn migrate(settings: Settings) -> ExitCode {
    let why = "migrations apply to a Redis keyspace (the embedded store keeps nothing to migrate)";
    let store = match operator_store(&settings, "migrate", why).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match crate::app::apply_migrations(store.as_ref(), &settings).await {
        Ok(report) => {
            println!("wa-agent migrate: {report}");
            if report.locked_by_other {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("wa-agent migrate: failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `wa-agent dlq list` and `wa-agent dlq replay <id>|--all`.
async fn dlq(settings: Settings, cmd: DlqCommand) -> ExitCode {
    let why = "the embedded store lives only inside a running server";
    let store = match operator_store(&settings, "dlq", why).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = match cmd {
        DlqCommand::List => crate::dlq::list(&store).await.map(|letters| {
            for d in &letters {
                println!("{}", crate::dlq::describe(d));
            }
            println!("{} dead letter(s)", letters.len());
            true
        }),
        DlqCommand::Replay(args) => {
            let id = if args.all { None } else { args.id.as_deref() };
            crate::dlq::replay(&store, id).await.map(|done| {
                println!("replayed {} dead letter(s)", done.len());
                id.is_none() || !done.is_empty()
            })
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("wa-agent dlq: no such dead letter");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("wa-agent dlq: {e}");
            ExitCode::FAILURE
        }
    }
}
