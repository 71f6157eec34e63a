// Binder: what the SQL compiler needs from a DuckDB connection, as an interface so that sql/
// does not depend on exec/ (exec implements it).
#pragma once

#include <map>
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

/// A Binder that binds each distinct SELECT once and passes QueryText through: for one
/// planning pass, which describes some sources and sides more than once (about 1 ms each).
/// A source changed meanwhile is read by the query itself, which then fails or differs as
/// DuckDB's would. Failures are not kept.
class DescribeOnce : public Binder {
 public:
  explicit DescribeOnce(Binder* inner) : inner_(inner) {}
  Result<pipeline::Schema> Describe(const std::string& select_sql) override {
    auto it = known_.find(select_sql);
    if (it != known_.end()) return it->second;
    DUX_ASSIGN_OR_RETURN(pipeline::Schema schema, inner_->Describe(select_sql));
    known_.emplace(select_sql, schema);
    return schema;
  }
  Result<TextRows> QueryText(const std::string& sql) override { return inner_->QueryText(sql); }

 private:
  Binder* inner_;
  std::map<std::string, pipeline::Schema> known_;
};

}  // namespace dux::sql
