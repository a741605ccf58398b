//! `wa-agent`: the binary. All logic lives in the library; this only reads the command line.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use wa_agent::config::{Settings, help_text};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("serve");
    match command {
        "-h" | "--help" | "help" => {
            println!("{}", help_text());
            return ExitCode::SUCCESS;
        }
        "-V" | "--version" => {
            println!("wa-agent {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        "serve" => {}
        "migrate" => return migrate().await,
        "dlq" => return dlq(&args[1..]).await,
        other => {
            eprintln!("wa-agent: unknown command {other:?}\n\n{}", help_text());
            return ExitCode::from(2);
        }
    }
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    wa_agent::telemetry::init_logging(settings.log_format);
    let listener = match tokio::net::TcpListener::bind(settings.listen_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %settings.listen_addr, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    wa_agent::app::cancel_on_signals(shutdown.clone());
    match wa_agent::app::run(settings, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "wa-agent failed");
            ExitCode::FAILURE
        }
    }
}

/// `wa-agent migrate`: apply the pending keyspace migrations and print what was done. Exit 0 once the
/// keyspace is at this binary's version; 1 when it failed or another process was still migrating after
/// a minute; 2 for unusable settings.
async fn migrate() -> ExitCode {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    if settings.redis_url.is_none() {
        eprintln!(
            "wa-agent migrate: REDIS_URL is not set; migrations apply to a Redis keyspace \
             (the embedded store keeps nothing to migrate)"
        );
        return ExitCode::from(2);
    }
    wa_agent::telemetry::init_logging(settings.log_format);
    let store = match wa_agent::app::open_store(&settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wa-agent migrate: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match wa_agent::app::apply_migrations(store.as_ref(), &settings).await {
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

/// `wa-agent dlq list` and `wa-agent dlq replay <id>|--all`. Exit 0 on success, 1 when the store
/// failed or nothing matched a given id, 2 for bad usage or settings.
async fn dlq(args: &[String]) -> ExitCode {
    let usage = "usage: wa-agent dlq list | wa-agent dlq replay <id>|--all";
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    if settings.redis_url.is_none() {
        eprintln!(
            "wa-agent dlq: REDIS_URL is not set (the embedded store lives only inside a running server)"
        );
        return ExitCode::from(2);
    }
    let store = match wa_agent::app::open_store(&settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wa-agent dlq: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["list"] => wa_agent::dlq::list(&store).await.map(|letters| {
            for d in &letters {
                println!("{}", wa_agent::dlq::describe(d));
            }
            println!("{} dead letter(s)", letters.len());
            true
        }),
        ["replay", "--all"] => wa_agent::dlq::replay(&store, None).await.map(|done| {
            println!("replayed {} dead letter(s)", done.len());
            true
        }),
        ["replay", id] => wa_agent::dlq::replay(&store, Some(id)).await.map(|done| {
            println!("replayed {} dead letter(s)", done.len());
            !done.is_empty()
        }),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
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

/// The settings from the environment; on a bad one, the sentence naming it and exit code 2.
fn load_settings() -> Result<Settings, ExitCode> {
    Settings::from_env().map_err(|e| {
        eprintln!("wa-agent: invalid settings: {e}");
        ExitCode::from(2)
    })
}
