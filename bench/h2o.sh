#!/usr/bin/env bash
# Benchmark (issue 5): the 10 H2O group-by questions (DESIGN.md section 8), distributed on 2
# local workers of 1 DuckDB thread each against single-process DuckDB with 2 threads
# (bench/duckdb_sql, the same libduckdb), over the same 16 parquet files, in the same run.
# Whole-process times of the coordinator (`dux run --workers`) and of DuckDB from hyperfine;
# the workers are started once, before the runs. Bytes moved between processes come from
# the coordinator's telemetry (distributed.merge.stop: ipc_bytes to the coordinator plus
# exchanged_ipc_bytes worker to worker).
#
#   bench/h2o.sh [ROWS] [RUNS]      (defaults: 10000000 rows, 5 runs after 1 warm-up)
#
# Prints a markdown table for BENCHMARKS.md. Needs a built tree, hyperfine and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
RUNS="${2:-5}"
DATA="bench/data/h2o-groupby-$ROWS-16"
DUX=build/dux
BASE=build/bench/duckdb_sql
if [[ ! -d "$DATA" ]]; then
  "$DUX" generate groupby --rows "$ROWS" --files 16 --out "$DATA" >&2
fi
GLOB="$PWD/$DATA/*.parquet"
SRC="read_parquet('$GLOB')"

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
workers=""
for i in 1 2; do
  "$DUX" worker --listen 127.0.0.1:0 --threads 1 >"$tmp/worker-$i.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$tmp/worker-$i.out" 2>/dev/null && break; sleep 0.1; done
  address="$(sed -n 's/^listening //p' "$tmp/worker-$i.out")"
  workers="${workers:+$workers,}$address"
done

# name @ dux verbs @ the SQL a DuckDB user would write
QUESTIONS=(
  "q1@group_by(id1) |> summarise(v1: sum(v1))@SELECT id1, sum(v1) AS v1 FROM $SRC GROUP BY id1"
  "q2@group_by(id1, id2) |> summarise(v1: sum(v1))@SELECT id1, id2, sum(v1) AS v1 FROM $SRC GROUP BY id1, id2"
  "q3@group_by(id3) |> summarise(v1: sum(v1), v3: avg(v3))@SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM $SRC GROUP BY id3"
  "q4@group_by(id4) |> summarise(v1: avg(v1), v2: avg(v2), v3: avg(v3))@SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM $SRC GROUP BY id4"
  "q5@group_by(id6) |> summarise(v1: sum(v1), v2: sum(v2), v3: sum(v3))@SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM $SRC GROUP BY id6"
  "q6@group_by(id4, id5) |> summarise(median_v3: median(v3), sd_v3: stddev(v3))@SELECT id4, id5, median(v3) AS median_v3, stddev(v3) AS sd_v3 FROM $SRC GROUP BY id4, id5"
  "q7@group_by(id3) |> summarise(range_v1_v2: max(v1) - min(v2))@SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM $SRC GROUP BY id3"
  "q8@drop_nil(v3) |> group_by(id6) |> mutate(r: row_number() OVER (ORDER BY v3 DESC)) |> filter(r <= 2) |> ungroup() |> select(id6, v3)@SELECT id6, v3 FROM (SELECT id6, v3, row_number() OVER (PARTITION BY id6 ORDER BY v3 DESC) AS r FROM $SRC WHERE v3 IS NOT NULL) WHERE r <= 2"
  "q9@group_by(id2, id4) |> summarise(r2: pow(corr(v1, v2), 2))@SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM $SRC GROUP BY id2, id4"
  "q10@group_by(id1, id2, id3, id4, id5, id6) |> summarise(v3: sum(v3), count: count(*))@SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count FROM $SRC GROUP BY id1, id2, id3, id4, id5, id6"
)

echo "| question | DuckDB 2 threads (s) | dux on 2 workers (s) | dux / DuckDB | bytes moved | splitter rules |"
echo "|---|---|---|---|---|---|"
for q in "${QUESTIONS[@]}"; do
  IFS=@ read -r name verbs sql <<<"$q"
  pipeline="from_parquet(\"$GLOB\") |> $verbs"
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$tmp/$name.json" \
    -n duckdb "$BASE --threads 2 \"$sql\"" \
    -n dux "$DUX run --workers $workers --threads 2 '$pipeline'" >/dev/null
  "$DUX" run --workers "$workers" --threads 2 --telemetry "$pipeline" 2>"$tmp/$name.events" >/dev/null
  rules="$("$DUX" explain --workers "$workers" "$pipeline" | sed -n 's/^-- splitter rules applied: //p')"
  python3 - "$tmp/$name.json" "$tmp/$name.events" "$name" "$rules" <<'PY'
import json, sys
runs = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
# Bytes moved between processes: to the coordinator, and worker to worker in an exchange.
moved = sum(json.loads(l)["measurements"]["ipc_bytes"]
            + json.loads(l)["measurements"].get("exchanged_ipc_bytes", 0)
            for l in open(sys.argv[2])
            if l.startswith("{") and json.loads(l)["event"] == "distributed.merge.stop")
print(f"| {sys.argv[3]} | {runs['duckdb']:.3f} | {runs['dux']:.3f} | {runs['dux'] / runs['duckdb']:.2f} | {moved / 1e6:.3f} MB | {sys.argv[4]} |")
PY
done
python3 - "$tmp" <<'PY'
import glob, json, math, sys
ratios = []
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    runs = {r["command"]: r["median"] for r in json.load(open(f))["results"]}
    ratios.append(runs["dux"] / runs["duckdb"])
print(f"| geometric mean | | | {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f} | | |")
PY
