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
        other => {
            eprintln!("wa-agent: unknown command {other:?}\n\n{}", help_text());
            return ExitCode::from(2);
        }
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wa-agent: invalid settings: {e}");
            return ExitCode::from(2);
        }
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
