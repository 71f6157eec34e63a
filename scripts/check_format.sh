#!/usr/bin/env bash
# Fails (listing the files) when a tracked C++ source differs from .clang-format's style.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' | grep -v '^fuzz/corpus/')
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "not formatted (run clang-format -i): ${bad[*]}"
  exit 1
fi
echo "${#files[@]} files formatted"
