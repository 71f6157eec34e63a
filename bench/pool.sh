#!/usr/bin/env bash
# Benchmark (issue 19): how long `dux run --pool ADDR --workers-wanted 4` takes from an empty
# pool (every worker booted for it) and from a warm one (4 idle workers), per backend:
# - local: the pool's child processes;
# - command: a start template that launches the worker in the background with /bin/sh and
#   prints its pid (what an ssh template does, minus ssh);
# - slurm: sbatch jobs on a real single-node Slurm cluster started here (bench/slurm_cluster.sh;
#   root, Debian slurm-wlm and munge).
# Beside them, the same query on 4 workers started by hand (`dux run --workers`): what the
# query itself costs. The query: a group-by over 8 small parquet files (each of the 4 workers
# runs a share). Whole-process times of `dux run`, medians of RUNS; cold runs each get a fresh
# pool, warm runs one pool with --min 4 that has settled.
#
#   bench/pool.sh [RUNS]   (default 5; needs root for slurm, which is skipped otherwise)
#
# DUX names another binary than build/dux. Prints a markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
DUX="$(realpath "${DUX:-build/dux}")"
tmp="$(mktemp -d)"
pool_pid=""
worker_pids=()
source bench/slurm_cluster.sh
cleanup() {
  [[ -n "$pool_pid" ]] && kill "$pool_pid" 2>/dev/null && wait "$pool_pid" 2>/dev/null
  for p in "${worker_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_slurm
  rm -rf "$tmp"
}
trap cleanup EXIT

"$DUX" generate groupby --rows 400000 --files 8 --out "$tmp/data" >/dev/null
QUERY="from_parquet(\"$tmp/data/*.parquet\") |> group_by(id1) |> summarise(n: count(), v: sum(v1))"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m}'; }

# start_pool BACKEND_ARGS...: a pool on loopback; sets pool and pool_pid.
start_pool() {
  "$DUX" pool --threads 1 --heartbeat-ms 200 --idle-shutdown 600 --boot-timeout 120 \
    --state-dir "$tmp/state" "$@" >"$tmp/pool.out" 2>"$tmp/pool.err" &
  pool_pid=$!
  for _ in $(seq 100); do grep -q listening "$tmp/pool.out" 2>/dev/null && break; sleep 0.05; done
  pool="$(sed -n 's/^listening //p' "$tmp/pool.out")"
  [[ -n "$pool" ]] || { cat "$tmp/pool.err" >&2; exit 1; }
}
stop_pool() {
  kill "$pool_pid"
  wait "$pool_pid" 2>/dev/null || true
  pool_pid=""
}
# One timed run on the pool, checked for its 4 workers; prints seconds.
timed_run() {
  local start end
  start="$(now)"
  "$DUX" run --pool "$pool" --workers-wanted 4 --format csv --telemetry "$QUERY" \
    >"$tmp/run.out" 2>"$tmp/run.err"
  end="$(now)"
  local used
  used="$(grep '"distributed.worker.stop"' "$tmp/run.err" | grep -o '"address":"[^"]*"' | sort -u | wc -l)"
  if [[ "$used" != 4 ]] || grep -q "workers wanted" "$tmp/run.err"; then
    echo "run on $used workers: $(cat "$tmp/run.err")" >&2
    exit 1
  fi
  echo "$end - $start" | bc -l
}

measure() {  # measure NAME BACKEND_ARGS...
  local name="$1"
  shift
  local cold=() warm=()
  for _ in $(seq "$RUNS"); do
    start_pool "$@" --min 0 --max 4
    cold+=("$(timed_run)")
    stop_pool
  done
  start_pool "$@" --min 4 --max 4
  for _ in $(seq 200); do
    [[ "$("$DUX" pool status "$pool" | grep -c ' idle ')" == 4 ]] && break
    sleep 0.1
  done
  timed_run >/dev/null  # warm-up
  for _ in $(seq "$RUNS"); do warm+=("$(timed_run)"); done
  stop_pool
  local c w
  c="$(printf '%s\n' "${cold[@]}" | median)"
  w="$(printf '%s\n' "${warm[@]}" | median)"
  echo "| $name | $c | $w | $(echo "$c - $w" | bc -l | xargs printf '%.3f') |"
}

# The query alone: 4 workers started by hand.
addresses=""
for i in 1 2 3 4; do
  "$DUX" worker --listen 127.0.0.1:0 --threads 1 >"$tmp/w$i.out" 2>/dev/null &
  worker_pids+=($!)
  for _ in $(seq 100); do grep -q listening "$tmp/w$i.out" 2>/dev/null && break; sleep 0.05; done
  addresses="${addresses:+$addresses,}$(sed -n 's/^listening //p' "$tmp/w$i.out")"
done
"$DUX" run --workers "$addresses" "$QUERY" >/dev/null
static=()
for _ in $(seq "$RUNS"); do
  start="$(now)"
  "$DUX" run --workers "$addresses" --format csv "$QUERY" >/dev/null
  static+=("$(echo "$(now) - $start" | bc -l)")
done
for p in "${worker_pids[@]}"; do kill "$p"; done
wait "${worker_pids[@]}" 2>/dev/null || true
worker_pids=()

echo "| backend | empty pool (s) | warm pool (s) | boot cost (s) |"
echo "|---|---|---|---|"
echo "| none: 4 workers started by hand, \`--workers\` | | $(printf '%s\n' "${static[@]}" | median) | |"
measure local --backend local
measure command --backend command \
  --start-command 'sh -c '"'"'exec "$@" >/dev/null 2>&1'"'"' worker {worker} & echo $!' \
  --stop-command 'kill {job_id}'
if [[ "$(id -u)" == 0 ]] && command -v slurmctld >/dev/null; then
  start_slurm "$tmp/slurm"
  measure slurm --backend slurm --slurm-cpus-per-task 1 --slurm-time 30:00
else
  echo "| slurm | skipped: needs root and slurm-wlm | | |"
fi
