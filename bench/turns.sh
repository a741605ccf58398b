#!/usr/bin/env bash
# Quick turn-overhead measurement for the development loop (run by hand, never in CI): builds release
# binaries, starts its own Redis on a free port and one wa-agent (ROLE=all, DEBOUNCE_MS=0) on the bench's
# instant fakes, then runs `wa-agent-bench turns` with 50 chats and with 1 chat, 200 turns each.
# THINK=250 makes customers pause ~250 ms between turns (the overhead figure); without it every chat is
# a closed loop (saturation). Extra arguments are wa-agent settings, e.g. `bench/turns.sh SEND_PRESENCE=false`.
# PERF=1 records a CPU profile of wa-agent to /tmp/perf.data.
set -u
cd "$(dirname "$0")/.."
cargo build --release -q -p wa-agent -p wa-agent-bench 2>&1 | tail -3
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(fp); AP=$(fp); LP=$(fp); WP=$(fp); D=$(mktemp -d)
redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir $D --daemonize yes --logfile $D/r.log
sleep 0.3
env -i PATH="$PATH" LISTEN_ADDR=127.0.0.1:$AP REDIS_URL=redis://127.0.0.1:$RP WAHA_WEBHOOK_HMAC_KEY=k LOG_FORMAT=json RUST_LOG=warn \
  ROLE=all REDIS_KEY_PREFIX=bench: DEBOUNCE_MS=0 HISTORY_WINDOW=20 LLM_BASE_URL=http://127.0.0.1:$LP LLM_MODEL=bench \
  WAHA_BASE_URL=http://127.0.0.1:$WP WAHA_API_KEY=bench "$@" target/release/wa-agent > $D/agent.log 2>&1 &
APID=$!
if [ -n "${PERF:-}" ]; then perf record -F 2000 -g -p $APID -o /tmp/perf.data >/dev/null 2>&1 & PERFPID=$!; sleep 0.5; fi
for _ in $(seq 100); do curl -fs http://127.0.0.1:$AP/health >/dev/null && break; sleep 0.1; done
for c in 50 1; do
  target/release/wa-agent-bench turns --url http://127.0.0.1:$AP --llm-addr 127.0.0.1:$LP --waha-addr 127.0.0.1:$WP --chats $c --turns 200 --hmac-key k --max-seconds 60 --think-ms ${THINK:-0} | grep -v RESULT
done
[ -n "${PERF:-}" ] && kill -INT $PERFPID && sleep 2; kill $APID; redis-cli -p $RP shutdown nosave >/dev/null 2>&1; rm -rf $D
