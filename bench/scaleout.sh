#!/usr/bin/env bash
# Benchmark (issue 23): scale-out of the H2O group-by questions q1-q10 and join questions
# q1-q5 (docs/architecture.md section 8) on k = 1, 2 and 4 `dux worker` processes of 1 DuckDB
# thread each. This machine has 2 cores, so each worker gets a fixed share of a CPU and a
# capped link of its own, and adding workers adds capacity the way adding machines would:
# - each worker runs in its own cgroup (v1 `cpu`: a CFS quota of --cpu cores per 20 ms
#   period; its `cpu.shares` are raised so that a busy machine still leaves it its quota) and
#   its own `cpuacct` cgroup (its CPU time);
# - each worker lives in its own network namespace, tied by a veth pair to a bridge in the
#   root namespace (the coordinator's side; workers reach each other through the bridge for
#   exchanges, no IP forwarding needed); a `tc tbf` qdisc caps each direction of each veth
#   at --rate;
# - the coordinator (`dux run --workers ... --threads 2`) runs outside them, in a cgroup of
#   its own without a quota, its shares raised like the workers' (a machine of its own, not
#   one that the other builds on this machine slow down).
# All 7 workers (1 + 2 + 4) stand for the whole run. Each question runs at k = 1, 2, 4 in
# turn, round by round (bench/paired.py): a warm-up round, then --runs rounds, whose medians
# are T(1), T(2), T(4). Around the measured rounds it reads each worker's CPU time and CFS
# throttling (cgroup files) and the bytes on its link (tc's counters); one more run at k = 1
# and at k = 4 with --telemetry gives the coordinator's serial part (the time outside the
# workers' stages). bench/scaleout_report.py prints the tables for BENCHMARKS.md.
#
#   bench/scaleout.sh [--served] [--cpu CORES] [--rate RATE] [--groupby-rows N]
#                     [--join-rows N] [--runs N] [--questions SET:NAME,...] [--results DIR]
#
# Defaults: --cpu 0.35, --rate 1gbit (tc's units: kbit, mbit, gbit), 10,000,000 rows in 16
# parquet files for both data sets (T(4) of the shortest questions stays several times the
# coordinator's fixed cost, BENCHMARKS.md "Scale-out"), 3 runs; --questions picks some, e.g.
# groupby:q1,join:q5; --results keeps the raw measurements in DIR (`scaleout_report.py table
# DIR ...` prints the tables again). --served times `dux run --server` instead, against one
# `dux serve` per k (docs/serve.md) started in the coordinator's cgroup on that k's workers:
# its session, plan cache and worker channels warm after the warm-up round, so T(k) is the
# figure of an interactive user without the one-shot coordinator's start and planning (the
# coordinator-serial columns still come from one-shot runs). Root only. Everything it creates (cgroups, namespaces, veths, the
# bridge, their qdiscs, the workers) is removed on exit, on error and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
CPU=0.35
RATE=1gbit
GROUPBY_ROWS=10000000
JOIN_ROWS=10000000
RUNS=3
QUESTIONS_WANTED=""
RESULTS=""
SERVED=0
PERIOD_US=20000

fail() {
  echo "scaleout.sh: $*" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  if [[ "$1" == --served ]]; then
    SERVED=1
    shift
    continue
  fi
  [[ $# -ge 2 ]] || fail "$1 needs a value"
  case "$1" in
    --cpu) CPU="$2" ;;
    --rate) RATE="$2" ;;
    --groupby-rows) GROUPBY_ROWS="$2" ;;
    --join-rows) JOIN_ROWS="$2" ;;
    --runs) RUNS="$2" ;;
    --questions) QUESTIONS_WANTED="$2" ;;
    --results) RESULTS="$2" ;;
    *) fail "unknown option $1 (see the comment at the top of bench/scaleout.sh)" ;;
  esac
  shift 2
done
[[ "$CPU" =~ ^[0-9]*\.?[0-9]+$ ]] || fail "--cpu must be a number of cores, not \"$CPU\""
QUOTA_US="$(awk -v c="$CPU" -v p="$PERIOD_US" 'BEGIN {printf "%d", c * p + 0.5}')"
((QUOTA_US >= 1000)) || fail "--cpu must be at least 0.05 (a 1 ms quota per 20 ms period)"
[[ "$RATE" =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || fail "--rate must be like 1gbit, not \"$RATE\""
RATE_BITS="$(awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[2]}" \
  'BEGIN {m["bit"] = 1; m["kbit"] = 1e3; m["mbit"] = 1e6; m["gbit"] = 1e9; printf "%.0f", n * m[u]}')"
# tbf's bucket: 10 ms at the rate (at least 64 KiB, one GSO packet), so the rate is reachable.
BURST="$(awk -v r="$RATE_BITS" 'BEGIN {b = r / 8 / 100; printf "%d", (b < 65536 ? 65536 : b)}')"
for n in "$GROUPBY_ROWS" "$JOIN_ROWS" "$RUNS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || fail "rows and runs must be positive integers, not \"$n\""
done
[[ "$EUID" -eq 0 ]] || fail "needs root (cgroups, network namespaces, tc)"
[[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us && -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]] ||
  fail "needs cgroup v1 cpu and cpuacct controllers under /sys/fs/cgroup"
for tool in ip tc; do command -v "$tool" >/dev/null || fail "needs $tool (iproute2)"; done
DUX="$PWD/build/dux"
[[ -x "$DUX" ]] || fail "build/dux not found: build the tree first"

# wanted SET [NAME]: whether --questions picks question NAME of SET (or any of SET).
wanted() {
  [[ -z "$QUESTIONS_WANTED" || ",$QUESTIONS_WANTED," == *",$1:${2:-}"* ]]
}

source bench/data.sh
source bench/workers.sh
source bench/h2o_questions.sh

# ---- the workers' homes: cgroups, namespaces, links -------------------------------------
tag="dxs$$"
CPU_CG="/sys/fs/cgroup/cpu/dux-scaleout-$$"
ACCT_CG="/sys/fs/cgroup/cpuacct/dux-scaleout-$$"
COORDINATOR_CG="/sys/fs/cgroup/cpu/dux-scaleout-$$-coordinator"
bridge="${tag}b"
namespaces=()
links=()
teardown() {
  cleanup # bench/workers.sh: stops the workers (so the cgroups empty) and removes $tmp
  local name dir sub
  for name in "${namespaces[@]}"; do ip netns del "$name" 2>/dev/null || true; done
  for name in "${links[@]}"; do ip link del "$name" 2>/dev/null || true; done
  if [[ -d "$COORDINATOR_CG" ]]; then rmdir "$COORDINATOR_CG" || true; fi
  for dir in "$CPU_CG" "$ACCT_CG"; do
    [[ -d "$dir" ]] || continue
    for sub in "$dir"/w*; do if [[ -d "$sub" ]]; then rmdir "$sub" || true; fi; done
    rmdir "$dir" || true
  done
}
trap teardown EXIT

# A /24 that nothing here uses yet: the bridge is .254, worker I is .I.
subnet=""
for n in $(seq 0 249); do
  candidate="10.233.$((($$ + n) % 250 + 1))"
  if ! ip -4 addr show | grep -q " ${candidate//./\\.}\." &&
    ! ip -4 route show | grep -q "^${candidate//./\\.}\."; then
    subnet="$candidate"
    break
  fi
done
[[ -n "$subnet" ]] || fail "no free /24 in 10.233.0.0/16 for the workers' links"

mkdir "$CPU_CG" "$ACCT_CG" "$COORDINATOR_CG"
# The groups' weight against the root cgroup's tasks: high enough that other builds on this
# machine take neither the workers' quota nor the coordinator's CPU (the quota still caps
# each worker).
echo 102400 >"$CPU_CG/cpu.shares"
echo 102400 >"$COORDINATOR_CG/cpu.shares"
# in_coordinator_cgroup: moves the calling (sub)shell, and what it starts, to the coordinator's
# cgroup.
in_coordinator_cgroup() { echo "$BASHPID" >"$COORDINATOR_CG/cgroup.procs"; }
# coordinator COMMAND...: runs COMMAND, and the `dux run`s it starts, in the coordinator's cgroup.
coordinator() { (
  in_coordinator_cgroup
  exec "$@"
); }
ip link add "$bridge" type bridge
links+=("$bridge")
ip addr add "$subnet.254/24" dev "$bridge"
ip link set "$bridge" up

# make_home I: worker I's cgroups, namespace, veth pair on the bridge and qdiscs.
make_home() {
  local i="$1" name="$tag-$1" host="${tag}h$1" inner="${tag}n$1"
  mkdir "$CPU_CG/w$i" "$ACCT_CG/w$i"
  echo "$PERIOD_US" >"$CPU_CG/w$i/cpu.cfs_period_us"
  echo "$QUOTA_US" >"$CPU_CG/w$i/cpu.cfs_quota_us"
  ip netns add "$name"
  namespaces+=("$name")
  ip link add "$host" type veth peer name "$inner"
  links+=("$host")
  ip link set "$inner" netns "$name"
  ip link set "$host" master "$bridge"
  ip link set "$host" up
  ip -n "$name" addr add "$subnet.$i/24" dev "$inner"
  ip -n "$name" link set "$inner" up
  ip -n "$name" link set lo up
  # What the worker receives (leaving the bridge) and what it sends (leaving its namespace).
  tc qdisc add dev "$host" root tbf rate "$RATE" burst "$BURST" latency 50ms
  ip netns exec "$name" tc qdisc add dev "$inner" root tbf rate "$RATE" burst "$BURST" latency 50ms
}
for i in $(seq 7); do make_home "$i"; done

# bench/workers.sh's hooks: worker I listens on its namespace's address, inside its cgroups.
worker_host() { echo "$subnet.$1"; }
worker_exec() {
  local i="$1"
  shift
  echo "$BASHPID" >"$CPU_CG/w$i/cgroup.procs"
  echo "$BASHPID" >"$ACCT_CG/w$i/cgroup.procs"
  exec ip netns exec "$tag-$i" "$@"
}
# Workers off loopback require a token.
DUX_TOKEN="scaleout-$$-$RANDOM$RANDOM"
export DUX_TOKEN
start_workers 1
W1="$workers"
start_workers 2
W2="$workers"
start_workers 4
W4="$workers"

# serve_on K: starts a `dux serve` on the k = K workers in the coordinator's cgroup; sets SK
# to its address.
serve_on() {
  local k="$1" w="W$1" out="$tmp/serve-$1.out" address
  # Not through `coordinator`, whose own subshell would stand between $! and the server.
  (
    in_coordinator_cgroup
    exec "$DUX" serve --listen 127.0.0.1:0 --workers "${!w}" --threads 2
  ) >"$out" 2>&1 &
  pids+=($!)
  address="$(listening_address "$out")"
  [[ -n "$address" ]] || fail "dux serve on $k workers did not start: $(cat "$out")"
  printf -v "S$k" '%s' "$address"
}
if [[ $SERVED == 1 ]]; then for k in 1 2 4; do serve_on "$k"; done; fi

# counters FILE: per worker, its CPU time (ns), cpu.stat and the bytes its link carried.
counters() {
  local i
  for i in $(seq 7); do
    echo "worker=$i usage=$(cat "$ACCT_CG/w$i/cpuacct.usage")" \
      "$(awk '{printf "%s=%s ", $1, $2}' "$CPU_CG/w$i/cpu.stat")" \
      "sent=$(ip netns exec "$tag-$i" tc -s qdisc show dev "${tag}n$i" | awk '/Sent/ {print $2; exit}')" \
      "received=$(tc -s qdisc show dev "${tag}h$i" | awk '/Sent/ {print $2; exit}')"
  done >"$1"
}

out="${RESULTS:-$tmp/results}"
mkdir -p "$out"
load_start="$(uptime)"
for set in groupby join; do
  wanted "$set" || continue
  rows="$GROUPBY_ROWS"
  [[ "$set" == join ]] && rows="$JOIN_ROWS"
  data="$PWD/bench/data/h2o-$set-$rows-16"
  bench_data "$set" "$rows" 16 "$data"
  h2o_questions "$set" "$data"
  for q in "${QUESTIONS[@]}"; do
    IFS=@ read -r name pipeline _ <<<"$q"
    wanted "$set" "$name," || continue
    echo "scaleout.sh: $set $name" >&2
    if [[ $SERVED == 1 ]]; then
      run="$DUX run --server"
      commands=(k1 "$run $S1 '$pipeline'" k2 "$run $S2 '$pipeline'" k4 "$run $S4 '$pipeline'")
    else
      run="$DUX run --threads 2 --workers"
      commands=(k1 "$run $W1 '$pipeline'" k2 "$run $W2 '$pipeline'" k4 "$run $W4 '$pipeline'")
    fi
    coordinator bench/paired.py --warmup 0 --runs 1 --export-json "$tmp/warm-up.json" "${commands[@]}"
    counters "$out/$set-$name.before"
    coordinator bench/paired.py --warmup 0 --runs "$RUNS" --export-json "$out/$set-$name.json" "${commands[@]}"
    counters "$out/$set-$name.after"
    # The coordinator's serial part, from one-shot runs (none with --served, where it is not
    # what T(k) measured).
    [[ $SERVED == 1 ]] && continue
    for k in 1 4; do
      w="W$k"
      coordinator bench/scaleout_report.py timeline "$out/$set-$name.k$k.timeline" -- \
        "$DUX" run --threads 2 --workers "${!w}" --telemetry "$pipeline"
    done
  done
done
bench/scaleout_report.py table "$out" --cpu "$CPU" --rate-bits "$RATE_BITS" --runs "$RUNS"
echo
if [[ $SERVED == 1 ]]; then
  echo "Served: T(k) through \`dux run --server\`, one warm \`dux serve\` per k."
fi
echo "Quota: $CPU cores per worker ($QUOTA_US us per $PERIOD_US us); links: tbf $RATE each way."
echo "Load at start: $load_start"
echo "Load at end:   $(uptime)"
