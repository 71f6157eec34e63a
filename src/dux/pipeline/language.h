// The pipeline language: text such as `from_csv("x.csv") |> filter(a > 1)` parsed into the IR.
#pragma once

#include <string_view>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"

namespace dux::pipeline {

/// Parses pipeline-language text: zero or more attach statements, then one pipeline.
///
///   attach("alias", "file.duckdb", read_only: true)
///   from_parquet("lake/**/*.parquet", hive_partitioning: true)
///   |> filter(amount > 100)            # comments run to the end of the line
///   |> join(from_csv("r.csv") |> select(id, name), on: [id: rid], how: left)
///   |> to_parquet("out/", partition_by: [year])
///
/// Arguments are positional or `name: value`; strings are double-quoted with backslash
/// escapes; names are identifiers or double-quoted SQL identifiers; expressions are DuckDB
/// SQL kept as written (trimmed, `#` comments removed) and not checked here, binding
/// against the source schema happens later. A trailing comma is allowed in argument lists
/// and lists, and a call without arguments may drop its parentheses (`|> ungroup`).
///
/// Every source, verb, sink and expression carries the line and column (1-based, columns in
/// UTF-8 code points) where it was written. Any mistake is Status::InvalidArgument with a
/// one-line message ending in " (line L, col C)" (only "empty pipeline" has no position).
/// Never fails for any other reason and never crashes, whatever the input; nested pipelines
/// deeper than 64 are an error. Thread-safe: holds no state between calls.
Result<Script> ParseScript(std::string_view text);

}  // namespace dux::pipeline
