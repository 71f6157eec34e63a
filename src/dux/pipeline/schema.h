// Schema: the named, typed columns of a relation as DuckDB reports them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dux::pipeline {

struct Column {
  std::string name;
  std::string type;  ///< DuckDB's SQL type name, e.g. "BIGINT", "DECIMAL(18,3)", "INTEGER[]"
  bool operator==(const Column&) const = default;
};

/// Whether two column names denote the same DuckDB column (case-insensitive).
bool SameColumnName(const std::string& a, const std::string& b);

struct Schema {
  std::vector<Column> columns;

  /// Index of the column called `name`: an exact match first, then the only
  /// case-insensitive match (DuckDB identifiers are case-insensitive). nullopt if none.
  std::optional<size_t> Find(const std::string& name) const;
  bool operator==(const Schema&) const = default;
};

}  // namespace dux::pipeline
