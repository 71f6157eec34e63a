#!/usr/bin/env bash
# Benchmark (issue 7): distributed parquet writes of the H2O group-by table (docs/architecture.md
# section 8; 16 parquet files written by `dux generate groupby`) on 2 local workers of 1
# DuckDB thread each, against single-process DuckDB with 2 threads (bench/duckdb_sql, the
# same libduckdb) running the COPY a DuckDB user would write, in the same run, reading the same
# files and writing to the same filesystem. Whole-process times of the coordinator
# (`dux run --workers`) and of DuckDB from hyperfine; the workers are started once, before the
# runs; the output is removed before every run.
#
#   bench/write.sh [ROWS] [RUNS]    (defaults: 10000000 rows, 5 runs after 1 warm-up)
#   DUX_BENCH_DATA=DIR bench/write.sh   reads the files of DIR instead of generating them
#
# Prints a markdown table for BENCHMARKS.md. Needs a built tree, hyperfine and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
RUNS="${2:-5}"
DATA="${DUX_BENCH_DATA:-bench/data/h2o-groupby-$ROWS-16}"
DUX=build/dux
BASE=build/bench/duckdb_sql
source bench/data.sh
bench_data groupby "$ROWS" 16 "$DATA"
DATA="$(cd "$DATA" && pwd)"
GLOB="$DATA/*.parquet"
SRC="read_parquet('$GLOB')"

source bench/workers.sh
start_workers
OUT="$tmp/out"

# name @ dux sink (into $OUT) @ DuckDB's COPY options (into $OUT) @ what dux does
CASES=(
  "directory@to_parquet(\"$OUT\")@$OUT.parquet' (FORMAT parquet)@each worker writes its part file"
  "partition_by id4@to_parquet(\"$OUT\", partition_by: id4)@$OUT' (FORMAT parquet, PARTITION_BY (id4))@each worker writes its files into 100 hive directories"
  "one file@to_parquet(\"$OUT.parquet\")@$OUT.parquet' (FORMAT parquet)@the rows are gathered and the coordinator writes"
)

echo "| write | DuckDB COPY, 2 threads (s) | dux on 2 workers (s) | dux / DuckDB | files (dux) | what dux does |"
echo "|---|---|---|---|---|---|"
n=0
for c in "${CASES[@]}"; do
  IFS=@ read -r name sink copy what <<<"$c"
  n=$((n + 1))
  pipeline="from_parquet(\"$GLOB\") |> $sink"
  sql="COPY (SELECT * FROM $SRC) TO '$copy"
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$tmp/case-$n.json" \
    --prepare "rm -rf $OUT $OUT.parquet" \
    -n duckdb "$BASE --threads 2 --statement \"$sql\"" \
    -n dux "$DUX run --workers $workers --threads 2 '$pipeline'" >/dev/null
  rm -rf "$OUT" "$OUT.parquet"
  files="$("$DUX" run --workers "$workers" --threads 2 "$pipeline" | sed -n 's/.* to \([0-9]*\) file.*/\1/p')"
  rm -rf "$OUT" "$OUT.parquet"
  python3 - "$tmp/case-$n.json" "$name" "$files" "$what" <<'PY'
import json, sys
runs = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
print(f"| {sys.argv[2]} | {runs['duckdb']:.3f} | {runs['dux']:.3f} | {runs['dux'] / runs['duckdb']:.2f} | {sys.argv[3]} | {sys.argv[4]} |")
PY
done
