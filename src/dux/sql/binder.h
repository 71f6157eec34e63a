// Binder: what the SQL compiler needs from a DuckDB connection, as an interface so that sql/
// does not depend on exec/ (exec implements it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/schema.h"

namespace dux::sql {

/// Rows of text cells, NULL as nullopt.
using TextRows = std::vector<std::vector<std::optional<std::string>>>;

/// Binds and runs small catalog queries for the compiler. Implementations are used from one
/// thread at a time. Errors carry DuckDB's message (first line, without the "LINE 1:" echo).
class Binder {
 public:
  virtual ~Binder() = default;
  /// Binds `select_sql` without running it and returns its output columns.
  virtual Result<pipeline::Schema> Describe(const std::string& select_sql) = 0;
  /// Runs `sql` and returns its rows as text.
  virtual Result<TextRows> QueryText(const std::string& sql) = 0;
};

}  // namespace dux::sql
