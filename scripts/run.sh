#!/usr/bin/env bash
# Runs wa-agent on its embedded defaults: no Redis, Chatwoot, WAHA or LLM needed (an in-process store,
# the echo agent, and replies logged instead of sent). Any setting can still be given in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_LOG="${RUST_LOG:-info}"
exec cargo run --release -- serve "$@"
