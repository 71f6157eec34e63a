// The from_attached sources of one pipeline, made readable by its compiled
// query under sql::AttachedTableName: PostgreSQL tables copied into temporary DuckDB tables,
// DuckDB files' tables behind temporary views.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/common/telemetry.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/pg/connection.h"
#include "dux/pg/slice.h"
#include "dux/pipeline/pipeline.h"

namespace dux::engine {

/// An attached database as the session holds it.
struct AttachedDatabase {
  pipeline::Attachment attachment;
  pg::Connection* postgres = nullptr;  ///< the session's connection, for postgres attachments
};

/// The loaded from_attached sources of one pipeline; dropped when destroyed. Borrows the
/// DuckDB connection, which must outlive it. Not thread-safe.
class AttachedTables {
 public:
  enum class Mode {
    kData,        ///< read the rows (to run the pipeline)
    kSchemaOnly,  ///< create empty tables of the right columns (to bind or explain it)
  };
  using Finder = std::function<const AttachedDatabase*(const std::string& alias)>;

  /// Loads every from_attached source of `pipeline` and of its nested pipelines, each
  /// (alias, table, columns) once. A PostgreSQL source whose table is read by no other
  /// source also gets the simple conjuncts of the filters right after it pushed into
  /// PostgreSQL's query (pg/pushdown.h; the filters still run in DuckDB). Errors are
  /// "from_attached: ..." with the source's position: an unknown alias, a missing table or
  /// column, a type dux cannot read, a lost connection. `telemetry` (may be null) gets a
  /// "postgres.read.stop" event per PostgreSQL table read.
  static Result<std::unique_ptr<AttachedTables>> Load(exec::Connection& connection,
                                                      const pipeline::Pipeline& pipeline,
                                                      const Finder& find, Mode mode,
                                                      const Telemetry* telemetry);
  ~AttachedTables();

  /// "-- from_attached ..." lines saying where each source's rows come from (connection
  /// strings redacted), for explain; "" when the pipeline reads no attached table.
  const std::string& explain() const { return explain_; }

 private:
  explicit AttachedTables(exec::Connection& connection) : connection_(connection) {}
  exec::Connection& connection_;
  std::vector<std::string> tables_;  ///< temporary tables to drop
  std::vector<std::string> views_;   ///< temporary views to drop
  std::string explain_;
};

/// The pg/slice.h form of a slice of the IR.
pg::SliceMethod SliceMethodOf(const pipeline::AttachedSlice& slice);
std::optional<pg::KeyRange> KeyRangeOf(const pipeline::AttachedSlice& slice);

}  // namespace dux::engine
