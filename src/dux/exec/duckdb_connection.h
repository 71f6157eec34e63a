// Database and Connection: an embedded DuckDB and the statements run on it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "dux/common/status.h"
#include "dux/exec/handles.h"
#include "dux/exec/table.h"
#include "dux/exec/url_files.h"
#include "dux/sql/binder.h"

namespace dux::exec {

/// An open DuckDB database (in memory for an empty path). Thread-safe, as DuckDB's database
/// is; connections made from it must not outlive it.
class Database {
 public:
  /// `options` are DuckDB settings (threads, memory_limit, temp_directory, ...).
  static Result<Database> Open(const std::string& path = "",
                               const std::map<std::string, std::string>& options = {});
  duckdb_database get() const { return db_.get(); }

  /// What dux does with URLs in this database (url_files.h); null until the opener sets it
  /// (engine::OpenDatabase does), and URLs then reach only DuckDB's own readers and COPY.
  void set_url_files(std::shared_ptr<const UrlFiles> files) { url_files_ = std::move(files); }
  const std::shared_ptr<const UrlFiles>& url_files() const { return url_files_; }

 private:
  DatabaseHandle db_;
  std::shared_ptr<const UrlFiles> url_files_;
};

/// One DuckDB connection. Every statement goes through a prepared statement, so a text
/// holds exactly one statement and nothing can be appended after it. Not thread-safe: one
/// thread at a time. Errors are DuckDB's message on one line (the "LINE 1:" echo removed).
class Connection : public sql::Binder {
 public:
  static Result<Connection> Open(const Database& db);

  /// Runs one statement; returns the rows it changed or wrote (0 for queries).
  Result<int64_t> Execute(const std::string& sql);
  /// Drops the temporary table `table` (unquoted name) if it exists; best effort, for
  /// clean-up paths that must not fail.
  void DropTemporaryTable(const std::string& table);
  /// Runs a query and holds its result; `schema` as returned by Describe for the same text.
  Result<Table> Query(const std::string& select_sql, const pipeline::Schema& schema);
  Result<Table> Query(const std::string& select_sql);
  /// As Query, but holds only the result's first and last `per_end` rows, counting those
  /// between them in the table's `omitted_rows`: what a printed box shows, without converting
  /// every row of a long result.
  Result<Table> QueryEnds(const std::string& select_sql, const pipeline::Schema& schema,
                          size_t per_end);

  Result<pipeline::Schema> Describe(const std::string& select_sql) override;
  /// Columns must be VARCHAR (cast them in the query).
  Result<sql::TextRows> QueryText(const std::string& sql) override;
  /// Called in process, without a statement (s3_filesystem::CallTextFunction): planning
  /// parses and renders expressions with dozens of these.
  Result<std::optional<std::string>> CallText(const std::string& function,
                                              const std::string& argument) override;
  /// QueryText for a statement asked again and again (a worker's memory samples, taken at
  /// the end of every fragment): prepared at its first run and kept with the connection.
  Result<sql::TextRows> QueryTextPrepared(const std::string& sql);

  /// Makes DuckDB track the progress of this connection's queries (duckdb_query_progress),
  /// printing nothing: its progress bar on, the bar's printing off. Set in process
  /// (s3_filesystem::SetLocalBoolean), not by two SET statements.
  Status TrackProgress();

  /// Prepares one statement; DuckDB's error as InvalidArgument.
  Result<PreparedHandle> Prepare(const std::string& sql);

  /// Stops the statement running on this connection (from another thread).
  void Interrupt();
  duckdb_connection get() const { return con_.get(); }
  /// The database's UrlFiles (null when it has none).
  const UrlFiles* url_files() const { return url_files_.get(); }

 private:
  Result<ResultHandle> Run(const std::string& sql);
  Result<ResultHandle> RunPrepared(PreparedHandle& prepared);
  /// The rows of a result of VARCHAR columns (`what` names the statement in the error).
  static Result<sql::TextRows> TextOf(ResultHandle& result, const std::string& what);
  ConnectionHandle con_;
  std::shared_ptr<const UrlFiles> url_files_;
  /// QueryTextPrepared's statements, by text; destroyed before the connection.
  std::map<std::string, PreparedHandle> statements_;
};

/// DuckDB's message made one line: its first line (and a did-you-mean candidate, if any).
std::string CleanDuckDbError(const char* message);

}  // namespace dux::exec
