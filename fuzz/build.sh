#!/usr/bin/env bash
# Configures (once) and builds fuzz targets in the clang build dir that run_fuzz.sh and
# make_corpus.sh share; prints the build dir. Usage: fuzz/build.sh TARGET...
# Environment: DUX_DUCKDB_DIR (default build/_deps/duckdb: the top-level CMakeLists needs it,
# the codec does not), DUX_FUZZ_BUILD_DIR (default build-fuzz), DUX_FUZZ_CXX (default clang++).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${DUX_FUZZ_BUILD_DIR:-$root/build-fuzz}
duckdb=${DUX_DUCKDB_DIR:-$root/build/_deps/duckdb}
cxx=${DUX_FUZZ_CXX:-clang++}

mkdir -p "$build"
(
  flock 9  # one build at a time in this dir
  if [[ ! -f $build/CMakeCache.txt ]]; then
    resource=$("$cxx" -print-resource-dir 2>/dev/null) || resource=""
    if [[ -z $resource || ! -f $resource/lib/linux/libclang_rt.fuzzer-x86_64.a ]]; then
      echo "fuzz/build.sh: needs $cxx with libFuzzer: apt-get install clang libclang-rt-14-dev" >&2
      exit 1
    fi
    cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DDUX_FUZZ=ON \
      -DDUX_DUCKDB_DIR="$duckdb" >"$build/configure.log" 2>&1 ||
      { cat "$build/configure.log" >&2; exit 1; }
  fi
  cmake --build "$build" --target "$@" -j"$(nproc)" >"$build/build.log" 2>&1 ||
    { tail -n 60 "$build/build.log" >&2; exit 1; }
) 9>"$build/.lock"
echo "$build"
