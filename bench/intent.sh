#!/usr/bin/env bash
# What send intents cost per turn (run by hand, never in CI): builds release binaries, starts its own
# redis-server (AOF everysec, as production should run it) on a free port, runs
# `wa-agent-bench intent` (a one-part reply's store calls with and without the intent, interleaved,
# ITERATIONS turns each) and writes its section of bench/RESULTS.md (replacing the previous one).
#
#   bench/intent.sh            # ITERATIONS=5000 CHATS=50
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=${ITERATIONS:-5000}
CHATS=${CHATS:-50}
for tool in cargo redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "bench/intent.sh needs $tool" >&2; exit 1; }
done
cargo build --release --locked -q -p wa-agent-bench
D=$(mktemp -d)
RP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir "$D" \
    --daemonize yes --pidfile "$D/redis.pid" --logfile "$D/redis.log"
trap 'redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$D"' EXIT
for _ in $(seq 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "==> send intents: $ITERATIONS turns with and without, over $CHATS chats, Redis on port $RP"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
timeout 600 target/release/wa-agent-bench intent --redis "redis://127.0.0.1:$RP" --iterations "$ITERATIONS" \
    --chats "$CHATS" | tee "$D/intent.txt"
export D LOAD_BEFORE LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
export COMMAND="bench/intent.sh (ITERATIONS=$ITERATIONS CHATS=$CHATS)"
export GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo "+changes")
export RUN_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export REDIS_VERSION=$(redis-server --version | awk '{print $3}' | sed 's/v=//')
python3 - <<'PY'
import json, os
r = next(json.loads(l[len("RESULT "):]) for l in open(os.path.join(os.environ["D"], "intent.txt")) if l.startswith("RESULT "))
w, wo, ops = r["with"], r["without"], r["intent_calls"]
section = f"""<!-- intent:begin (written by bench/intent.sh) -->
## Send intents: what they add per turn

`{os.environ['COMMAND']}` on wa-agent {os.environ['GIT_REV']}, {os.environ['RUN_DATE']}, Redis {os.environ['REDIS_VERSION']}
(AOF everysec) on a free local port; load average before {os.environ['LOAD_BEFORE']}, after {os.environ['LOAD_AFTER']}.
wa-agent's own Redis store, a turn replying with one part, {r['iterations']} turns of each kind interleaved over
{r['chats']} chats (history window 20; the first tenth of the turns warm up and are not counted):

| store calls of one turn | round trips | mean | p50 | p99 | max |
|---|---|---|---|---|---|
| without intents: read the inbox, commit | {r['round_trips_without']} | {wo['mean_us']} µs | {wo['p50_us']} µs | {wo['p99_us']} µs | {wo['max_us']} µs |
| with intents: the same + read the intent, record it, mark the part sent (the commit deletes it) | {r['round_trips_with']} | {w['mean_us']} µs | {w['p50_us']} µs | {w['p99_us']} µs | {w['max_us']} µs |
| the three intent calls alone | 3 | {ops['mean_us']} µs | {ops['p50_us']} µs | {ops['p99_us']} µs | {ops['max_us']} µs |

Added per turn: **{r['added_mean_us']} µs mean, {r['added_p99_us']} µs at p99** ({round(w['p50_us'] - wo['p50_us'], 2)} µs at p50; each further
reply part adds one round trip, the mark; a turn that sends nothing adds one, the read). The tail is
the machine's: both rows share it, and with a load average above the core count the p99 and max
measure scheduling, not Redis. The intent lives only between the send and the commit, so it adds no
Redis memory per chat at rest.
<!-- intent:end -->
"""
path = "bench/RESULTS.md"
text = open(path).read() if os.path.exists(path) else ""
begin, end = "<!-- intent:begin", "<!-- intent:end -->\n"
if begin in text and end in text:
    text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
PY
echo "==> wrote the send-intent section of bench/RESULTS.md"
