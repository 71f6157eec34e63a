#!/usr/bin/env bash
# Benchmark (issues 5 and 6): the H2O group-by questions q1-q10 or join questions q1-q5
# (docs/architecture.md section 8), distributed on 2 local workers of 1 DuckDB thread each against
# single-process DuckDB with 2 threads (bench/duckdb_sql, the same libduckdb), over the same
# parquet files, in the same run. Whole-process times of the coordinator (`dux run
# --workers`) and of DuckDB, run in turn (bench/paired.py); the workers are started before each question's
# runs, so that their peak resident memory (VmHWM) is that question's. Bytes moved between
# processes come from the coordinator's telemetry (distributed.merge.stop: ipc_bytes to the
# coordinator plus exchanged_ipc_bytes worker to worker, and distributed.broadcast.stop).
# Each join question ends in a checksum (count, sum v1, sum v2), as H2O's scripts take one
# of every answer, so that neither engine spends its time printing millions of rows.
#
#   bench/h2o.sh [groupby|join] [ROWS] [RUNS]   (defaults: groupby, 10000000 rows, 5 runs
#                                                 after 1 warm-up)
#
# Prints a markdown table for BENCHMARKS.md. Needs a built tree and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=groupby
if [[ "${1:-}" == groupby || "${1:-}" == join ]]; then
  DATASET="$1"
  shift
fi
ROWS="${1:-10000000}"
RUNS="${2:-5}"
DATA="$PWD/bench/data/h2o-$DATASET-$ROWS-16"
DUX=build/dux
BASE=build/bench/duckdb_sql
source bench/data.sh
bench_data "$DATASET" "$ROWS" 16 "$DATA"

source bench/workers.sh

# name @ dux pipeline @ the SQL a DuckDB user would write
if [[ "$DATASET" == groupby ]]; then
  GLOB="$DATA/*.parquet"
  SRC="read_parquet('$GLOB')"
  FROM="from_parquet(\"$GLOB\") |>"
  QUESTIONS=(
    "q1@$FROM group_by(id1) |> summarise(v1: sum(v1))@SELECT id1, sum(v1) AS v1 FROM $SRC GROUP BY id1"
    "q2@$FROM group_by(id1, id2) |> summarise(v1: sum(v1))@SELECT id1, id2, sum(v1) AS v1 FROM $SRC GROUP BY id1, id2"
    "q3@$FROM group_by(id3) |> summarise(v1: sum(v1), v3: avg(v3))@SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM $SRC GROUP BY id3"
    "q4@$FROM group_by(id4) |> summarise(v1: avg(v1), v2: avg(v2), v3: avg(v3))@SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM $SRC GROUP BY id4"
    "q5@$FROM group_by(id6) |> summarise(v1: sum(v1), v2: sum(v2), v3: sum(v3))@SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM $SRC GROUP BY id6"
    "q6@$FROM group_by(id4, id5) |> summarise(median_v3: median(v3), sd_v3: stddev(v3))@SELECT id4, id5, median(v3) AS median_v3, stddev(v3) AS sd_v3 FROM $SRC GROUP BY id4, id5"
    "q7@$FROM group_by(id3) |> summarise(range_v1_v2: max(v1) - min(v2))@SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM $SRC GROUP BY id3"
    "q8@$FROM drop_nil(v3) |> group_by(id6) |> mutate(r: row_number() OVER (ORDER BY v3 DESC)) |> filter(r <= 2) |> ungroup() |> select(id6, v3)@SELECT id6, v3 FROM (SELECT id6, v3, row_number() OVER (PARTITION BY id6 ORDER BY v3 DESC) AS r FROM $SRC WHERE v3 IS NOT NULL) WHERE r <= 2"
    "q9@$FROM group_by(id2, id4) |> summarise(r2: pow(corr(v1, v2), 2))@SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM $SRC GROUP BY id2, id4"
    "q10@$FROM group_by(id1, id2, id3, id4, id5, id6) |> summarise(v3: sum(v3), count: count(*))@SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count FROM $SRC GROUP BY id1, id2, id3, id4, id5, id6"
  )
else
  table() { echo "read_parquet('$DATA/$1/*.parquet')"; }
  frame() { echo "from_parquet(\"$DATA/$1/*.parquet\")"; }
  SUM="summarise(n: count(*), v1: sum(v1), v2: sum(v2))"
  CHECK="SELECT count(*) AS n, sum(v1) AS v1, sum(v2) AS v2"
  QUESTIONS=(
    "q1@$(frame x) |> join($(frame small), on: id1) |> $SUM@$CHECK FROM $(table x) x JOIN $(table small) s ON x.id1 = s.id1"
    "q2@$(frame x) |> join($(frame medium), on: id2) |> $SUM@$CHECK FROM $(table x) x JOIN $(table medium) m ON x.id2 = m.id2"
    "q3@$(frame x) |> join($(frame medium), on: id2, how: left) |> $SUM@$CHECK FROM $(table x) x LEFT JOIN $(table medium) m ON x.id2 = m.id2"
    "q4@$(frame x) |> join($(frame medium), on: id5) |> $SUM@$CHECK FROM $(table x) x JOIN $(table medium) m ON x.id5 = m.id5"
    "q5@$(frame x) |> join($(frame big), on: id3) |> $SUM@$CHECK FROM $(table x) x JOIN $(table big) b ON x.id3 = b.id3"
  )
fi

echo "| question | DuckDB 2 threads (s) | dux on 2 workers (s) | dux / DuckDB | bytes moved | worker peak RSS (MB) | splitter rules |"
echo "|---|---|---|---|---|---|---|"
for q in "${QUESTIONS[@]}"; do
  IFS=@ read -r name pipeline sql <<<"$q"
  start_workers
  bench/paired.py --warmup 1 --runs "$RUNS" --export-json "$tmp/$name.json" \
    duckdb "$BASE --threads 2 \"$sql\"" \
    dux "$DUX run --workers $workers --threads 2 '$pipeline'"
  "$DUX" run --workers "$workers" --threads 2 --telemetry "$pipeline" 2>"$tmp/$name.events" >/dev/null
  rules="$("$DUX" explain --workers "$workers" "$pipeline" | sed -n 's/^-- splitter rules applied: //p')"
  stop_workers
  python3 - "$tmp/$name.json" "$tmp/$name.events" "$name" "$rules" "$peaks" <<'PY'
import json, sys
runs = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
# Bytes moved between processes: to the coordinator, worker to worker in an exchange, and
# broadcast to every worker.
events = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
moved = sum(e["measurements"]["ipc_bytes"] + e["measurements"].get("exchanged_ipc_bytes", 0)
            for e in events if e["event"] == "distributed.merge.stop")
moved += sum(e["measurements"]["bytes"] * e["measurements"]["n_workers"]
             for e in events if e["event"] == "distributed.broadcast.stop")
print(f"| {sys.argv[3]} | {runs['duckdb']:.3f} | {runs['dux']:.3f} | {runs['dux'] / runs['duckdb']:.2f} | {moved / 1e6:.3f} MB | {sys.argv[5]} | {sys.argv[4]} |")
PY
done
python3 - "$tmp" <<'PY'
import glob, json, math, sys
ratios = []
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    runs = {r["command"]: r["median"] for r in json.load(open(f))["results"]}
    ratios.append(runs["dux"] / runs["duckdb"])
print(f"| geometric mean | | | {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f} | | | |")
PY
