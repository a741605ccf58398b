#!/usr/bin/env bash
# Tool-loop overhead benchmark (run by hand, never in CI): builds wa-agent-bench in release, runs
# `wa-agent-bench toolloop` (the tool loop with an instant in-process model and instant tools over a
# generated 10,000-row catalogue: no server, no Redis) and writes its figures into the "Tool loop" section
# of bench/RESULTS.md, between the toolloop markers; bench/run.sh keeps that section when it rewrites the file.
#
# Knobs (environment): ROWS (10000), ITERATIONS (2000 turns per scenario).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-10000}
ITERATIONS=${ITERATIONS:-2000}
COMMAND="bench/toolloop.sh (ROWS=$ROWS ITERATIONS=$ITERATIONS)"

cargo build --release --locked -q -p wa-agent-bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
target/release/wa-agent-bench toolloop --rows "$ROWS" --iterations "$ITERATIONS" | tee "$WORK/out.txt"

export WORK COMMAND LOAD_BEFORE
export LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
export MACHINE="$(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo))"
export RUN_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo "+changes")
export RUSTC_VERSION=$(rustc --version)
python3 - <<'PY'
import json, os, re

work = os.environ["WORK"]
result = next(json.loads(l[len("RESULT "):]) for l in open(os.path.join(work, "out.txt")) if l.startswith("RESULT "))
lines = [
    "<!-- toolloop:begin (written by bench/toolloop.sh) -->",
    "## Tool loop",
    "",
    f"- date: {os.environ['RUN_DATE']}; machine: {os.environ['MACHINE']}; wa-agent {os.environ['GIT_REV']}, {os.environ['RUSTC_VERSION']}",
    f"- command: `{os.environ['COMMAND']}`",
    f"- load average before: {os.environ['LOAD_BEFORE']}; after: {os.environ['LOAD_AFTER']} (other work on the machine skews the figures)",
    "",
    "What `agent::tool_loop::run` adds to a turn with an instant model and instant tools, in process: a",
    "20-entry history, the built-in tools and `search_catalogue` over a generated catalogue of",
    f"{result['rows']} cars, {result['iterations']} turns per scenario. Over HTTP each extra step also costs",
    "one model round trip (see the turn overhead above for one with the instant fake LLM).",
    "",
    "| scenario | mean µs | p50 µs | p99 µs | max µs |",
    "|---|---|---|---|---|",
]
for s in result["scenarios"]:
    lines.append(f"| {s['scenario']} | {s['mean_us']} | {s['p50_us']} | {s['p99_us']} | {s['max_us']} |")
lines.append("<!-- toolloop:end -->")
section = "\n".join(lines)

path = "bench/RESULTS.md"
text = open(path).read() if os.path.exists(path) else "# wa-agent benchmark results\n"
pattern = re.compile(r"<!-- toolloop:begin.*?<!-- toolloop:end -->", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text.rstrip("\n") + "\n")
PY
echo "==> wrote the tool loop section of bench/RESULTS.md"
