#!/usr/bin/env bash
# Builds one of the worker fuzz targets (clang, libFuzzer, ASan, UBSan) and runs it for
# SECONDS: first every committed input (fuzz/corpus/TARGET: seeds and repro-* inputs), then
# new ones. Exits non-zero on a finding, whose input is saved in <build dir>/artifacts/.
# Extra arguments go to libFuzzer. See docs/fuzzing.md, "The worker's RPC inputs".
#
# Usage: fuzz/run_worker_fuzz.sh TARGET SECONDS [libFuzzer flags...]
#   TARGET: worker_call, worker_ipc or worker_path
# Environment: as fuzz/build.sh.
set -euo pipefail

if [[ $# -lt 2 || ! $1 =~ ^worker_(call|ipc|path)$ || ! $2 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 worker_call|worker_ipc|worker_path SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)

start=$(date +%s)
build=$("$root/fuzz/build.sh" "${target}_fuzzer")
echo "run_worker_fuzz.sh: ${target}_fuzzer built in $(($(date +%s) - start)) s"

# New inputs go to the work corpus (the first directory), never into the committed one.
work=$build/corpus/$target
mkdir -p "$work" "$build/artifacts"
# -timeout: the harness cancels a fragment after 2 s; a call still running after 30 s did
# not stop when cancelled (a hang).
exec "$build/fuzz/${target}_fuzzer" "$work" "$root/fuzz/corpus/$target" \
  -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
  -artifact_prefix="$build/artifacts/$target-" -print_final_stats=1 "$@"
