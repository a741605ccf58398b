#!/usr/bin/env bash
# Soak: 2,000 messages over 200 chats through two wa-agent instances sharing one Redis, while one
# instance is killed (SIGKILL) and restarted every few seconds. Prints lost, duplicated and
# out-of-order counts and the slowest turn. Run by hand (never in CI); everything stays on 127.0.0.1.
# Usage: bench/soak.sh [extra wa-agent-bench soak options, e.g. --kill-every 3]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p wa-agent -p wa-agent-bench
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --dir "$dir" --daemonize yes --logfile "$dir/redis.log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "command: bench/soak.sh $*"
target/release/wa-agent-bench soak --binary target/release/wa-agent --redis "redis://127.0.0.1:$port" "$@"
