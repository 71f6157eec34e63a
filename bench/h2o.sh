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
# of every answer, so that neither engine spends its time printing millions of rows
# (bench/h2o_questions.sh, which bench/s3.sh uses too).
#
#   bench/h2o.sh [--served] [groupby|join] [ROWS] [RUNS]   (defaults: groupby, 10000000 rows,
#                                                 5 runs after 1 warm-up)
#
# With --served (docs/serve.md): one `dux serve` on the 2 workers, started once for every
# question, and three commands per question in turn: DuckDB, `dux run --workers` (a process
# per query, as above) and `dux run --server` (the thin client; the server's caches are warm
# after the warm-up run). The table then has both ratios and the server's CPU per run.
#
# H2O_ONLY="q3 q5 q10" runs only those questions. DUX_BEFORE=path/to/other/dux also times
# that binary, in the same rounds (a change measured before and after in one run), in a
# column of its own: as the coordinator of 2 workers of its own (so that a change on either
# side is measured), or with --served as another client of the same server (this tree's).
#
# Prints a markdown table for BENCHMARKS.md. Needs a built tree and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVED=0
if [[ "${1:-}" == --served ]]; then
  SERVED=1
  shift
fi
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
source bench/h2o_questions.sh
h2o_questions "$DATASET" "$DATA"

if [[ $SERVED == 1 ]]; then
  start_workers
  "$DUX" serve --listen 127.0.0.1:0 --workers "$workers" --threads 2 >"$tmp/serve.out" &
  server_pid=$!
  pids+=("$server_pid")
  server="$(listening_address "$tmp/serve.out")"
  # DUX_BEFORE here times that binary as the client (`run --server`), on the same server.
  if [[ -n "${DUX_BEFORE:-}" ]]; then
    echo "| question | DuckDB 2 threads (s) | dux run on 2 workers (s) | served, client before (s) | dux served (s) | run / DuckDB | served before / DuckDB | served / DuckDB | server CPU per run (s) |"
    echo "|---|---|---|---|---|---|---|---|---|"
  else
    echo "| question | DuckDB 2 threads (s) | dux run on 2 workers (s) | dux served (s) | run / DuckDB | served / DuckDB | server CPU per run (s) |"
    echo "|---|---|---|---|---|---|---|"
  fi
  for q in "${QUESTIONS[@]}"; do
    IFS=@ read -r name pipeline sql <<<"$q"
    if [[ -n "${H2O_ONLY:-}" && " $H2O_ONLY " != *" $name "* ]]; then continue; fi
    before=()
    [[ -n "${DUX_BEFORE:-}" ]] && before=(served_before "$DUX_BEFORE run --server $server '$pipeline'")
    bench/paired.py --warmup 1 --runs "$RUNS" --cpu-of "$server_pid" --export-json "$tmp/$name.json" \
      duckdb "$BASE --threads 2 \"$sql\"" \
      dux "$DUX run --workers $workers --threads 2 '$pipeline'" \
      "${before[@]}" \
      served "$DUX run --server $server '$pipeline'"
    python3 - "$tmp/$name.json" "$name" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
t = {name: r["median"] for name, r in results.items()}
before = (f"{t['served_before']:.3f} | ", f"{t['served_before'] / t['duckdb']:.2f} | ") \
    if "served_before" in t else ("", "")
print(f"| {sys.argv[2]} | {t['duckdb']:.3f} | {t['dux']:.3f} | {before[0]}{t['served']:.3f} | "
      f"{t['dux'] / t['duckdb']:.2f} | {before[1]}{t['served'] / t['duckdb']:.2f} | "
      f"{results['served']['cpu_of_pid']:.3f} |")
PY
  done
  python3 - "$tmp" <<'PY'
import glob, json, math, sys
ratios = {"dux": [], "served_before": [], "served": []}
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    runs = {r["command"]: r["median"] for r in json.load(open(f))["results"]}
    for name in ratios:
        if name in runs:
            ratios[name].append(runs[name] / runs["duckdb"])
mean = {n: math.exp(sum(map(math.log, r)) / len(r)) for n, r in ratios.items() if r}
if "served_before" in mean:
    print(f"| geometric mean | | | | | {mean['dux']:.2f} | {mean['served_before']:.2f} | "
          f"{mean['served']:.2f} | |")
else:
    print(f"| geometric mean | | | | {mean['dux']:.2f} | {mean['served']:.2f} | |")
PY
  exit 0
fi

BEFORE="${DUX_BEFORE:-}"
if [[ -n "$BEFORE" ]]; then
  echo "| question | DuckDB 2 threads (s) | dux before (s) | dux on 2 workers (s) | before / DuckDB | dux / DuckDB | bytes moved | worker peak RSS (MB) | splitter rules |"
  echo "|---|---|---|---|---|---|---|---|---|"
else
  echo "| question | DuckDB 2 threads (s) | dux on 2 workers (s) | dux / DuckDB | bytes moved | worker peak RSS (MB) | splitter rules |"
  echo "|---|---|---|---|---|---|---|"
fi
for q in "${QUESTIONS[@]}"; do
  IFS=@ read -r name pipeline sql <<<"$q"
  if [[ -n "${H2O_ONLY:-}" && " $H2O_ONLY " != *" $name "* ]]; then continue; fi
  before=()
  if [[ -n "$BEFORE" ]]; then
    # The binary before runs on workers of its own, so that a change on the workers' side is
    # measured before and after in the same run too.
    DUX="$BEFORE" start_workers
    before=(before "$BEFORE run --workers $workers --threads 2 '$pipeline'")
  fi
  ours_from=${#pids[@]}
  start_workers
  bench/paired.py --warmup 1 --runs "$RUNS" --export-json "$tmp/$name.json" \
    duckdb "$BASE --threads 2 \"$sql\"" \
    "${before[@]}" \
    dux "$DUX run --workers $workers --threads 2 '$pipeline'"
  "$DUX" run --workers "$workers" --threads 2 --telemetry "$pipeline" 2>"$tmp/$name.events" >/dev/null
  rules="$("$DUX" explain --workers "$workers" "$pipeline" | sed -n 's/^-- splitter rules applied: //p')"
  stop_workers "$ours_from"
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
if "before" in runs:
    print(f"| {sys.argv[3]} | {runs['duckdb']:.3f} | {runs['before']:.3f} | {runs['dux']:.3f} | {runs['before'] / runs['duckdb']:.2f} | {runs['dux'] / runs['duckdb']:.2f} | {moved / 1e6:.3f} MB | {sys.argv[5]} | {sys.argv[4]} |")
else:
    print(f"| {sys.argv[3]} | {runs['duckdb']:.3f} | {runs['dux']:.3f} | {runs['dux'] / runs['duckdb']:.2f} | {moved / 1e6:.3f} MB | {sys.argv[5]} | {sys.argv[4]} |")
PY
done
python3 - "$tmp" <<'PY'
import glob, json, math, sys
ratios = {"before": [], "dux": []}
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    runs = {r["command"]: r["median"] for r in json.load(open(f))["results"]}
    for name in ratios:
        if name in runs:
            ratios[name].append(runs[name] / runs["duckdb"])
mean = {n: math.exp(sum(map(math.log, r)) / len(r)) for n, r in ratios.items() if r}
if "before" in mean:
    print(f"| geometric mean | | | | {mean['before']:.2f} | {mean['dux']:.2f} | | | |")
else:
    print(f"| geometric mean | | | {mean['dux']:.2f} | | | |")
PY
