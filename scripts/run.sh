#!/usr/bin/env bash
# Runs wa-agent on its embedded defaults: no Redis, Chatwoot, WAHA or LLM needed (an in-process store,
# the echo agent, and replies logged instead of sent). Any setting can still be given in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
# At debug, the log-only gateway also shows the text of each reply it did not send.
export RUST_LOG="${RUST_LOG:-info,wa_agent::gateway=debug}"
exec cargo run --release -- serve "$@"
