// Table: a materialised result (schema and rows of Values), and its printing.
#pragma once

#include <string>
#include <vector>

#include "dux/pipeline/schema.h"
#include "dux/pipeline/value.h"

namespace dux::exec {

/// A result held in memory, row-major. Columns of types without a plain C++ form (dates,
/// decimals, lists, ...) hold typed values with DuckDB's text form.
struct Table {
  pipeline::Schema schema;
  std::vector<std::vector<pipeline::Value>> rows;
  /// Rows of the result not held, between the first and the second half of `rows`
  /// (Connection::QueryEnds).
  size_t omitted_rows = 0;

  /// The result's rows, held or omitted.
  size_t NumRows() const { return rows.size() + omitted_rows; }
  /// Column-major copy: one vector per column, in schema order.
  std::vector<std::vector<pipeline::Value>> ToColumns() const;
  /// The result as DuckDB's CLI prints it: a box with names, types and rows; long results
  /// show their first and last `max_rows / 2` rows.
  static constexpr size_t kFormatRows = 40;
  std::string Format(size_t max_rows = kFormatRows) const;
};

}  // namespace dux::exec
