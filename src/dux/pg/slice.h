// Slices of a PostgreSQL table for distributed reads: the predicate PostgreSQL evaluates so
// that each of N readers gets a disjoint part and together they get every row exactly once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dux/common/status.h"
#include "dux/pg/catalog.h"
#include "dux/pg/connection.h"

namespace dux::pg {

enum class SliceMethod {
  /// `((key % N) + N) % N = i`: integer keys (negative keys included).
  kModulus,
  /// `((hashtext(key::text) % N) + N) % N = i`: any key with a text form.
  kHash,
  /// Equal-width ranges of [min, max] of an integer key; keys outside (rows inserted since
  /// min and max were read) fall into the first or the last slice.
  kRange,
};

/// The default method for a key of type `type`: kModulus for integer types, else kHash.
/// InvalidArgument naming the column for arrays, which have no stable text order here.
Result<SliceMethod> DefaultSliceMethod(const ColumnType& type, const std::string& column);

/// The bounds kRange splits, read from the table (`SELECT min(key), max(key)`).
struct KeyRange {
  int64_t min = 0;
  int64_t max = 0;
};

/// Reads the bounds of integer key `column` of `table` for kRange (one aggregate query,
/// served by an index on the key if there is one); nullopt for an empty table or all-NULL
/// key.
Result<std::optional<KeyRange>> ReadKeyRange(Connection& connection, const TableName& table,
                                             const std::string& column);

/// The PostgreSQL predicate selecting slice `index` of `count` over the key column `column`
/// (unquoted). Rows whose key is NULL belong to slice 0. With `count` 1 the predicate is
/// "" (the whole table). `range` is required for kRange (without one, or with an empty
/// table, every row goes to slice 0). InvalidArgument unless 0 <= index < count. Pure.
Result<std::string> SlicePredicate(const std::string& column, SliceMethod method, int index,
                                   int count, const std::optional<KeyRange>& range = std::nullopt);

}  // namespace dux::pg
