#!/usr/bin/env bash
# Rebuilds the committed corpus fuzz/corpus/ipc_reader/: fresh seeds (ipc_make_seed_corpus,
# and `dux run --format arrow` when build/dux exists), the inputs committed now, the work
# corpus of past runs and any directories given, minimised together with libFuzzer's
# -merge=1. Reproducers (files named repro-*) are kept as they are. See docs/fuzzing.md.
#
# Usage: fuzz/make_corpus.sh [EXTRA_DIR...]
# Environment: as fuzz/build.sh; DUX_BIN (default build/dux).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$root/fuzz/corpus/ipc_reader
build=$("$root/fuzz/build.sh" ipc_reader_fuzzer ipc_make_seed_corpus)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/seeds" "$tmp/merged" "$tmp/repro" "$corpus" "$build/corpus/ipc_reader"

"$build/fuzz/ipc_make_seed_corpus" "$tmp/seeds"
dux=${DUX_BIN:-$root/build/dux}
if [[ -x $dux ]]; then
  for c in none lz4 zstd; do
    "$dux" run 'from_query("SELECT * FROM test_all_types()")' --format arrow \
      --arrow-compression "$c" -o "$tmp/seeds/dux-test_all_types-$c.arrow"
  done
  # Two batches (DuckDB's 2048-row vectors), an ENUM as a dictionary, a list with nulls.
  cat >"$tmp/two_batches.dux" <<'DUX'
from_query("SELECT (range % 7)::TINYINT AS n, (range % 3)::VARCHAR::ENUM('0', '1', '2') AS e, CASE WHEN range % 5 = 0 THEN NULL ELSE [range % 2] END AS l FROM range(2100)")
DUX
  "$dux" run -f "$tmp/two_batches.dux" --format arrow --arrow-compression zstd \
    -o "$tmp/seeds/dux-two_batches-zstd.arrow"
else
  echo "make_corpus.sh: no $dux (build dux first): no seeds from dux run" >&2
fi

find "$corpus" -maxdepth 1 -name 'repro-*' -exec cp {} "$tmp/repro/" \;
find "$corpus" -maxdepth 1 -type f ! -name 'repro-*' -exec cp {} "$tmp/seeds/" \;
# Without the known-finding masks: an input that trips a check is left out (only repro-* files
# carry findings). Edges only (-use_counters=0): a few hundred files instead of thousands.
unset UBSAN_OPTIONS
"$build/fuzz/ipc_reader_fuzzer" -merge=1 -use_counters=0 "$tmp/merged" "$tmp/seeds" \
  "$build/corpus/ipc_reader" "$@" 2>"$tmp/merge.log" || { tail -n 30 "$tmp/merge.log" >&2; exit 1; }
grep -E '^MERGE-OUTER: [0-9]+ new files' "$tmp/merge.log" || true

find "$corpus" -maxdepth 1 -type f -delete
cp -r "$tmp/merged/." "$tmp/repro/." "$corpus/"
echo "make_corpus.sh: $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1) in $corpus"
