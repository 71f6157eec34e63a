#!/usr/bin/env bash
# Benchmark (issue 18): parquet read from S3 (docs/s3.md) against the same files read from the
# local disk, in the same run. The 16 parquet files of the H2O group-by table
# (docs/architecture.md section 8, `dux generate groupby --files 16`) are uploaded with curl,
# before any timing, to an S3 server started here: npm s3rver 3.7.1 (a Node.js process, on a
# port the kernel picks on 127.0.0.1, in a temporary directory, stopped at the end; it shares
# this machine's cores with what it serves). Every comparison runs its commands in turn
# (bench/paired.py), whole-process times, medians; MB are the objects' bytes (10^6).
#
# 1. Scan. (a) curl fetching the 16 objects' bytes with ranged GETs of 8 MiB, over 1 and over
#    2 connections (dux runs 2 DuckDB threads, each sends its GETs one at a time: 2 at once),
#    and as many equal ranges as dux sends, over 2; (b) `dux run --threads 2` (local, no
#    workers) of a summarise that reads every column of every row group, from
#    s3://bench/h2o/*.parquet; (c) the same from the local files; and DuckDB's own scan of
#    the local files (bench/duckdb_sql --threads 2, the same libduckdb). And (b) again with
#    4 DuckDB threads on the 2 cores (4 GETs at once: does the scan wait on its GETs?). Beside
#    each: the CPU seconds of the command and of the s3rver process during it
#    (/proc/PID/stat), and the requests s3rver logged in one more run. Goal: (b) at least
#    80% of (a)'s MB/s.
# 2. H2O group-by q1-q10 (bench/h2o_questions.sh) distributed as bench/h2o.sh runs them (2
#    `dux worker` processes of 1 DuckDB thread, started afresh for each question, `dux run
#    --workers A,B --threads 2`), data on S3 against the local files; S3 / local per question
#    and the geometric mean. Goal: geometric mean at most 1.3. Those workers keep what they
#    fetched in DuckDB's external file cache from one run to the next, so the same again on
#    2 workers started for each run (`dux run --local-workers 2 --threads 1`), which fetch
#    every column chunk; s3rver's CPU and requests per S3 run beside.
#
#   bench/s3.sh [ROWS] [RUNS]   (defaults: 10000000 rows, 5 runs after 1 warm-up)
#
# DUX, BASE and NODE_MODULES name other binaries than the tree's (defaults: build/dux,
# build/bench/duckdb_sql, build/_deps/node/node_modules where scripts/setup.sh puts s3rver).
# Prints two markdown tables for BENCHMARKS.md. Needs a built tree, node, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
RUNS="${2:-5}"
DATA="$PWD/bench/data/h2o-groupby-$ROWS-16"
DUX="${DUX:-build/dux}"
BASE="${BASE:-build/bench/duckdb_sql}"
NODE_MODULES="${NODE_MODULES:-build/_deps/node/node_modules}"
source bench/data.sh
bench_data groupby "$ROWS" 16 "$DATA"
source bench/workers.sh
source bench/h2o_questions.sh

# The S3 server, and dux's S3 settings (docs/s3.md, "Configuration") in the environment that
# dux, its workers and curl inherit; ~/.aws is not read.
server=""
stop_server() { if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; fi; }
trap 'stop_server; cleanup' EXIT
mkdir "$tmp/s3"
# Started from a subshell, so that the `wait` of stop_workers (bench/workers.sh) does not
# wait for it.
(
  node --openssl-legacy-provider test/support/s3rver_with_whole_puts.js \
    "$NODE_MODULES/s3rver/bin/s3rver.js" -d "$tmp/s3" \
    -a 127.0.0.1 -p 0 --configure-bucket bench >"$tmp/s3rver.log" 2>&1 &
  echo $! >"$tmp/s3rver.pid"
)
server="$(cat "$tmp/s3rver.pid")"
for _ in $(seq 100); do grep -q "S3rver listening on" "$tmp/s3rver.log" && break; sleep 0.1; done
port="$(sed -n 's/^S3rver listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/s3rver.log")"
if [[ -z "$port" ]]; then
  echo "s3.sh: s3rver did not start:" >&2
  cat "$tmp/s3rver.log" >&2
  exit 1
fi
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_CONFIG_FILE=/nonexistent/aws/config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws/credentials
URL="$AWS_ENDPOINT_URL/bench/h2o"

# curl signs with SigV4 (s3rver checks the access key, not the signature) and sends
# x-amz-content-sha256, which s3rver requires and curl 7.88 does not add.
SIGN=(--aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
FILES=("$DATA"/*.parquet)
for f in "${FILES[@]}"; do
  curl -sS -f "${SIGN[@]}" -T "$f" "$URL/${f##*/}"
done
BYTES="$(stat -c %s "${FILES[@]}" | awk '{ s += $1 } END { print s }')"

# A curl config (-K) fetching every object in ranges of at most $1 bytes, to /dev/null.
# Ranges are explicit first-last: s3rver answers suffix ranges and bytes=0-0 with the whole
# object.
ranges_config() {
  local f size first last sep=""
  for f in "${FILES[@]}"; do
    size="$(stat -c %s "$f")"
    for ((first = 0; first < size; first += $1)); do
      last=$((first + $1 - 1 < size - 1 ? first + $1 - 1 : size - 1))
      printf '%surl = "%s/%s"\nrange = "%d-%d"\noutput = "/dev/null"\nfail\n' "$sep" "$URL" "${f##*/}" "$first" "$last"
      printf 'aws-sigv4 = "aws:amz:us-east-1:s3"\nuser = "S3RVER:S3RVER"\nheader = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n'
      sep=$'next\n'
    done
  done
}

# The requests s3rver logged from line $1 on: ranged GETs, HEADs and listings (and whole
# GETs, if any). s3rver logs "PATH STATUS TIME SIZE" with the path's first characters cut by
# the length of the method: a GET's path starts with "/", a HEAD's one character later.
requests_since() {
  tail -n +"$1" "$tmp/s3rver.log" | sed 's/\x1b\[[0-9;]*m//g' | awk '
    $1 == "info:" && $4 ~ /ms$/ {
      if ($2 ~ /list-type=2/) lists++
      else if ($3 == 206) gets++
      else if ($2 ~ /^\//) whole++
      else heads++
    }
    END {
      printf "%d GETs, %d HEADs, %d lists", gets, heads, lists
      if (whole) printf ", %d whole GETs", whole
      printf "\n"
    }'
}
log_line() { echo $(($(wc -l <"$tmp/s3rver.log") + 1)); }
# What one run of command $1 (quoted as for bench/paired.py) asked of s3rver.
count_requests() {
  local from
  from="$(log_line)"
  eval "$1" >/dev/null
  requests_since "$from"
}

# 1. Scan: every column of every row group, summed.
SUMS="id1: sum(length(id1)), id2: sum(length(id2)), id3: sum(length(id3)), id4: sum(id4), id5: sum(id5), id6: sum(id6), v1: sum(v1), v2: sum(v2), v3: sum(v3)"
SCAN_SQL="SELECT sum(length(id1)), sum(length(id2)), sum(length(id3)), sum(id4), sum(id5), sum(id6), sum(v1), sum(v2), sum(v3) FROM read_parquet('$DATA/*.parquet')"
S3_SCAN="from_parquet(\"s3://bench/h2o/*.parquet\") |> summarise($SUMS)"
LOCAL_SCAN="from_parquet(\"$DATA/*.parquet\") |> summarise($SUMS)"

# One run of dux's scan first: its request count sizes the curl run "as many GETs as dux".
dux_requests="$(count_requests "$DUX run --threads 2 '$S3_SCAN'")"
dux_gets="${dux_requests%% GETs*}"
ranges_config $((8 * 1024 * 1024)) >"$tmp/ranges-8mib.cfg"
per_object=$(((dux_gets + ${#FILES[@]} / 2) / ${#FILES[@]}))
largest="$(stat -c %s "${FILES[@]}" | sort -n | tail -1)"
ranges_config $(((largest + per_object - 1) / per_object)) >"$tmp/ranges-dux.cfg"
# (-Z shows a progress meter that -s does not silence.)
CURL="curl -sS --no-progress-meter -Z"

# name, command, ...
SCAN=(
  "curl, 8 MiB ranges, 1 connection" "$CURL --parallel-max 1 -K $tmp/ranges-8mib.cfg"
  "curl, 8 MiB ranges, 2 connections" "$CURL --parallel-max 2 -K $tmp/ranges-8mib.cfg"
  "curl, as many GETs as dux, 2 connections" "$CURL --parallel-max 2 -K $tmp/ranges-dux.cfg"
  "dux run, S3" "$DUX run --threads 2 '$S3_SCAN'"
  "dux run, S3, 4 threads" "$DUX run --threads 4 '$S3_SCAN'"
  "dux run, local files" "$DUX run --threads 2 '$LOCAL_SCAN'"
  "DuckDB, local files" "$BASE --threads 2 \"$SCAN_SQL\""
)
bench/paired.py --warmup 1 --runs "$RUNS" --cpu-of "$server" --export-json "$tmp/scan.json" "${SCAN[@]}"
for ((i = 1; i < ${#SCAN[@]}; i += 2)); do
  count_requests "${SCAN[$i]}"
done >"$tmp/scan.requests"
python3 - "$tmp/scan.json" "$tmp/scan.requests" "$BYTES" "${#FILES[@]}" "$(nproc)" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
requests = open(sys.argv[2]).read().splitlines()
mb = int(sys.argv[3]) / 1e6
by_name = {r["command"]: r for r in results}
curl2 = by_name["curl, 8 MiB ranges, 2 connections"]["median"]
print(f"{sys.argv[4]} objects, {mb:.1f} MB in all.\n")
print("| read | time (s) | MB/s | MB/s vs curl, 2 connections | CPU of the command (s) | CPU of s3rver (s) | requests to s3rver (one run) |")
print("|---|---|---|---|---|---|---|")
for r, req in zip(results, requests):
    print(f"| {r['command']} | {r['median']:.3f} | {mb / r['median']:.0f} | {curl2 / r['median']:.2f} "
          f"| {r['cpu']:.2f} | {r['cpu_of_pid']:.2f} | {req} |")
s3 = by_name["dux run, S3"]
local = by_name["dux run, local files"]
# The S3 scan needs dux's CPU and s3rver's on this machine's cores; s3rver's one event loop
# is serial.
cores = int(sys.argv[5])
bound = max(s3["cpu_of_pid"], (s3["cpu"] + s3["cpu_of_pid"]) / cores)
print(f"\n(b) / (a): dux's S3 scan at {curl2 / s3['median']:.2f} of curl's MB/s over 2 connections "
      f"(goal: at least 0.80); S3 / local files {s3['median'] / local['median']:.2f}. "
      f"CPU bound on {cores} cores for the S3 scan, max(s3rver, (dux + s3rver) / {cores}): {bound:.3f} s, "
      f"{mb / bound:.0f} MB/s, {curl2 / bound:.2f} of curl's.\n")
PY

# 2. H2O group-by, distributed, local files against S3: on 2 standing workers, as bench/h2o.sh
# runs them (after a question's first run their DuckDB's external file cache holds the column
# chunks fetched from S3, as the page cache holds the local files), and on 2 fresh workers
# for every run (`--local-workers 2 --threads 1`: every chunk fetched again; the workers'
# start is in both times).
h2o_questions groupby "$DATA"
LOCAL_QUESTIONS=("${QUESTIONS[@]}")
h2o_questions groupby "s3://bench/h2o"
echo "| question | standing workers: local (s) | S3 (s) | S3 / local | fresh workers: local (s) | S3 (s) | S3 / local | s3rver CPU per S3 run, standing / fresh (s) | requests per S3 run: standing; fresh |"
echo "|---|---|---|---|---|---|---|---|---|"
for i in "${!QUESTIONS[@]}"; do
  IFS=@ read -r name s3_pipeline _ <<<"${QUESTIONS[$i]}"
  IFS=@ read -r _ local_pipeline _ <<<"${LOCAL_QUESTIONS[$i]}"
  start_workers
  standing="$DUX run --workers $workers --threads 2"
  fresh="$DUX run --local-workers 2 --threads 1"
  bench/paired.py --warmup 1 --runs "$RUNS" --cpu-of "$server" --export-json "$tmp/$name.json" \
    local "$standing '$local_pipeline'" s3 "$standing '$s3_pipeline'" \
    fresh_local "$fresh '$local_pipeline'" fresh_s3 "$fresh '$s3_pipeline'"
  requests="$(count_requests "$standing '$s3_pipeline'"); $(count_requests "$fresh '$s3_pipeline'")"
  stop_workers
  python3 - "$tmp/$name.json" "$name" "$requests" <<'PY'
import json, sys
runs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
row = [sys.argv[2]]
for local, s3 in (("local", "s3"), ("fresh_local", "fresh_s3")):
    row += [f"{runs[local]['median']:.3f}", f"{runs[s3]['median']:.3f}",
            f"{runs[s3]['median'] / runs[local]['median']:.2f}"]
row += [f"{runs['s3']['cpu_of_pid']:.2f} / {runs['fresh_s3']['cpu_of_pid']:.2f}", sys.argv[3]]
print("| " + " | ".join(row) + " |")
PY
done
python3 - "$tmp" <<'PY'
import glob, json, math, sys
ratios = {"s3": [], "fresh_s3": []}
for f in sorted(glob.glob(sys.argv[1] + "/q*.json")):
    runs = {r["command"]: r["median"] for r in json.load(open(f))["results"]}
    ratios["s3"].append(runs["s3"] / runs["local"])
    ratios["fresh_s3"].append(runs["fresh_s3"] / runs["fresh_local"])
mean = {k: math.exp(sum(map(math.log, v)) / len(v)) for k, v in ratios.items()}
print(f"| geometric mean | | | {mean['s3']:.2f} | | | {mean['fresh_s3']:.2f} | | |")
PY
