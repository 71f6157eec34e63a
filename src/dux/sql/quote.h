// Quoting of identifiers and rendering of values as DuckDB SQL literals: the only way a
// name or a value from outside reaches generated SQL.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/value.h"

namespace dux::sql {

/// `name` as a double-quoted DuckDB identifier ("my ""col"""). Any name is safe.
std::string QuoteIdentifier(std::string_view name);

/// Comma-separated quoted identifiers.
std::string QuoteIdentifiers(const std::vector<std::string>& names);

/// `text` as a DuckDB string literal; quotes doubled, NUL bytes spliced in with chr(0).
std::string QuoteString(std::string_view text);

/// A DuckDB list literal of strings: ['a', 'b'] (a file list for read_parquet).
std::string StringList(const std::vector<std::string>& texts);

/// A literal that DuckDB reads back as exactly `value`, with its type: BIGINT for Int,
/// UBIGINT for UInt, DOUBLE for Double (inf and nan included), VARCHAR, BLOB, BOOLEAN,
/// and CAST('text' AS type) for typed values. NULL renders as NULL. Fails only for a typed
/// value whose type name is not a well-formed type (see CheckTypeName).
Result<std::string> RenderLiteral(const pipeline::Value& value);

/// OK when `type` can be spliced after `AS` without leaving the cast: letters, digits,
/// `_`, spaces, commas, balanced () and [], and "quoted" field names. DuckDB itself then
/// decides whether the type exists.
Status CheckTypeName(std::string_view type);

}  // namespace dux::sql
