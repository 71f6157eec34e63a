# Sourced by the benchmark scripts: 2 local `dux worker` processes of 1 DuckDB thread each.
# Needs DUX (the dux binary) set; sets `tmp` (a temporary directory removed on exit),
# `workers` (their addresses, comma-separated) and `peaks`.
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

workers=""
start_workers() {
  pids=()
  workers=""
  for i in 1 2; do
    "$DUX" worker --listen 127.0.0.1:0 --threads 1 >"$tmp/worker-$i.out" &
    pids+=($!)
    for _ in $(seq 100); do grep -q listening "$tmp/worker-$i.out" 2>/dev/null && break; sleep 0.1; done
    address="$(sed -n 's/^listening //p' "$tmp/worker-$i.out")"
    workers="${workers:+$workers,}$address"
  done
}

# Each worker's peak resident memory in MB ("A / B" in `peaks`), then the workers are stopped.
stop_workers() {
  peaks=""
  for p in "${pids[@]}"; do
    peak="$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$p/status")"
    peaks="${peaks:+$peaks / }$peak"
    kill "$p"
  done
  wait 2>/dev/null || true
  pids=()
}
