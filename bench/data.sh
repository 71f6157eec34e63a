# shellcheck shell=bash
# Sourced by the benchmark scripts: `bench_data DATASET ROWS FILES DIR` writes the rows of
# `dux generate DATASET` as FILES parquet files into DIR, unless DIR is there already.
# Needs DUX (the dux binary) set.
bench_data() {
  if [[ ! -d "$4" ]]; then
    "$DUX" generate "$1" --rows "$2" --files "$3" --out "$4" >&2
  fi
}
