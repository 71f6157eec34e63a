#!/usr/bin/env bash
# Fetches DuckDB 1.4.4 (LTS) at pinned versions from the npm registry, checks the tarballs
# against pinned sha512 integrity values, and places under $1 (default build/_deps/duckdb):
# - lib/libduckdb.so (the library every module links, through duckdb.h);
# - include/duckdb.h (the C API, on every module's include path);
# - cxx/include/ (DuckDB's whole C++ header tree, its own duckdb.h included: only the
#   s3_filesystem module sees it, to register a file system, docs/s3.md "File system");
# - cxx/version.txt ("v1.4.4 6ddac802ff": the version and source id of the package the headers
#   came from, read from its pragma_version.cpp; CMake compares them with what libduckdb.so
#   reports and fails the build on a mismatch).
# Install scripts are never run; only those files are kept.
set -euo pipefail

DEST="${1:-build/_deps/duckdb}"
LIB_PKG="@duckdb/node-bindings-linux-x64@1.4.4-r.4"
LIB_SHA512="jBTL/WvfwxLToFa/pVHfT6elMtltJGnc3wSuxZD9OfMltit9YUdVFS37vBFQzXMT1Z8OWjtSjMh+zPKxOwHLHA=="
HDR_PKG="duckdb@1.4.4"
HDR_SHA512="hEJJ5hyVF0VLj3dmOLpsWrQR0b3d4Ykqtygm6iUXjHJDDnSqg/USKxcb5qvNrOhFYPgktayU6dXCtgPqcmmpog=="
STAMP="$DEST/.fetched-1.4.4-r.4-cxx"

if [[ -f "$STAMP" && -f "$DEST/lib/libduckdb.so" && -f "$DEST/include/duckdb.h" &&
      -f "$DEST/cxx/version.txt" ]]; then
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
tar -xzf "$hdr_tgz" -C "$work" package/src/duckdb/src/include \
  package/src/duckdb/src/function/table/version/pragma_version.cpp
src="$work/package/src/duckdb/src"
version="$(sed -n 's/^#define DUCKDB_VERSION "\(.*\)"$/\1/p' "$src/function/table/version/pragma_version.cpp")"
source_id="$(sed -n 's/^#define DUCKDB_SOURCE_ID "\(.*\)"$/\1/p' \
  "$src/function/table/version/pragma_version.cpp")"
if [[ -z "$version" || -z "$source_id" ]]; then
  echo "fetch_duckdb: no DUCKDB_VERSION / DUCKDB_SOURCE_ID in $HDR_PKG's pragma_version.cpp" >&2
  exit 1
fi
cp "$work/package/libduckdb.so" "$DEST/lib/libduckdb.so"
cp "$src/include/duckdb.h" "$DEST/include/duckdb.h"
rm -rf "$DEST/cxx"
mkdir -p "$DEST/cxx"
cp -R "$src/include" "$DEST/cxx/include"
echo "$version $source_id" >"$DEST/cxx/version.txt"
rm -f "$DEST"/.fetched-*
touch "$STAMP"
echo "fetch_duckdb: DuckDB 1.4.4 in $DEST"
