#!/usr/bin/env bash
# Where the intake's time goes: a CPU profile of wa-agent (ROLE=api, RUST_LOG=info, LOG_FORMAT=json, the
# log going to a file, as operators run it) under the signed WAHA ingest load of bench/run.sh. Run by
# hand, never in CI:
#
#   bench/profile.sh
#
# It needs `perf` (Debian: linux-perf; as root, or with kernel.perf_event_paranoid <= 1). It builds the
# release binaries, starts its own redis-server on a free port and wa-agent, loads it for
# PROFILE_SECONDS while `perf record` samples wa-agent at 999 Hz with DWARF call graphs, and writes the
# top frames into bench/RESULTS.md between the `profile:begin` and `profile:end` markers (bench/run.sh
# keeps that section when it rewrites the file). Raw reports stay in PROFILE_OUT (default
# target/profile/) for a closer look.
#
# Knobs (environment): PROFILE_SECONDS (10), CONNECTIONS (64), TOP (25); BIN_DIR=dir profiles the
# binaries in dir instead of building them (BIN_REV names their commit).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE_SECONDS=${PROFILE_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-64}
TOP=${TOP:-25}
PROFILE_OUT=${PROFILE_OUT:-target/profile}
HMAC_KEY=bench-hmac-key

for tool in cargo perf redis-server redis-cli curl python3; do
    command -v "$tool" >/dev/null || { echo "bench/profile.sh needs $tool" >&2; exit 1; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ -n "${BIN_DIR:-}" ]; then
    AGENT=$BIN_DIR/wa-agent
    BENCH=$BIN_DIR/wa-agent-bench
else
    echo "==> building release binaries (wa-agent, wa-agent-bench)"
    cargo build --release --locked -p wa-agent -p wa-agent-bench
    AGENT=target/release/wa-agent
    BENCH=target/release/wa-agent-bench
fi
mkdir -p "$PROFILE_OUT"

RP=$(free_port)
redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --dir "$WORK" --logfile "$WORK/redis.log" &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done

AP=$(free_port)
env -i PATH="$PATH" LISTEN_ADDR="127.0.0.1:$AP" REDIS_URL="redis://127.0.0.1:$RP" ROLE=api \
    WAHA_WEBHOOK_HMAC_KEY="$HMAC_KEY" LOG_FORMAT=json RUST_LOG=info REDIS_KEY_PREFIX=profile: \
    "$AGENT" >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=($AGENT_PID)
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$AP/health" 2>/dev/null && break; sleep 0.1; done

echo "==> warming up (2 s), then $PROFILE_SECONDS s of load while perf samples wa-agent"
"$BENCH" ingest --url "http://127.0.0.1:$AP/webhooks/waha" --connections "$CONNECTIONS" --seconds 2 \
    --hmac-key "$HMAC_KEY" >/dev/null
"$BENCH" ingest --url "http://127.0.0.1:$AP/webhooks/waha" --connections "$CONNECTIONS" \
    --seconds "$((PROFILE_SECONDS + 2))" --hmac-key "$HMAC_KEY" >"$WORK/ingest.txt" &
LOAD_PID=$!
PIDS+=($LOAD_PID)
sleep 1
perf record -F 999 -g --call-graph dwarf,16384 -p "$AGENT_PID" -o "$PROFILE_OUT/perf.data" \
    -- sleep "$PROFILE_SECONDS" 2>"$WORK/perf-record.log"
wait "$LOAD_PID" || true

echo "==> reporting"
perf report -i "$PROFILE_OUT/perf.data" --no-children --sort symbol --stdio -g none --percent-limit 0.3 \
    2>/dev/null >"$PROFILE_OUT/self.txt"
perf report -i "$PROFILE_OUT/perf.data" --children --sort symbol --stdio --percent-limit 1 -g none \
    2>/dev/null >"$PROFILE_OUT/children.txt"

export PROFILE_OUT TOP WORK CONNECTIONS PROFILE_SECONDS
export GIT_REV=${BIN_REV:-}
[ -n "$GIT_REV" ] || GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo "+changes")
export RUN_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
python3 - >"$WORK/section.md" <<'PY'
import json, os, re

out, top = os.environ["PROFILE_OUT"], int(os.environ["TOP"])

def rows(path):
    found = []
    for line in open(path, errors="replace"):
        # `  12.3%  [.] symbol` (self) or `  45.6%   0.8%  [.] symbol` (with callees, then self);
        # perf may pad the symbol and add IPC columns (`-  -`) after it.
        m = re.match(r"\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?\[[.k]\]\s+(.*?)(?:\s+-\s+-)?\s*$", line)
        if m:
            found.append((float(m.group(1)), m.group(2), m.group(3).strip()))
    return found

def short(symbol):
    symbol = re.sub(r"::h[0-9a-f]{16}$", "", symbol)
    return symbol if len(symbol) <= 110 else symbol[:107] + "…"

load = {}
for line in open(os.path.join(os.environ["WORK"], "ingest.txt")):
    if line.startswith("RESULT "):
        load = json.loads(line[len("RESULT "):])

print("<!-- profile:begin (written by bench/profile.sh) -->")
print("## Where the intake's time goes (CPU profile)\n")
print(f"`bench/profile.sh` (PROFILE_SECONDS={os.environ['PROFILE_SECONDS']} CONNECTIONS={os.environ['CONNECTIONS']}) on wa-agent {os.environ['GIT_REV']}, {os.environ['RUN_DATE']}:")
print("`perf record -F 999 -g --call-graph dwarf` of wa-agent (`ROLE=api`, `RUST_LOG=info`, `LOG_FORMAT=json`, log to")
print(f"a file) under signed WAHA ingest ({load.get('rps', 0):.0f} req/s, p99 {load.get('p99_ms', '?')} ms while sampled).\n")
print(f"Top {top} functions by their own time (share of wa-agent's samples):\n")
print("| self | function |")
print("|---|---|")
for share, _, symbol in rows(os.path.join(out, "self.txt"))[:top]:
    print(f"| {share:.1f} % | `{short(symbol)}` |")
print()
inclusive = [r for r in rows(os.path.join(out, "children.txt")) if "wa_agent" in r[2] or "tracing" in r[2] or "serde_json" in r[2] or "fred" in r[2] or "hmac" in r[2] or "sha2" in r[2]]
print(f"Functions of the intake's own path and its crates, by time spent in them and what they call:\n")
print("| with callees | function |")
print("|---|---|")
for share, _, symbol in inclusive[:top]:
    print(f"| {share:.1f} % | `{short(symbol)}` |")
print("<!-- profile:end -->")
PY
# Replace the section in RESULTS.md (or append it).
python3 - "$WORK/section.md" <<'PY'
import re, sys
section = open(sys.argv[1]).read().strip()
path = "bench/RESULTS.md"
text = open(path).read()
pattern = re.compile(r"<!-- profile:begin.*?<!-- profile:end -->", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
cat "$WORK/section.md"
echo "==> wrote the profile section of bench/RESULTS.md (raw reports in $PROFILE_OUT)"
