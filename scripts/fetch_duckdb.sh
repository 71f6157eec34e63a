#!/usr/bin/env bash
# Fetches DuckDB 1.4.4 (LTS) at pinned versions from the npm registry, checks the tarballs
# against pinned sha512 integrity values, and places libduckdb.so and duckdb.h under
# $1 (default build/_deps/duckdb). Install scripts are never run; only the two files are kept.
set -euo pipefail

DEST="${1:-build/_deps/duckdb}"
LIB_PKG="@duckdb/node-bindings-linux-x64@1.4.4-r.4"
LIB_SHA512="jBTL/WvfwxLToFa/pVHfT6elMtltJGnc3wSuxZD9OfMltit9YUdVFS37vBFQzXMT1Z8OWjtSjMh+zPKxOwHLHA=="
HDR_PKG="duckdb@1.4.4"
HDR_SHA512="hEJJ5hyVF0VLj3dmOLpsWrQR0b3d4Ykqtygm6iUXjHJDDnSqg/USKxcb5qvNrOhFYPgktayU6dXCtgPqcmmpog=="
STAMP="$DEST/.fetched-1.4.4-r.4"

if [[ -f "$STAMP" && -f "$DEST/lib/libduckdb.so" && -f "$DEST/include/duckdb.h" ]]; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch PKG SHA512 -> prints tarball path
  local pkg="$1" want="$2" tgz got
  tgz="$(cd "$work" && npm pack --ignore-scripts --silent "$pkg" 2>/dev/null | tail -n 1)"
  got="$(openssl dgst -sha512 -binary "$work/$tgz" | base64 -w0)"
  if [[ "$got" != "$want" ]]; then
    echo "fetch_duckdb: integrity mismatch for $pkg (got sha512-$got)" >&2
    exit 1
  fi
  echo "$work/$tgz"
}

lib_tgz="$(fetch "$LIB_PKG" "$LIB_SHA512")"
hdr_tgz="$(fetch "$HDR_PKG" "$HDR_SHA512")"
mkdir -p "$DEST/lib" "$DEST/include"
tar -xzf "$lib_tgz" -C "$work" package/libduckdb.so
tar -xzf "$hdr_tgz" -C "$work" package/src/duckdb/src/include/duckdb.h
cp "$work/package/libduckdb.so" "$DEST/lib/libduckdb.so"
cp "$work/package/src/duckdb/src/include/duckdb.h" "$DEST/include/duckdb.h"
touch "$STAMP"
echo "fetch_duckdb: DuckDB 1.4.4 in $DEST"
