#!/usr/bin/env bash
# Installs what a fresh Debian machine is missing, fetches DuckDB, configures and builds dux
# into build/. Safe to re-run: every step is skipped when already done, builds are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake g++ make pkg-config openssl nodejs npm
  libprotobuf-dev protobuf-compiler libgtest-dev libgmock-dev libcli11-dev libfmt-dev
  nlohmann-json3-dev hyperfine clang-format clang clang-tidy libclang-rt-14-dev ccache shellcheck
  liblz4-dev libzstd-dev libflatbuffers-dev flatbuffers-compiler
  libgrpc++-dev protobuf-compiler-grpc iproute2 libpq-dev postgresql-15 python3
  libcurl4-openssl-dev libssl-dev libtinyxml2-dev
  # elastic pools: a real Slurm cluster in the tests and the benchmark (test/pool/)
  slurm-wlm munge
  # the HTTP server of http/ (/metrics, status pages); the S3 tests' fault proxy uses it too
  libcpp-httplib-dev
  # for tests only: the reference SigV4 signer, a browser for the status page's test
  python3-botocore chromium)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from outside Debian (e.g. a preinstalled node); accept any working npm.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
want=()
for p in "${missing[@]}"; do [[ -n "$p" ]] && want+=("$p"); done
if ((${#want[@]})); then
  echo "setup: installing ${want[*]}"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${want[@]}" >/dev/null
fi

scripts/fetch_duckdb.sh build/_deps/duckdb

# Node packages, pinned, installed into build/_deps/node when one is missing or of another
# version (all in one npm call, so that none of them is pruned as extraneous; no lock file):
# - apache-arrow for JavaScript: the independent implementation test/interop checks dux's
#   Arrow IPC against;
# - s3rver: the S3-compatible server the s3/ tests start on loopback (test/support/s3_server.h).
NODE_PACKAGES=(apache-arrow@21.1.0 s3rver@3.7.1)
node_missing=0
for spec in "${NODE_PACKAGES[@]}"; do
  name=${spec%@*}; version=${spec##*@}
  grep -q "\"version\": \"$version\"" "build/_deps/node/node_modules/$name/package.json" \
    2>/dev/null || node_missing=1
done
if ((node_missing)); then
  echo "setup: installing ${NODE_PACKAGES[*]} into build/_deps/node"
  mkdir -p build/_deps/node
  npm install --prefix build/_deps/node --no-package-lock --ignore-scripts --no-audit --no-fund \
    "${NODE_PACKAGES[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE="${DUX_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j2
