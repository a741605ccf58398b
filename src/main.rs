//! `wa-agent`: the binary. All logic lives in the library; this reads `.env`, parses the command line
//! and runs the command on a tokio runtime.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use wa_agent::cli::Cli;

fn main() -> ExitCode {
    // Before any thread exists: `.env` may set variables (never overriding real ones).
    if Path::new(".env").is_file()
        && let Err(e) = dotenvy::from_path(".env")
    {
        eprintln!("wa-agent: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wa-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(wa_agent::cli::run(cli))
}
