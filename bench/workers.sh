# shellcheck shell=bash
# Sourced by the benchmark scripts: local `dux worker` processes of 1 DuckDB thread each.
# Needs DUX (the dux binary) set; sets `tmp` (a temporary directory removed on exit),
# `workers` (the addresses of the workers last started, comma-separated) and `peaks`.
# Two hooks a script may redefine after sourcing this (bench/scaleout.sh puts each worker in
# a cgroup and a network namespace with them):
#   worker_host I            prints the address worker I listens on (default 127.0.0.1);
#   worker_exec I COMMAND..  replaces the calling (background) shell with worker I's command.
# The cleanup runs on exit, Ctrl-C and TERM alike; a script with more to clean up sets its
# own EXIT trap that calls `cleanup` last.
tmp="$(mktemp -d)"
pids=()
next_worker=1
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

worker_host() { echo 127.0.0.1; }
worker_exec() {
  shift
  exec "$@"
}

# listening_address FILE: waits up to 10 s for the "listening ADDRESS" line a dux server
# (worker, serve) prints to FILE, and prints ADDRESS; nothing when it did not come.
listening_address() {
  for _ in $(seq 100); do grep -q listening "$1" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^listening //p' "$1"
}

# start_workers [COUNT]: starts COUNT workers (default 2) beside those already running; sets
# `workers` to the new ones' addresses. Exits with the worker's output when one does not start.
workers=""
# shellcheck disable=SC2120  # COUNT is optional
start_workers() {
  workers=""
  local i address
  for _ in $(seq "${1:-2}"); do
    i=$((next_worker++))
    worker_exec "$i" "$DUX" worker --listen "$(worker_host "$i"):0" --threads 1 \
      >"$tmp/worker-$i.out" 2>"$tmp/worker-$i.err" &
    pids+=($!)
    address="$(listening_address "$tmp/worker-$i.out")"
    if [[ -z "$address" ]]; then
      echo "worker $i did not start: $(cat "$tmp/worker-$i.err")" >&2
      exit 1
    fi
    workers="${workers:+$workers,}$address"
  done
}

# stop_workers [FIRST]: the peak resident memory in MB of each running worker from the
# FIRST-th started on (default 0: all; "A / B" in `peaks`), then every worker is stopped.
# shellcheck disable=SC2120  # FIRST is optional
stop_workers() {
  peaks=""
  local i=0
  for p in "${pids[@]}"; do
    if ((i++ >= ${1:-0})); then
      peak="$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$p/status")"
      peaks="${peaks:+$peaks / }$peak"
    fi
    kill "$p"
  done
  wait 2>/dev/null || true
  pids=()
}
