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

  size_t NumRows() const { return rows.size(); }
  /// Column-major copy: one vector per column, in schema order.
  std::vector<std::vector<pipeline::Value>> ToColumns() const;
  /// The result as DuckDB's CLI prints it: a box with names, types and rows; long results
  /// show their first and last `max_rows / 2` rows.
  std::string Format(size_t max_rows = 40) const;
};

}  // namespace dux::exec
