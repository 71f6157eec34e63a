// The SQL compiler: a pipeline becomes one DuckDB query with one CTE per verb, bound verb by
// verb so that every mistake is reported with the verb (and line and column) that made it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/pipeline/schema.h"
#include "dux/sql/binder.h"

namespace dux::sql {

struct Cte {
  std::string name;  ///< quoted
  std::string body;  ///< a SELECT statement
};

/// A compiled (and fully bound) pipeline, without its sink.
struct CompiledQuery {
  std::vector<Cte> ctes;
  std::string output;       ///< quoted name of the CTE holding the result
  pipeline::Schema schema;  ///< the result's columns
  bool ordered = false;     ///< row order is defined by a sort_by that nothing undid
  /// The schema after each verb of the pipeline (not of nested ones), in order.
  std::vector<pipeline::Schema> verb_schemas;

  /// `WITH ... SELECT * FROM output` on one line per CTE.
  std::string Sql() const;
};

/// Compiles pipelines against a Binder (a DuckDB connection that sees the same files and
/// tables the query will). Not thread-safe; one Compiler per compile is fine.
class Compiler {
 public:
  explicit Compiler(Binder* binder) : binder_(binder) {}

  /// Compiles and binds `pipeline` (its sink is ignored; see SinkStatement). Errors are
  /// InvalidArgument for mistakes in the pipeline, prefixed with the verb and suffixed with
  /// the position when known: `filter: unknown column "amount" (line 2, col 10)`.
  Result<CompiledQuery> Compile(const pipeline::Pipeline& pipeline);

  /// Compiles `pipeline` again and runs each verb once over one row of NULLs in place of its
  /// input (of the types bound): a mistake DuckDB finds only when rows flow, whatever they
  /// hold (`l IN (0, 1)` on a list: a cast it cannot do), fails there and is reported as
  /// Compile reports a mistake, with the verb and position. OK when every verb runs; a
  /// failure that depends on the data is not found this way. Meant for a query that failed
  /// while running: one-row queries are cheap, but not free on every compile.
  Status Probe(const pipeline::Pipeline& pipeline);

 private:
  Binder* binder_;
};

/// The (left, right) key columns `op` (a join) matches on, resolved against both sides'
/// columns as the compile resolves them (`on` empty: every column name both sides share).
Result<std::vector<pipeline::JoinKey>> ResolveJoinKeys(const std::vector<pipeline::JoinKey>& on,
                                                       const pipeline::Schema& left,
                                                       const pipeline::Schema& right,
                                                       const pipeline::Op& op);

/// The (unquoted) name of the temporary table that holds the Arrow IPC file or stream at `path`
/// while a pipeline reading it runs (from_arrow). The caller loads it before compiling.
std::string ArrowTableName(const std::string& path);

/// The (unquoted) name of the temporary table (or view) that holds an attached database's
/// table while a pipeline reading it (from_attached) runs; the same for equal alias, table
/// and columns. The caller loads it before compiling.
std::string AttachedTableName(const pipeline::AttachedSource& source);

/// The statement that writes `select_sql` (columns `schema`) to `target` for a file sink
/// (COPY ... TO), or into the table for insert_into (INSERT ... BY NAME or CREATE TABLE AS).
/// `target` replaces the sink's path: writers write to a temporary name first. With
/// `file_pattern`, a to_parquet with partition_by names its files by that DuckDB
/// FILENAME_PATTERN (e.g. "part-00003-<id>-c{i}") and writes beside what the target already
/// holds (OVERWRITE_OR_IGNORE: other partitions of the same write), the pattern keeping
/// each writer's names apart.
Result<std::string> SinkStatement(const pipeline::Sink& sink, const std::string& select_sql,
                                  const pipeline::Schema& schema, const std::string& target,
                                  const std::string& file_pattern = "");

}  // namespace dux::sql
