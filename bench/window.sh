#!/usr/bin/env bash
# Prompt window comparison (run by hand, never in CI): a 100-message conversation replayed through
# wa-agent's own prompt assembly with the sliding window and with the block window plus summary
# (`wa-agent-bench window`), for HISTORY_WINDOW 20 (the default) and 6. In process: no servers.
set -u
cd "$(dirname "$0")/.."
cargo build --release -q -p wa-agent-bench 2>&1 | tail -3
for w in 20 6; do
  echo "HISTORY_WINDOW=$w"
  target/release/wa-agent-bench window --messages 100 --window "$w" | grep -v RESULT
done
