//! `wa-agent-bench`: measurements of wa-agent, run by hand through `bench/run.sh` (never in CI).
//!
//! Every server it starts binds to 127.0.0.1, every load loop is bounded in time, and every wait has a
//! deadline, so a run always ends by itself.
//!
//! - `ceiling`: a bare axum server answering 200 to `POST /webhooks/waha`: the HTTP ceiling.
//! - `ingest`: signed WAHA webhooks from a fixed set of connections; requests/s and latency.
//! - `turns`: webhook sent → reply received at a fake WAHA, through a running wa-agent whose LLM and
//!   WAHA are this tool's instant fakes.
//! - `memory`: Redis bytes per active chat once each chat's history window is full.
//! - `intent`: the Redis cost of send intents per turn, with and without, on wa-agent's own store.
//! - `catalogue`: `search_catalogue` calls on a generated 10,000-row catalogue of cars, in process
//!   (`bench/catalogue.sh`).
//! - `toolloop`: what the tool loop adds to a turn with an instant model and instant tools, in process.
//! - `window`: a 100-message conversation's prompts, sliding window versus block window and summary
//!   (prompt size, prefix reuse, the first message's fact), in process.
//! - `voice`: what a 1 MiB voice note adds to a turn (download, transcription upload, history), with
//!   an instant transcriber (`bench/voice.sh`).
//! - `soak`: two instances, one killed and restarted every few seconds; lost, duplicated and
//!   out-of-order counts and the slowest turn.

mod args;
mod catalogue;
mod ceiling;
mod client;
mod fakes;
mod ingest;
mod intent;
mod memory;
mod resp;
mod soak;
mod stats;
mod toolloop;
mod turns;
mod voice;
mod webhook;
mod window;

use std::process::ExitCode;

const USAGE: &str = "\
wa-agent-bench: measurements of wa-agent (see bench/run.sh)

Usage:
  wa-agent-bench ceiling [--addr 127.0.0.1:0] [--max-seconds 900]
  wa-agent-bench ingest  --url URL [--connections 64] [--seconds 10] [--hmac-key K] [--chats 10000]
  wa-agent-bench turns   --url URL --llm-addr ADDR --waha-addr ADDR [--chats 50] [--turns 200]
                         [--hmac-key K] [--max-seconds 120]
  wa-agent-bench memory  --url URL --redis URL --prefix P --llm-addr ADDR --waha-addr ADDR
                         [--chats 200] [--window 20] [--message-bytes 200] [--hmac-key K]
  wa-agent-bench intent  --redis URL [--iterations 5000] [--chats 50]
  wa-agent-bench soak    --binary PATH --redis URL [--chats 200] [--messages 10] [--seconds 40]
                         [--kill-every 4] [--settle 120]
  wa-agent-bench catalogue [--rows 10000] [--iterations 2000]
  wa-agent-bench toolloop  [--rows 10000] [--iterations 2000]
  wa-agent-bench window  [--messages 100] [--window 20]
  wa-agent-bench voice   --url URL --llm-addr ADDR --waha-addr ADDR [--turns 100] [--voice-bytes 1048576]
                         [--hmac-key K] [--pid PID] [--max-seconds 300]

`ingest` posts to URL as given (e.g. http://127.0.0.1:3000/webhooks/waha); `turns` and `memory` take
wa-agent's base URL. Results are printed as one JSON line (prefixed `RESULT `) and one human line.";

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let args = match args::Args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wa-agent-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wa-agent-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command.as_str() {
            "ceiling" => ceiling::run(&args).await,
            "ingest" => ingest::run(&args).await,
            "turns" => turns::run(&args).await,
            "memory" => memory::run(&args).await,
            "soak" => soak::run(&args).await,
            "intent" => intent::run(&args).await,
            "catalogue" => catalogue::run(&args).await,
            "toolloop" => toolloop::run(&args).await,
            "window" => window::run(&args).await,
            "voice" => voice::run(&args).await,
            "-h" | "--help" | "help" => {
                println!("{USAGE}");
                Ok(())
            }
            other => Err(anyhow::anyhow!("unknown command {other:?}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wa-agent-bench {command}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
