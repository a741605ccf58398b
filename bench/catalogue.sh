#!/usr/bin/env bash
# Catalogue search benchmark (run by hand, never in CI): builds wa-agent-bench in release, runs
# `wa-agent-bench catalogue` (search_catalogue calls on a generated 10,000-row CSV of cars, in process:
# no server, no Redis) and writes its figures into the "Catalogue search" section of bench/RESULTS.md,
# between the catalogue markers; bench/run.sh keeps that section when it rewrites the file.
#
# Knobs (environment): ROWS (10000), ITERATIONS (2000 calls per query).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-10000}
ITERATIONS=${ITERATIONS:-2000}
COMMAND="bench/catalogue.sh (ROWS=$ROWS ITERATIONS=$ITERATIONS)"

cargo build --release --locked -q -p wa-agent-bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
target/release/wa-agent-bench catalogue --rows "$ROWS" --iterations "$ITERATIONS" | tee "$WORK/out.txt"

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
    "<!-- catalogue:begin (written by bench/catalogue.sh) -->",
    "## Catalogue search",
    "",
    f"- date: {os.environ['RUN_DATE']}; machine: {os.environ['MACHINE']}; wa-agent {os.environ['GIT_REV']}, {os.environ['RUSTC_VERSION']}",
    f"- command: `{os.environ['COMMAND']}`",
    f"- load average before: {os.environ['LOAD_BEFORE']}; after: {os.environ['LOAD_AFTER']} (other work on the machine skews the figures)",
    "",
    f"`search_catalogue` through `Catalogue::run_tool` (argument parsing, filters, matching, the compact JSON",
    f"result) on a generated CSV of {result['rows']} cars (make, model with gearbox, year, price, km, fuel, colour,",
    f"location), in process, {result['iterations']} calls per query. Loading the file took {result['load_ms']} ms.",
    "",
    "| query | matches | mean µs | p50 µs | p99 µs | max µs |",
    "|---|---|---|---|---|---|",
]
for q in result["queries"]:
    lines.append(f"| {q['query']} | {q['matches']} | {q['mean_us']} | {q['p50_us']} | {q['p99_us']} | {q['max_us']} |")
lines.append(f"| **all {result['calls']} calls** | | {result['mean_us']} | {result['p50_us']} | {result['p99_us']} | {result['max_us']} |")
lines += ["", "Target: well under 1 ms (1000 µs) per search over 10,000 rows.", "<!-- catalogue:end -->"]
section = "\n".join(lines)

path = "bench/RESULTS.md"
text = open(path).read() if os.path.exists(path) else "# wa-agent benchmark results\n"
pattern = re.compile(r"<!-- catalogue:begin.*?<!-- catalogue:end -->", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text.rstrip("\n") + "\n")
PY
echo "==> wrote the catalogue section of bench/RESULTS.md"
