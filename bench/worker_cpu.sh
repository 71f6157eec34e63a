#!/usr/bin/env bash
# Benchmark (issue 23): the CPU the workers spend on one pipeline, without quotas. K local
# `dux worker` processes of 1 DuckDB thread each run the pipeline RUNS times after a warm-up;
# the figure is the rise of the sum of their user and system time (/proc/PID/stat) per run.
# On this 2-core machine K workers share the cores, so their wall time says little, but
# their CPU for the same rows is what a cluster of K machines would pay: CPU at k = 4 over
# CPU at k = 1 is the exchange's share of bench/scaleout.sh's E(4), measured without the
# host's charge for throttled work (BENCHMARKS.md, "Scale-out").
#
#   bench/worker_cpu.sh [--workers K] [--runs N] PIPELINE   (defaults: 4 workers, 4 runs)
#
# DUX_BEFORE=path/to/other/dux measures that binary as well, on K workers of its own, round by
# round in alternation with this tree's. Prints a markdown table. Needs a built tree.
set -euo pipefail
cd "$(dirname "$0")/.."
K=4
RUNS=4
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --workers) K="$2" ;;
    --runs) RUNS="$2" ;;
    *)
      echo "worker_cpu.sh: unknown option $1" >&2
      exit 2
      ;;
  esac
  shift 2
done
if [[ $# -ne 1 ]]; then
  echo "usage: bench/worker_cpu.sh [--workers K] [--runs N] PIPELINE" >&2
  exit 2
fi
PIPELINE="$1"
DUX=build/dux
source bench/workers.sh

# The workers' CPU time so far, in clock ticks, of the pids given.
ticks() {
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

binaries=("$DUX")
[[ -n "${DUX_BEFORE:-}" ]] && binaries+=("$DUX_BEFORE")
declare -A addresses first used seconds
for b in "${binaries[@]}"; do
  first[$b]=${#pids[@]}
  DUX="$b" start_workers "$K"
  addresses[$b]="$workers"
  "$b" run --workers "$workers" --threads 2 "$PIPELINE" >/dev/null  # warm-up
  used[$b]=0
  seconds[$b]=0
done
hz="$(getconf CLK_TCK)"
for _ in $(seq "$RUNS"); do
  for b in "${binaries[@]}"; do
    mine=("${pids[@]:${first[$b]}:$K}")
    before="$(ticks "${mine[@]}")"
    start="$(date +%s.%N)"
    "$b" run --workers "${addresses[$b]}" --threads 2 "$PIPELINE" >/dev/null
    end="$(date +%s.%N)"
    used[$b]=$((used[$b] + $(ticks "${mine[@]}") - before))
    seconds[$b]="$(python3 -c "print(${seconds[$b]} + $end - $start)")"
  done
done
echo "| binary | workers | worker CPU per run (s) | wall per run (s) |"
echo "|---|---|---|---|"
for b in "${binaries[@]}"; do
  python3 -c "print(f'| $b | $K | {${used[$b]} / $hz / $RUNS:.2f} | {${seconds[$b]} / $RUNS:.2f} |')"
done
