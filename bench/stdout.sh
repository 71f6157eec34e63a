#!/usr/bin/env bash
# Benchmark (issue 24): `dux run --format csv` of the H2O group-by table (docs/architecture.md section 8,
# 16 parquet files) to stdout, read through a pipe, against DuckDB's own
# `COPY (...) TO '/dev/stdout' (FORMAT csv, HEADER true)` (bench/duckdb_sql, the same
# libduckdb, 2 threads) in the same run, run in turn (bench/stdout_timing.py): time to the
# first byte and total time, medians. Locally dux runs with 2 threads; distributed on 2 local
# workers of 1 DuckDB thread each (the gather streams the batches to the writer).
#
#   bench/stdout.sh [ROWS] [RUNS]    (defaults: 10000000 rows, 5 runs after 1 warm-up)
#
# Prints a markdown table for BENCHMARKS.md. Needs a built tree and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
RUNS="${2:-5}"
DATA="bench/data/h2o-groupby-$ROWS-16"
DUX=build/dux
BASE=build/bench/duckdb_sql
source bench/data.sh
bench_data groupby "$ROWS" 16 "$DATA"
DATA="$(cd "$DATA" && pwd)"
GLOB="$DATA/*.parquet"

source bench/workers.sh
start_workers

SQL="COPY (SELECT * FROM read_parquet('$GLOB')) TO '/dev/stdout' (FORMAT csv, HEADER true)"
PIPELINE="from_parquet(\"$GLOB\")"

echo "| run | DuckDB first byte (s) | dux first byte (s) | DuckDB total (s) | dux total (s) | dux / DuckDB total | bytes |"
echo "|---|---|---|---|---|---|---|"
for mode in local distributed; do
  where=(--threads 2)
  [[ "$mode" == distributed ]] && where=(--workers "$workers" --threads 2)
  python3 bench/stdout_timing.py --warmup 1 --runs "$RUNS" --name "$mode" \
    -- "$BASE" --threads 2 --statement "$SQL" \
    -- "$DUX" run "${where[@]}" --format csv "$PIPELINE"
done
