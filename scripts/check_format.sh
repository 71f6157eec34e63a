#!/usr/bin/env bash
# Fails (listing the files) when a tracked C++ source differs from .clang-format's style.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' | grep -v '^fuzz/corpus/')
# One clang-format for every file (a process per file took a minute): each violation is a
# "FILE:LINE:COL: error: ..." line.
status=0
out="$(clang-format --dry-run -Werror "${files[@]}" 2>&1)" || status=$?
mapfile -t bad < <(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: .*/\1/p' <<<"$out" | sort -u)
if ((${#bad[@]})); then
  echo "not formatted (run clang-format -i): ${bad[*]}"
  exit 1
fi
if ((status != 0)); then
  echo "clang-format failed: $out"
  exit 1
fi
echo "${#files[@]} files formatted"
