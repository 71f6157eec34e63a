#!/usr/bin/env bash
# Benchmark: `dux run` of H2O group-by questions over a parquet dataset versus the same
# query run directly through the same DuckDB library (bench/duckdb_sql), in the same run,
# both with the same thread count. Whole-process times from hyperfine; ratios dux/DuckDB.
#
#   bench/groupby_overhead.sh [ROWS] [THREADS]      (defaults: 10000000 rows, 2 threads)
#
# Prints a markdown table (medians of 15 runs after 2 warm-ups) for BENCHMARKS.md. Needs a built tree (scripts/setup.sh), hyperfine
# and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
THREADS="${2:-2}"
DATA="bench/data/groupby-$ROWS"
DUX=build/dux
BASE=build/bench/duckdb_sql
source bench/data.sh
bench_data groupby "$ROWS" 8 "$DATA"
GLOB="$DATA/*.parquet"
SRC="read_parquet('$GLOB')"

# name @ dux verbs @ the SQL a DuckDB user would write
QUESTIONS=(
  "q1@group_by(id1) |> summarise(v1: sum(v1))@SELECT id1, sum(v1) AS v1 FROM $SRC GROUP BY id1"
  "q2@group_by(id1, id2) |> summarise(v1: sum(v1))@SELECT id1, id2, sum(v1) AS v1 FROM $SRC GROUP BY id1, id2"
  "q3@group_by(id3) |> summarise(v1: sum(v1), v3: avg(v3))@SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM $SRC GROUP BY id3"
  "q4@group_by(id4) |> summarise(v1: avg(v1), v2: avg(v2), v3: avg(v3))@SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM $SRC GROUP BY id4"
  "q5@group_by(id6) |> summarise(v1: sum(v1), v2: sum(v2), v3: sum(v3))@SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM $SRC GROUP BY id6"
)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| question | DuckDB (s) | dux run (s) | dux / DuckDB |"
echo "|---|---|---|---|"
for q in "${QUESTIONS[@]}"; do
  IFS=@ read -r name verbs sql <<<"$q"
  pipeline="from_parquet(\"$GLOB\") |> $verbs"
  hyperfine -N --warmup 2 --runs 15 --export-json "$tmp/$name.json" \
    -n duckdb "$BASE --threads $THREADS \"$sql\"" \
    -n dux "$DUX run --threads $THREADS '$pipeline'" >/dev/null
  python3 - "$tmp/$name.json" "$name" <<'PY'
import json, sys
runs = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
print(f"| {sys.argv[2]} | {runs['duckdb']:.3f} | {runs['dux']:.3f} | {runs['dux'] / runs['duckdb']:.3f} |")
PY
done
python3 - "$tmp" <<'PY'
import glob, json, math, sys
ratios = []
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    runs = {r["command"]: r["median"] for r in json.load(open(f))["results"]}
    ratios.append(runs["dux"] / runs["duckdb"])
print(f"| geometric mean | | | {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f} |")
PY
