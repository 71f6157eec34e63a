#!/usr/bin/env bash
# Builds ipc_reader_fuzzer with clang (libFuzzer, ASan, UBSan) and runs it for SECONDS on the
# committed corpus. Exits non-zero on a finding, whose input is saved in
# <build dir>/artifacts/. Extra arguments go to libFuzzer. See docs/fuzzing.md.
#
# Usage: fuzz/run_fuzz.sh SECONDS [libFuzzer flags...]
# Environment: as fuzz/build.sh.
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
seconds=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)

start=$(date +%s)
build=$("$root/fuzz/build.sh" ipc_reader_fuzzer)
echo "run_fuzz.sh: ipc_reader_fuzzer built in $(($(date +%s) - start)) s"

# New inputs go to the work corpus (the first directory), never into the committed one.
work=$build/corpus/ipc_reader
mkdir -p "$work" "$build/artifacts"
exec "$build/fuzz/ipc_reader_fuzzer" "$work" "$root/fuzz/corpus/ipc_reader" \
  -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1 "$@"
