#!/usr/bin/env bash
# Spill (docs/reliability.md, "Spill"): H2O join q5 (x join big on id3, 10^7 rows by default)
# on 2 local workers of 1 DuckDB thread each, each held to --memory-limit LIMIT with its own
# --temp-dir, against single-process DuckDB (bench/duckdb_sql, 2 threads, no limit) on the
# same parquet files. Prints the wall time of the distributed run, each worker's peak resident
# memory (VmHWM), the most each worker had spilled at once (the largest spill_bytes of its
# fragments' reports: DuckDB's temporary files, exchange buckets included), and whether the
# checksum (count, sum v1, sum v2) equals DuckDB's, sums to 1e-9 relative.
#
#   bench/spill.sh [LIMIT] [ROWS] [BROADCAST_THRESHOLD]   (defaults: 300MB, 10000000, 0:
#                                                         always a shuffle join; 268435456,
#                                                         dux's default, broadcasts big)
#
# The data is made once by `dux generate join` into bench/data (a few minutes at 10^7 rows),
# or SPILL_DATA names a directory made so.
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT="${1:-300MB}"
ROWS="${2:-10000000}"
THRESHOLD="${3:-0}"
DATA="${SPILL_DATA:-$PWD/bench/data/h2o-join-$ROWS-16}"
DUX=build/dux
BASE=build/bench/duckdb_sql
source bench/data.sh
bench_data join "$ROWS" 16 "$DATA"

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
  mkdir -p "$tmp/spill-$i"
  "$DUX" worker --listen 127.0.0.1:0 --threads 1 --memory-limit "$LIMIT" \
    --temp-dir "$tmp/spill-$i" >"$tmp/worker-$i.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$tmp/worker-$i.out" 2>/dev/null && break; sleep 0.1; done
  workers="${workers:+$workers,}$(sed -n 's/^listening //p' "$tmp/worker-$i.out")"
done

source bench/h2o_questions.sh
h2o_questions join "$DATA"
IFS=@ read -r _ pipeline sql <<<"${QUESTIONS[4]}"
start=$(date +%s.%N)
"$DUX" run --workers "$workers" --threads 2 --broadcast-threshold "$THRESHOLD" --format csv \
  --telemetry "$pipeline" >"$tmp/dux.csv" 2>"$tmp/events"
seconds=$(echo "$(date +%s.%N) - $start" | bc)
peaks=""
for p in "${pids[@]}"; do
  peaks="${peaks:+$peaks / }$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$p/status")"
done
"$BASE" --threads 2 "$sql" >"$tmp/duckdb.tsv"
python3 - "$tmp/dux.csv" "$tmp/duckdb.tsv" "$tmp/events" "$LIMIT" "$ROWS" "$seconds" "$peaks" <<'PY'
import json, math, sys
dux = open(sys.argv[1]).read().splitlines()[1].split(",")
duckdb = open(sys.argv[2]).read().split()
same = int(dux[0]) == int(duckdb[0]) and all(
    math.isclose(float(a), float(b), rel_tol=1e-9) for a, b in zip(dux[1:], duckdb[1:]))
spill = {}
join = "shuffle"
for line in open(sys.argv[3]):
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e["event"] == "distributed.broadcast.stop":
        join = "broadcast"
    if e["event"] == "distributed.worker.stop" and "spill_bytes" in e["measurements"]:
        a = e["metadata"]["address"]
        spill[a] = max(spill.get(a, 0), e["measurements"]["spill_bytes"])
print("| rows | join | --memory-limit | wall (s) | worker peak RSS (MB) | spilled at most (MB) | equal to DuckDB |")
print("|---|---|---|---|---|---|---|")
print(f"| {sys.argv[5]} | {join} | {sys.argv[4]} | {float(sys.argv[6]):.1f} | {sys.argv[7]} | "
      f"{' / '.join(f'{v / 1e6:.0f}' for v in spill.values())} | {'yes' if same else 'NO'} |")
sys.exit(0 if same else 1)
PY
