#!/usr/bin/env bash
# The per-turn cost of a voice note (run by hand, never in CI): builds release binaries, starts its own
# Redis on a free port and one wa-agent (ROLE=all, DEBOUNCE_MS=0, no Chatwoot) whose WAHA, transcriber
# and LLM are the bench's instant fakes, then runs `wa-agent-bench voice`: one chat alternating a text
# message and a VOICE_BYTES voice note (default 1 MiB), TURNS of each. The transcriber answers at once,
# so the difference between the two kinds is wa-agent's own cost of a voice note: download, multipart
# upload, and the transcript in history. Extra arguments are wa-agent settings.
set -u
cd "$(dirname "$0")/.."
cargo build --release -q -p wa-agent -p wa-agent-bench 2>&1 | tail -3
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(fp); AP=$(fp); LP=$(fp); WP=$(fp); D=$(mktemp -d)
redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir $D --daemonize yes --logfile $D/r.log
sleep 0.3
env -i PATH="$PATH" LISTEN_ADDR=127.0.0.1:$AP REDIS_URL=redis://127.0.0.1:$RP WAHA_WEBHOOK_HMAC_KEY=k LOG_FORMAT=json RUST_LOG=warn \
  ROLE=all REDIS_KEY_PREFIX=bench: DEBOUNCE_MS=0 HISTORY_WINDOW=20 LLM_BASE_URL=http://127.0.0.1:$LP LLM_MODEL=bench \
  WAHA_BASE_URL=http://127.0.0.1:$WP WAHA_API_KEY=bench TRANSCRIBE_BASE_URL=http://127.0.0.1:$WP/v1 \
  TRANSCRIBE_MODEL=whisper-1 SEND_PRESENCE=false "$@" target/release/wa-agent > $D/agent.log 2>&1 &
APID=$!
for _ in $(seq 100); do curl -fs http://127.0.0.1:$AP/health >/dev/null && break; sleep 0.1; done
target/release/wa-agent-bench voice --url http://127.0.0.1:$AP --llm-addr 127.0.0.1:$LP --waha-addr 127.0.0.1:$WP \
  --turns ${TURNS:-100} --voice-bytes ${VOICE_BYTES:-1048576} --hmac-key k --pid $APID
kill $APID; redis-cli -p $RP shutdown nosave >/dev/null 2>&1; rm -rf $D
