#!/usr/bin/env bash
# Builds dux with sanitizers in a build dir of its own and runs a slice of the tests there
# (docs/testing.md, "Sanitizers"). Fails when a test fails or when any process, worker
# processes included, reported an error: every report goes to a file in the build dir's
# sanitizer-reports/, which must stay empty, since a worker's report would otherwise go
# unseen (nobody reads a worker's exit code or, from the e2e runner, its stderr).
#
# Usage: test/sanitizers/run.sh asan|tsan
#   asan: ASan + LeakSanitizer + UBSan (fatal): all unit tests, a slice of the e2e files and
#         of the cluster tests;
#   tsan: TSan: the tests that exercise threads (gather, shuffle and worker, transport
#         conformance, registry) and a few cluster tests.
# Environment: DUX_DUCKDB_DIR (default build/_deps/duckdb), DUX_MAIN_BUILD_DIR (default
# build: the unit tests registered there must all be registered here too),
# DUX_SANITIZE_BUILD_DIR (default build-<kind>), DUX_SANITIZE_JOBS (default 2: build jobs and
# parallel tests). ccache is used as in the main build (the top CMakeLists.txt).
set -euo pipefail

kind=${1:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/test/sanitizers
build=${DUX_SANITIZE_BUILD_DIR:-$root/build-$kind}
main_build=${DUX_MAIN_BUILD_DIR:-$root/build}
duckdb=${DUX_DUCKDB_DIR:-$main_build/_deps/duckdb}
jobs=${DUX_SANITIZE_JOBS:-2}

# What each kind builds and runs: every unit test (run_unit), e2e files (their CTest names),
# GoogleTest suites (whose CTests are SUITE.TEST) and cluster tests (ClusterTest.NAME).
case $kind in
  asan)
    sanitize=address
    configure=()
    targets=(dux_unit_tests dux dux_e2e_runner dux_cluster_test)
    run_unit=1
    # Joins (broadcast, both sides exchanged, skewed keys), group-by exchanges (holistic
    # aggregates, grouped windows), partial aggregates of a file split by row groups merged
    # after the gather, writes on workers; each file locally and on 1, 2 and 3 worker
    # processes.
    e2e=(
      e2e/joins/distributed.test
      e2e/distributed/holistic.test
      e2e/distributed/constant_groups.test
      e2e/distributed/writes.test
    )
    # Real worker and registry processes: results, joins and exchanges, a worker killed
    # midway (retry, mid-write), cancellation, streaming, the registry.
    cluster=(
      TwoWorkersGiveTheLocalResult
      JoinsBroadcastOrExchangeAndLeaveNoTablesBehind
      ExchangeBeyondAWorkersBucketBudgetMovesToTablesAndStaysExact
      PartitionOfAKilledWorkerIsRetriedOnAnother
      WorkerKilledMidWriteIsRetriedWithoutLossOrDuplicates
      CtrlCStopsTheRunAndTheWorkersQuery
      StreamedResultEndsWhenItsReaderStopsAndTheWorkerStopsToo
      RegistryTracksWorkersThatJoinAndLeave
    )
    suites=()
    ;;
  tsan)
    sanitize=thread
    # protobuf, gRPC and abseil as shared objects, so that tsan.supp can name them.
    configure=(-DDUX_STATIC_GRPC=OFF)
    targets=(dux_coordinator_test dux_worker_test dux_rpc_test dux dux_cluster_test)
    run_unit=0
    e2e=()
    # The gather's worker threads and its consumer; the bucket store's concurrent sinks; every
    # WorkerClient call over both transports (concurrent queries, cancellation, shuffles
    # pushing buckets worker to worker; the result channel's two ends).
    suites=(GatherTest BucketStoreTest ParseMemorySize GrpcTransport Transports/Conformance
            ResultChannelTest)
    # The registry (heartbeats, joins and leaves), a gather, exchanges and joins between
    # worker processes. (Not the tests that kill a worker at a moment they wait for: under
    # TSan the query may end first; the gather's retries are in GatherTest.)
    cluster=(
      RegistryTracksWorkersThatJoinAndLeave
      TwoWorkersGiveTheLocalResult
      ExchangeBeyondAWorkersBucketBudgetMovesToTablesAndStaysExact
      JoinsBroadcastOrExchangeAndLeaveNoTablesBehind
    )
    ;;
  *)
    echo "usage: $0 asan|tsan" >&2
    exit 2
    ;;
esac

seconds() { echo $(($(date +%s) - $1)); }

# The sanitizers' options, for the programs the build runs (generators, test discovery) and
# for the tests. halt_on_error=0 for TSan: a run lists every race it sees (the process still
# exits with 66).
sanitizer_options() {  # sanitizer_options EXTRA: exports the options with EXTRA prepended
  export ASAN_OPTIONS="$1detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
  export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="$1print_stacktrace=1:halt_on_error=1"
  export TSAN_OPTIONS="$1suppressions=$here/tsan.supp:print_suppressions=0:halt_on_error=0:second_deadlock_stack=1"
}
sanitizer_options ""
# Instrumented processes start and run several times slower: tests that bound how soon
# something happens (a registry dropping a dead worker) scale their bounds by this.
export DUX_TEST_SLOWDOWN=4

mkdir -p "$build"
exec 9>"$build/.lock"
flock 9  # one build and run at a time in this dir

start=$(date +%s)
# Configured every time (seconds; nothing rebuilds unless an option changed). -O1: what the
# sanitizers' authors recommend (readable stacks, quick builds); asserts stay on (no NDEBUG).
cmake -S "$root" -B "$build" -DDUX_SANITIZE=$sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DDUX_DUCKDB_DIR="$duckdb" \
  -DDUX_NODE_DIR="$main_build/_deps/node" "${configure[@]}" \
  >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" --target "${targets[@]}" -j"$jobs" >"$build/build.log" 2>&1 ||
  { tail -n 80 "$build/build.log" >&2; echo "$0 $kind: build failed" >&2; exit 1; }
echo "$kind: built in $(seconds "$start") s ($build)"

if ((run_unit)); then
  # A unit test whose executable is not in dux_unit_tests would be silently missing here
  # (gtest_discover_tests registers nothing for an executable not built).
  want=$(ctest --test-dir "$main_build" -N -L unit | sed -n 's/^Total Tests: //p')
  have=$(ctest --test-dir "$build" -N -L unit | sed -n 's/^Total Tests: //p')
  if [[ $want != "$have" ]]; then
    echo "$kind: $have unit tests here but $want in $main_build: is a unit test executable" \
      "missing from dux_unit_tests (top CMakeLists.txt)?" >&2
    exit 1
  fi
fi

# From here on each process writes its reports to sanitizer-reports/<kind>.<pid>.
reports=$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
sanitizer_options "log_path=$reports/$kind:"

join() {
  local IFS='|'
  echo "$*"
}
select=()
((${#e2e[@]})) && select+=("^($(join "${e2e[@]//./\\.}"))\$")
((${#suites[@]})) && select+=("^($(join "${suites[@]}"))\\.")
((${#cluster[@]})) && select+=("^ClusterTest\\.($(join "${cluster[@]}"))\$")

start=$(date +%s)
failed=0
if ((run_unit)); then
  ctest --test-dir "$build" --output-on-failure -j"$jobs" -L unit || failed=1
fi
ctest --test-dir "$build" --output-on-failure -j"$jobs" -R "$(join "${select[@]}")" || failed=1
echo "$kind: tests ran in $(seconds "$start") s"

shopt -s nullglob
found=("$reports"/*)
if ((${#found[@]})); then
  for f in "${found[@]}"; do
    echo "---- $f"
    cat "$f"
  done
  echo "$kind: ${#found[@]} process(es) reported errors (above)" >&2
  failed=1
fi
exit $failed
