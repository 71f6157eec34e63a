// The pipeline language: text such as `from_csv("x.csv") |> filter(a > 1)` parsed into the IR.
#pragma once

#include <string_view>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"

namespace dux::pipeline {

/// Parses pipeline-language text: zero or more attach statements, then one pipeline.
///
/// Expressions are kept as the DuckDB SQL the user wrote (trimmed, `#` comments removed) and
/// are not checked here; binding against the source schema happens later. Every source, verb,
/// sink and expression carries the line and column (1-based, columns in UTF-8 code points)
/// where it was written. Any mistake is Status::InvalidArgument with a one-line message that
/// ends with " (line L, col C)". Never fails for any other reason and never crashes, whatever
/// the input. Thread-safe: holds no state between calls.
Result<Script> ParseScript(std::string_view text);

}  // namespace dux::pipeline
