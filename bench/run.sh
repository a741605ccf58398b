#!/usr/bin/env bash
# Measures wa-agent on this machine and writes bench/RESULTS.md. Run by hand, never in CI:
#
#   bench/run.sh
#
# It builds release binaries, starts its own redis-server (AOF everysec, as production should run it)
# on a free port, a bare-axum ceiling server and wa-agent, then runs side by side: signed WAHA ingest
# against wa-agent at RUST_LOG=info and at warn (LOG_FORMAT=json, logs to a file) and against the
# ceiling, in ROUNDS alternating rounds (the median of the rounds' ratios is reported), redis-benchmark of the
# accept script, the turn overhead with instant fake LLM and WAHA, wa-agent's RSS during ingest, and
# Redis bytes per chat. During the ingest rounds it also splits each request's share of the CPUs
# between wa-agent (or the ceiling), Redis (and its time in the accept script), the generator and idle,
# which shows what the 45 % target leaves wa-agent. Everything binds to 127.0.0.1, every load is bounded
# in time, and everything it started is stopped when it exits.
#
# To compare builds: BIN_DIR=dir uses the wa-agent and wa-agent-bench binaries in dir instead of
# building them, INGEST_ONLY=1 runs the ingest rounds alone (no turns, memory or intent sections), and
# RESULTS=file writes the report there instead of bench/RESULTS.md (BIN_REV names the binaries' commit).
#
# Knobs (environment): ROUNDS (5), INGEST_SECONDS (5), CONNECTIONS (64), TURN_CHATS (50), TURNS (200),
# MEMORY_CHATS (200), REDIS_BENCH_REQUESTS (200000).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
INGEST_SECONDS=${INGEST_SECONDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
TURN_CHATS=${TURN_CHATS:-50}
TURNS=${TURNS:-200}
TURN_THINK_MS=${TURN_THINK_MS:-250}
MEMORY_CHATS=${MEMORY_CHATS:-200}
REDIS_BENCH_REQUESTS=${REDIS_BENCH_REQUESTS:-200000}
HMAC_KEY=bench-hmac-key
COMMAND="bench/run.sh (ROUNDS=$ROUNDS INGEST_SECONDS=$INGEST_SECONDS CONNECTIONS=$CONNECTIONS TURN_CHATS=$TURN_CHATS TURNS=$TURNS TURN_THINK_MS=$TURN_THINK_MS MEMORY_CHATS=$MEMORY_CHATS REDIS_BENCH_REQUESTS=$REDIS_BENCH_REQUESTS)"

for tool in cargo redis-server redis-cli redis-benchmark curl python3; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool" >&2; exit 1; }
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

cpu_ticks() { # PID: user + system CPU time in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

idle_ticks() { # idle + iowait clock ticks of the whole machine
    awk '/^cpu / {print $5 + $6}' /proc/stat
}

evalsha_usec() { # total microseconds Redis spent running EVALSHA since the last CONFIG RESETSTAT
    redis-cli -p "$RP" INFO commandstats | tr -d '\r' | awk -F'[=,]' '/^cmdstat_evalsha:/ {print $4}' | grep . || echo 0
}

wait_for() { # URL: until it answers 2xx, at most 10 s
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not come up" >&2
    return 1
}

# RSS sampler: max VmRSS (kB) every 100 ms and the final VmHWM, until STOPFILE exists (at most 300 s).
sample_rss() { # PID OUT STOPFILE
    local pid=$1 out=$2 stop=$3 max=0 hwm=0 v
    for _ in $(seq 3000); do
        [ -e "$stop" ] && break
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$max" ] && max=$v
        hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "$hwm")
        sleep 0.1
    done
    echo "{\"rss_max_kib\": $max, \"hwm_kib\": ${hwm:-0}}" >"$out"
}

RESULTS=${RESULTS:-bench/RESULTS.md}
if [ -n "${BIN_DIR:-}" ]; then
    AGENT=$BIN_DIR/wa-agent
    BENCH=$BIN_DIR/wa-agent-bench
    COMMAND="BIN_DIR=$BIN_DIR $COMMAND"
else
    echo "==> building release binaries (wa-agent, wa-agent-bench)"
    cargo build --release --locked -p wa-agent -p wa-agent-bench
    AGENT=target/release/wa-agent
    BENCH=target/release/wa-agent-bench
fi
if [ -n "${INGEST_ONLY:-}" ]; then COMMAND="INGEST_ONLY=1 $COMMAND"; fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

RP=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --dir "$WORK/redis" --logfile "$WORK/redis.log" &
REDIS_PID=$!
PIDS+=($REDIS_PID)
for _ in $(seq 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS="redis://127.0.0.1:$RP"
echo "==> redis-server on $REDIS (AOF everysec)"

CP=$(free_port)
"$BENCH" ceiling --addr "127.0.0.1:$CP" --max-seconds 900 >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!
PIDS+=($CEILING_PID)

start_agent() { # PORT LOG then env assignments
    local port=$1 log=$2
    shift 2
    env -i PATH="$PATH" LISTEN_ADDR="127.0.0.1:$port" REDIS_URL="$REDIS" WAHA_WEBHOOK_HMAC_KEY="$HMAC_KEY" \
        LOG_FORMAT=json RUST_LOG=info "$@" "$AGENT" >"$log" 2>&1 &
    AGENT_PID=$!
    PIDS+=($AGENT_PID)
    wait_for "http://127.0.0.1:$port/health"
}

# --- ingest: wa-agent (intake only, ROLE=api) against the ceiling, in alternating rounds --------------
# Two intake-only instances, as operators run them (`LOG_FORMAT=json`, the log going to a file): one at
# RUST_LOG=info, one at RUST_LOG=warn, so the cost of logging is a figure of its own. Each round runs
# info, then the bare axum ceiling, then warn, back to back; each instance's ratio is taken within its
# round (the machine's state drifts between rounds) and the report gives the median of the ratios.
AP=$(free_port)
start_agent "$AP" "$WORK/agent-ingest-info.log" RUST_LOG=info ROLE=api REDIS_KEY_PREFIX=bench-ingest:
INFO_PID=$AGENT_PID
AW=$(free_port)
start_agent "$AW" "$WORK/agent-ingest-warn.log" RUST_LOG=warn ROLE=api REDIS_KEY_PREFIX=bench-ingest-warn:
WARN_PID=$AGENT_PID
wait_for "http://127.0.0.1:$CP/webhooks/waha" 2>/dev/null || true
sample_rss "$INFO_PID" "$WORK/rss-ingest.json" "$WORK/stop-rss-ingest" &
PIDS+=($!)
ingest() { # URL OUT
    timeout 120 "$BENCH" ingest --url "$1" --connections "$CONNECTIONS" --seconds "$INGEST_SECONDS" \
        --hmac-key "$HMAC_KEY" | tee -a "$2"
}
INFO_TICKS=0
REDIS_TICKS=0
INFO_IDLE=0
EVALSHA_USEC=0
CEILING_TICKS=0
CEILING_IDLE=0
for round in $(seq "$ROUNDS"); do
    redis-cli -p "$RP" FLUSHALL >/dev/null
    echo "==> ingest round $round/$ROUNDS: wa-agent at RUST_LOG=info"
    redis-cli -p "$RP" CONFIG RESETSTAT >/dev/null
    a0=$(cpu_ticks "$INFO_PID"); r0=$(cpu_ticks "$REDIS_PID"); i0=$(idle_ticks)
    ingest "http://127.0.0.1:$AP/webhooks/waha" "$WORK/ingest-agent.txt"
    INFO_TICKS=$(( INFO_TICKS + $(cpu_ticks "$INFO_PID") - a0 ))
    REDIS_TICKS=$(( REDIS_TICKS + $(cpu_ticks "$REDIS_PID") - r0 ))
    INFO_IDLE=$(( INFO_IDLE + $(idle_ticks) - i0 ))
    EVALSHA_USEC=$(( EVALSHA_USEC + $(evalsha_usec) ))
    echo "==> ingest round $round/$ROUNDS: bare axum ceiling"
    c0=$(cpu_ticks "$CEILING_PID"); i0=$(idle_ticks)
    ingest "http://127.0.0.1:$CP/webhooks/waha" "$WORK/ingest-ceiling.txt"
    CEILING_TICKS=$(( CEILING_TICKS + $(cpu_ticks "$CEILING_PID") - c0 ))
    CEILING_IDLE=$(( CEILING_IDLE + $(idle_ticks) - i0 ))
    redis-cli -p "$RP" FLUSHALL >/dev/null
    echo "==> ingest round $round/$ROUNDS: wa-agent at RUST_LOG=warn"
    ingest "http://127.0.0.1:$AW/webhooks/waha" "$WORK/ingest-warn.txt"
done
touch "$WORK/stop-rss-ingest"
# CPU spent by the info instance and Redis over the info rounds only.
echo "{\"agent_ticks\": $INFO_TICKS, \"redis_ticks\": $REDIS_TICKS, \"idle_ticks\": $INFO_IDLE, \"evalsha_usec\": $EVALSHA_USEC, \"ceiling_ticks\": $CEILING_TICKS, \"ceiling_idle_ticks\": $CEILING_IDLE, \"hz\": $(getconf CLK_TCK)}" >"$WORK/cpu-ingest.json"
wc -c <"$WORK/agent-ingest-info.log" >"$WORK/info-log-bytes.txt"
sleep 0.3
for pid in "$INFO_PID" "$WARN_PID"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done

if [ -z "${INGEST_ONLY:-}" ]; then
# --- the accept script alone, through redis-benchmark ------------------------------------------------
redis-cli -p "$RP" FLUSHALL >/dev/null
ACCEPT_LUA=$(awk '/^const ACCEPT_LUA: &str = r#"/ {f = 1; next} f && /^"#;/ {exit} f' src/store/redis/scripts.rs)
SHA=$(redis-cli -p "$RP" SCRIPT LOAD "$ACCEPT_LUA")
ENVELOPE='{"accepted_ms":1784016891694,"event":{"kind":"customer","gateway":"waha","chat_id":"31641238876@c.us","message_id":"A5C1E0F7B2D94C6E8A13F0B7D2E95C41","text":"Hallo, is de auto nog beschikbaar?","sender_name":"Bench Customer","timestamp":1784016891}}'
echo "==> redis-benchmark: EVALSHA accept ($REDIS_BENCH_REQUESTS requests, 64 clients, random keys)"
timeout 300 redis-benchmark -p "$RP" -n "$REDIS_BENCH_REQUESTS" -c 64 -r 100000000 -q \
    EVALSHA "$SHA" 3 d:__rand_int__ i:__rand_int__ w 86400 "$ENVELOPE" c 1000000 \
    | tr '\r' '\n' | grep 'requests per second' | tail -1 | tee "$WORK/redis-bench.txt"

# --- turns and memory: a full wa-agent (ROLE=all) on instant fakes ------------------------------------
redis-cli -p "$RP" FLUSHALL >/dev/null
AP2=$(free_port)
LP=$(free_port)
WP=$(free_port)
start_agent "$AP2" "$WORK/agent-turns.log" ROLE=all REDIS_KEY_PREFIX=bench: DEBOUNCE_MS=0 HISTORY_WINDOW=20 \
    LLM_BASE_URL="http://127.0.0.1:$LP" LLM_MODEL=bench WAHA_BASE_URL="http://127.0.0.1:$WP" WAHA_API_KEY=bench
TURNS_PID=$AGENT_PID
sample_rss "$TURNS_PID" "$WORK/rss-turns.json" "$WORK/stop-rss-turns" &
PIDS+=($!)
echo "==> turn overhead: $TURNS turns over $TURN_CHATS chats, customers pausing ~${TURN_THINK_MS} ms between turns"
timeout 180 "$BENCH" turns --url "http://127.0.0.1:$AP2" --llm-addr "127.0.0.1:$LP" --waha-addr "127.0.0.1:$WP" \
    --chats "$TURN_CHATS" --turns "$TURNS" --hmac-key "$HMAC_KEY" --max-seconds 120 --think-ms "$TURN_THINK_MS" \
    | tee "$WORK/turns.txt"
echo "==> saturation: the same $TURNS turns with no pause (every chat a closed loop)"
timeout 180 "$BENCH" turns --url "http://127.0.0.1:$AP2" --llm-addr "127.0.0.1:$LP" --waha-addr "127.0.0.1:$WP" \
    --chats "$TURN_CHATS" --turns "$TURNS" --hmac-key "$HMAC_KEY" --max-seconds 120 | tee "$WORK/turns-sat.txt"
echo "==> turn overhead, one chat at a time: 100 turns (the path alone, no queueing behind other chats)"
timeout 180 "$BENCH" turns --url "http://127.0.0.1:$AP2" --llm-addr "127.0.0.1:$LP" --waha-addr "127.0.0.1:$WP" \
    --chats 1 --turns 100 --hmac-key "$HMAC_KEY" --max-seconds 120 | tee "$WORK/turns-seq.txt"
# No FLUSHALL here: it would drop the work stream's consumer group under the running wa-agent. The
# memory figures are a before/after delta and the keys of the memory run's own chats.
echo "==> Redis bytes per chat: $MEMORY_CHATS chats, window 20, 200-byte messages"
timeout 400 "$BENCH" memory --url "http://127.0.0.1:$AP2" --redis "$REDIS" --prefix bench: \
    --llm-addr "127.0.0.1:$LP" --waha-addr "127.0.0.1:$WP" --chats "$MEMORY_CHATS" --window 20 \
    --message-bytes 200 --hmac-key "$HMAC_KEY" | tee "$WORK/memory.txt"
touch "$WORK/stop-rss-turns"
sleep 0.3
fi

# --- the report ------------------------------------------------------------------------------------
export WORK COMMAND ROUNDS LOAD_BEFORE INGEST_SECONDS
export INGEST_ONLY=${INGEST_ONLY:-}
export LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
export MACHINE_CPUS=$(nproc)
export MACHINE_CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
export MACHINE_MEM=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
export RUN_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export GIT_REV=${BIN_REV:-}
[ -n "$GIT_REV" ] || GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo "+changes")
export REDIS_VERSION=$(redis-server --version | awk '{print $3}' | sed 's/v=//')
export RUSTC_VERSION=$(rustc --version)
# bench/catalogue.sh owns the catalogue section of RESULTS.md: keep it across this rewrite.
CATALOGUE_SECTION=$(sed -n '/<!-- catalogue:begin/,/<!-- catalogue:end -->/p' bench/RESULTS.md 2>/dev/null || true)
# bench/toolloop.sh owns the tool loop section the same way.
TOOLLOOP_SECTION=$(sed -n '/<!-- toolloop:begin/,/<!-- toolloop:end -->/p' bench/RESULTS.md 2>/dev/null || true)
# bench/profile.sh owns the CPU profile section the same way; the ingest before/after comparison is
# written by hand from INGEST_ONLY runs (it names their commands) and kept the same way.
PROFILE_SECTION=$(sed -n '/<!-- profile:begin/,/<!-- profile:end -->/p' bench/RESULTS.md 2>/dev/null || true)
COMPARE_SECTION=$(sed -n '/<!-- ingest-compare:begin/,/<!-- ingest-compare:end -->/p' bench/RESULTS.md 2>/dev/null || true)
python3 - >"$RESULTS.new" <<'PY'
import json, os, statistics

work = os.environ["WORK"]

def results(name):
    out = []
    path = os.path.join(work, name)
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("RESULT "):
                out.append(json.loads(line[len("RESULT "):]))
    return out

def load(name):
    path = os.path.join(work, name)
    return json.load(open(path)) if os.path.exists(path) else {}

agent, ceiling, warn = results("ingest-agent.txt"), results("ingest-ceiling.txt"), results("ingest-warn.txt")
turns = (results("turns.txt") or [{}])[0]
seq = (results("turns-seq.txt") or [{}])[0]
sat = (results("turns-sat.txt") or [{}])[0]
memory = (results("memory.txt") or [{}])[0]
rss_ingest, rss_turns = load("rss-ingest.json"), load("rss-turns.json")
cpu = load("cpu-ingest.json")
redis_bench = open(os.path.join(work, "redis-bench.txt")).read().strip() if os.path.exists(os.path.join(work, "redis-bench.txt")) else "not run"

def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else float("nan")

a_rps, c_rps, w_rps = med(agent, "rps"), med(ceiling, "rps"), med(warn, "rps")
def ratios(rows):
    return [a["rps"] / c["rps"] for a, c in zip(rows, ceiling) if c.get("rps")]
ratio = statistics.median(ratios(agent)) if ratios(agent) else float("nan")
w_ratio = statistics.median(ratios(warn)) if ratios(warn) else float("nan")
w_p99 = med(warn, "p99_ms")
w_non2xx = sum(r.get("non_2xx", 0) + r.get("errors", 0) for r in warn)
log_bytes = int(open(os.path.join(work, "info-log-bytes.txt")).read().strip() or 0) if os.path.exists(os.path.join(work, "info-log-bytes.txt")) else 0
a_p99 = med(agent, "p99_ms")
non2xx = sum(r.get("non_2xx", 0) + r.get("errors", 0) for r in agent)
rss_mib = max(rss_ingest.get("rss_max_kib", 0), rss_ingest.get("hwm_kib", 0)) / 1024
rss2_mib = max(rss_turns.get("rss_max_kib", 0), rss_turns.get("hwm_kib", 0)) / 1024
per_chat = memory.get("used_memory_delta_per_chat", float("nan"))
key_bytes = memory.get("key_bytes_per_chat", float("nan"))

def verdict(ok):
    return "met" if ok else "**missed**"

print("# wa-agent benchmark results\n")
print("Produced by `bench/run.sh`; do not edit by hand (run it again instead).\n")
print(f"- date: {os.environ['RUN_DATE']}")
print(f"- machine: {os.environ['MACHINE_CPUS']} CPUs ({os.environ['MACHINE_CPU']}), {os.environ['MACHINE_MEM']} RAM")
print(f"- software: wa-agent {os.environ['GIT_REV']}, {os.environ['RUSTC_VERSION']}, Redis {os.environ['REDIS_VERSION']} (AOF everysec)")
print(f"- command: `{os.environ['COMMAND']}`")
print(f"- load average (1, 5, 15 min) before measuring: {os.environ['LOAD_BEFORE']}; after: {os.environ['LOAD_AFTER']} (anything else running on the machine skews the figures)")
print("- everything (load generator, wa-agent, Redis, ceiling, fakes) shares the same CPUs: the figures are")
print("  relative to this machine, and the generator's own CPU use is part of them.\n")
print("## Against the targets\n")
print("| what | target | measured | |")
print("|---|---|---|---|")
print(f"| ingest vs bare axum at `RUST_LOG=info` (median of {len(agent)} rounds' ratios) | ≥ 45 % | {ratio*100:.1f} % ({a_rps:.0f} vs {c_rps:.0f} req/s, medians) | {verdict(ratio >= 0.45)} |")
print(f"| ingest non-2xx and errors at info | 0 | {non2xx} | {verdict(non2xx == 0)} |")
print(f"| ingest p99 at info, 64 connections (median of rounds) | ≤ 10 ms | {a_p99:.2f} ms | {verdict(a_p99 <= 10)} |")
print(f"| (for comparison) the same at `RUST_LOG=warn`: ratio, p99, non-2xx | | {w_ratio*100:.1f} % ({w_rps:.0f} req/s), {w_p99:.2f} ms, {w_non2xx} | |")
tp50, tp99 = turns.get("p50_ms", float("nan")), turns.get("p99_ms", float("nan"))
ingest_only = bool(os.environ.get("INGEST_ONLY"))
if not ingest_only:
    print(f"| turn overhead p50 | ≤ 3 ms | {tp50:.2f} ms | {verdict(tp50 <= 3)} |")
    print(f"| turn overhead p99 | ≤ 20 ms | {tp99:.2f} ms | {verdict(tp99 <= 20)} |")
    print(f"| (for comparison) one chat at a time, p50 / p99 | | {seq.get('p50_ms')} / {seq.get('p99_ms')} ms | |")
    print(f"| (for comparison) saturation: {sat.get('chats','?')} chats, no pause, p50 / p99 | | {sat.get('p50_ms')} / {sat.get('p99_ms')} ms | |")
print(f"| wa-agent RSS during ingest (max of VmRSS samples and VmHWM) | ≤ 64 MiB | {rss_mib:.1f} MiB | {verdict(rss_mib <= 64)} |")
if not ingest_only:
    print(f"| Redis per active chat (window 20, 200-byte messages): `used_memory` growth / chats | ≤ 8 KiB | {per_chat} B ({per_chat/1024:.1f} KiB) | {verdict(per_chat <= 8192)} |")
    print(f"| the same, as `MEMORY USAGE` of the chat's keys and its dedupe markers | ≤ 8 KiB | {key_bytes} B ({key_bytes/1024:.1f} KiB) | {verdict(key_bytes <= 8192)} |")
else:
    print("| (INGEST_ONLY: the turns, memory and accept-script sections were not run) | | | |")
print()
print("## Ingest, round by round\n")
print(f"Signed WAHA `message` webhooks (HMAC-SHA512, ~1.2 KB), every id new, spread over 10 000 chats; {agent[0]['connections'] if agent else '?'} connections,")
print("each a worker sending back to back. wa-agent runs `ROLE=api` (intake only: verify, parse, accept script")
print("into Redis, 200), `LOG_FORMAT=json`, its log written to a file; the ceiling is a bare axum route that")
print("reads the body. Each round runs wa-agent at `RUST_LOG=info`, the ceiling, then wa-agent at `RUST_LOG=warn`,")
print(f"{os.environ.get('INGEST_SECONDS', '?')} s each; a ratio is taken within its round. The info instance wrote {log_bytes} bytes of log.\n")
print("| round | info req/s | p50 | p90 | p99 | max | non-2xx | errors | ceiling req/s | p50 | p99 | info ratio | warn req/s | warn p99 | warn ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for i, (a, c, w) in enumerate(zip(agent, ceiling, warn), 1):
    print(f"| {i} | {a['rps']:.0f} | {a['p50_ms']} | {a['p90_ms']} | {a['p99_ms']} | {a['max_ms']} | {a['non_2xx']} | {a['errors']} | {c['rps']:.0f} | {c['p50_ms']} | {c['p99_ms']} | {a['rps']/c['rps']*100:.1f} % | {w['rps']:.0f} | {w['p99_ms']} | {w['rps']/c['rps']*100:.1f} % |")
print(f"| median | {a_rps:.0f} | {med(agent,'p50_ms'):.3f} | {med(agent,'p90_ms'):.3f} | {a_p99:.3f} | {med(agent,'max_ms'):.3f} | | | {c_rps:.0f} | {med(ceiling,'p50_ms'):.3f} | {med(ceiling,'p99_ms'):.3f} | {ratio*100:.1f} % | {w_rps:.0f} | {w_p99:.3f} | {w_ratio*100:.1f} % |")
print()
if not ingest_only:
    print("## The accept script alone\n")
    print("`redis-benchmark -n REQUESTS -c 64 -r 100000000 EVALSHA <accept> 3 d:__rand_int__ i:__rand_int__ w 86400 <envelope> c 1000000`")
    print("(the script of `src/store/redis.rs`, loaded with SCRIPT LOAD; `-r` makes each dedupe and inbox key random):\n")
    print(f"    {redis_bench}\n")
    print("## Turn overhead\n")
    print(f"A full wa-agent (`ROLE=all`, `DEBOUNCE_MS=0`, `SEND_PRESENCE` default on) with an instant fake LLM and")
    print(f"fake WAHA in the bench process; {turns.get('chats','?')} chats side by side, each customer sending their next message")
    print(f"after a pause of 0 to 2 × {turns.get('think_ms','?')} ms once the previous reply arrived (chats start spread over one mean pause).")
    print(f"Webhook sent → reply received at the fake WAHA, {turns.get('turns','?')} turns:")
    print(f"p50 {tp50} ms, p90 {turns.get('p90_ms')} ms, p99 {tp99} ms, max {turns.get('max_ms')} ms.\n")
    print(f"Saturation, the same {sat.get('turns','?')} turns with no pause at all ({sat.get('chats','?')} closed loops, all starting at once):")
    print(f"p50 {sat.get('p50_ms')} ms, p90 {sat.get('p90_ms')} ms, p99 {sat.get('p99_ms')} ms in {sat.get('seconds')} s. Here latency is queueing:")
    print("by Little's law it is the number of chats waiting divided by the throughput, so this row measures turns per")
    print("second on this machine (wa-agent, Redis, the fakes and the generator on 2 cores), not the overhead of one turn.\n")
    print(f"The same path with one chat at a time ({seq.get('turns','?')} turns, nothing queued behind other chats): p50 {seq.get('p50_ms')} ms,")
    print(f"p90 {seq.get('p90_ms')} ms, p99 {seq.get('p99_ms')} ms, max {seq.get('max_ms')} ms.\n")
    print("## Memory\n")
    print(f"- wa-agent RSS during ingest: max VmRSS {rss_ingest.get('rss_max_kib',0)/1024:.1f} MiB, VmHWM {rss_ingest.get('hwm_kib',0)/1024:.1f} MiB.")
    print(f"- wa-agent (`ROLE=all`) RSS during turns and the memory run: max VmRSS {rss_turns.get('rss_max_kib',0)/1024:.1f} MiB, VmHWM {rss_turns.get('hwm_kib',0)/1024:.1f} MiB.")
    print(f"- Redis: {memory.get('chats','?')} chats each talked until its history held {memory.get('window','?')} entries of ~{memory.get('message_bytes','?')} bytes;")
    print(f"  `used_memory` grew by {per_chat} bytes per chat. `MEMORY USAGE` of one chat's own keys (mean of 20 chats):")
    print(f"  {key_bytes} bytes, by kind: {json.dumps(memory.get('key_bytes_by_kind', {}))}; histories full: {memory.get('sampled_histories_full')}.")
    print()
print("## Where the CPU went during ingest\n")
total_req = sum(r.get("requests", 0) for r in agent)
if cpu and total_req:
    hz = cpu["hz"]
    a_s, r_s = cpu["agent_ticks"] / hz, cpu["redis_ticks"] / hz
    secs = sum(r.get("seconds", 0) for r in agent)
    print(f"Over the {len(agent)} wa-agent rounds at info ({secs:.0f} s, {total_req} requests) wa-agent used {a_s:.1f} CPU-s")
    print(f"({a_s / secs * 100:.0f} % of one core on average, {a_s / total_req * 1e6:.0f} µs per webhook) and Redis {r_s:.1f} CPU-s")
    print(f"({r_s / secs * 100:.0f} % of a core, {r_s / total_req * 1e6:.0f} µs per webhook); the load generator had the rest of the")
    print(f"{os.environ['MACHINE_CPUS']} CPUs. Against the ceiling, only the generator and the bare server share them.\n")
    cpus = int(os.environ["MACHINE_CPUS"])
    c_req = sum(r.get("requests", 0) for r in ceiling)
    c_secs = sum(r.get("seconds", 0) for r in ceiling)
    per = lambda ticks, n: ticks / hz / n * 1e6
    if c_req and "ceiling_ticks" in cpu:
        a_us, r_us, i_us = per(cpu["agent_ticks"], total_req), per(cpu["redis_ticks"], total_req), per(cpu["idle_ticks"], total_req)
        wall_a = cpus * secs / total_req * 1e6
        c_us, ci_us = per(cpu["ceiling_ticks"], c_req), per(cpu["ceiling_idle_ticks"], c_req)
        wall_c = cpus * c_secs / c_req * 1e6
        g_a, g_c = wall_a - a_us - r_us - i_us, wall_c - c_us - ci_us
        e_us = cpu.get("evalsha_usec", 0) / total_req
        print("The budget per request, in CPU-µs of this machine's cores (a request's share of the "
              f"{cpus} CPUs' time, split by /proc/PID/stat and /proc/stat):\n")
        print("| | CPU-µs per request | server | Redis (of which running the accept script) | load generator and the rest | idle |")
        print("|---|---|---|---|---|---|")
        print(f"| wa-agent at info | {wall_a:.0f} | {a_us:.0f} | {r_us:.0f} ({e_us:.0f}) | {g_a:.0f} | {i_us:.0f} |")
        print(f"| bare axum ceiling | {wall_c:.0f} | {c_us:.0f} | 0 | {g_c:.0f} | {ci_us:.0f} |")
        need = wall_c / 0.45 - g_a - r_us - i_us
        print(f"\nAt 45 % of the ceiling a request may take {wall_c / 0.45:.0f} CPU-µs in all; with the generator, Redis and idle")
        print(f"as measured here that leaves wa-agent {need:.0f} µs per request (it used {a_us:.0f}; the bare server uses {c_us:.0f}).")
print()
print("## Warnings and errors wa-agent logged\n")
seen = {}
for name in sorted(os.listdir(work)):
    if name.startswith("agent-") and name.endswith(".log"):
        for line in open(os.path.join(work, name), errors="replace"):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("level") in ("WARN", "ERROR"):
                key = (name, ev.get("level"), ev.get("message") or ev.get("fields", {}).get("message", "?"))
                seen[key] = seen.get(key, 0) + 1
if not seen:
    print("None.")
for (name, level, msg), n in sorted(seen.items()):
    print(f"- {name}: {level} ×{n}: {msg}")
PY
mv "$RESULTS.new" "$RESULTS"
if [ -n "$CATALOGUE_SECTION" ]; then printf '\n%s\n' "$CATALOGUE_SECTION" >>"$RESULTS"; fi
if [ -n "$TOOLLOOP_SECTION" ]; then printf '\n%s\n' "$TOOLLOOP_SECTION" >>"$RESULTS"; fi
if [ -n "$PROFILE_SECTION" ]; then printf '\n%s\n' "$PROFILE_SECTION" >>"$RESULTS"; fi
if [ -n "$COMPARE_SECTION" ]; then printf '\n%s\n' "$COMPARE_SECTION" >>"$RESULTS"; fi
echo "==> wrote $RESULTS"
# The send-intent cost, measured on its own Redis, appended as its own section (full runs only).
if [ -z "${INGEST_ONLY:-}" ] && [ "$RESULTS" = bench/RESULTS.md ]; then bench/intent.sh; fi
cat "$RESULTS"
