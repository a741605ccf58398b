#!/usr/bin/env bash
# Runs wa-agent on its embedded defaults: no Redis, Chatwoot, WAHA or LLM needed (an in-process store,
# the echo agent, and replies logged instead of sent). Any setting can still be given in the environment.
# Open the playground address it prints to chat with the agent in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
# At debug, the log-only gateway (wa_agent::channel) also shows the text of each reply it did not send.
# tests/first_run.rs reads each `export NAME="${NAME:-default}"` line below and starts the binary with
# them, so keep that form for every default this script sets.
export RUST_LOG="${RUST_LOG:-info,wa_agent::channel=debug}"
# The playground is on without REDIS_URL (or with PLAYGROUND=on): say where it will be.
listen="${LISTEN_ADDR:-0.0.0.0:3000}"
host="${listen%:*}"
case "$host" in 0.0.0.0 | "[::]" | "") host=localhost ;; esac
playground="${PLAYGROUND:-}"
if [ -z "$playground" ]; then
    if [ -z "${REDIS_URL:-}" ]; then playground=on; else playground=off; fi
fi
case "$(printf '%s' "$playground" | tr '[:upper:]' '[:lower:]')" in
    on | true | 1 | yes) echo "==> playground: http://$host:${listen##*:}/playground (once it has built and started)" ;;
    *) echo "==> playground: off (PLAYGROUND=on to turn it on)" ;;
esac
exec cargo run --release -- serve "$@"
