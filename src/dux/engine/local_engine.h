// LocalEngine: runs pipelines in one process on one DuckDB connection (docs/architecture.md
// section 5). It holds what a pipeline run here needs besides the connection: the attached
// databases (DuckDB files ATTACHed to the database, PostgreSQL through libpq) and the
// current pipeline's loaded inputs (from_arrow files, from_attached tables). A session's
// local runs and the coordinator's own part use it, and so does every worker fragment.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/common/telemetry.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/sink_writer.h"
#include "dux/pg/connection.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"
#include "dux/sql/compiler.h"

namespace dux::engine {

class AttachedTables;

/// Not thread-safe: one engine per thread. Owns its connection; shares the database.
class LocalEngine {
 public:
  /// A new connection to `db`, which other engines may share (a worker's fragments see the
  /// same registered tables and attached databases). `telemetry` (may be null) gets the
  /// PostgreSQL read and write events; it must outlive the engine.
  static Result<std::unique_ptr<LocalEngine>> Open(std::shared_ptr<exec::Database> db,
                                                   const Telemetry* telemetry = nullptr);
  ~LocalEngine();

  /// ATTACHes a DuckDB database file under `alias`, or connects to a PostgreSQL database
  /// (type kPostgres, `path` its libpq connection string) for from_attached and insert_into.
  /// With `if_not_exists`, an alias already attached (by any connection of the database, or
  /// by this engine for PostgreSQL) is kept as it is. A PostgreSQL connection failure is
  /// Unavailable with the connection string redacted; `read_only` makes the PostgreSQL
  /// session read-only.
  Status Attach(const pipeline::Attachment& attachment, bool if_not_exists = false);
  const std::vector<pipeline::Attachment>& attachments() const { return attachments_; }
  /// Applies per-run S3 settings (the s3 statement) to this engine's connection, over the
  /// process's AWS settings (s3_filesystem::UseS3Settings); empty settings restore those.
  /// Errors name the setting and the statement's position.
  Status UseS3Settings(const pipeline::S3Settings& settings);
  const pipeline::S3Settings& s3_settings() const { return s3_settings_; }
  /// Begins a new run on this engine's connection (s3_filesystem::UseS3Run): what S3 said
  /// about an object during the run answers the run's later opens of it. Call it when a
  /// pipeline starts (on a worker: a fragment).
  Status BeginRun();
  /// Gives `connection` (another connection of this engine's database, e.g. one that reads
  /// ahead for the planning) this engine's S3 settings and run.
  Status ShareRunWith(exec::Connection& connection) const;
  /// For explain: a "-- s3: ..." line naming the endpoint, region, URL style and where the
  /// credentials come from (never their values), when `explained` names an s3:// path or the
  /// run has S3 settings; else "".
  std::string ExplainS3(const std::string& explained) const;
  /// The attachment called `alias` (exactly, else ignoring case), or null.
  const pipeline::Attachment* FindAttachment(const std::string& alias) const;
  /// The connection of the PostgreSQL attachment `alias` (found as FindAttachment finds it),
  /// or null when there is none.
  pg::Connection* postgres(const std::string& alias);
  /// For an insert_into whose table "alias.rest" names a PostgreSQL attachment: that
  /// attachment (else null), with `rest` (the table inside it) in `*table`.
  const pipeline::Attachment* PostgresTarget(const pipeline::Sink& sink, std::string* table) const;

  /// Drops the tables of the last compiled pipeline's inputs (from_arrow, attached tables
  /// read here), as the next Compile does first; for a pipeline run without compiling.
  void ReleaseInputs();

  /// Drops the previous pipeline's inputs, loads this one's from_arrow files and
  /// from_attached tables (attached tables without their rows when `schema_only`) into
  /// temporary tables that stay until the next call, and compiles the pipeline, binding
  /// through `binder` (null: the connection). Every pipeline mistake is reported here.
  Result<sql::CompiledQuery> Compile(const pipeline::Pipeline& pipeline, bool schema_only = false,
                                     sql::Binder* binder = nullptr);
  /// From now on every query Compile returns is first given to `check`, whose error Compile
  /// returns instead (a worker refuses a fragment that names another query's tables).
  void CheckCompiledQueries(std::function<Status(const sql::CompiledQuery&)> check) {
    check_ = std::move(check);
  }
  /// "-- from_attached ..." lines of the last Compile (connection strings redacted).
  const std::string& attached_explain() const;

  /// `failed`, the error of running `pipeline`, as the mistake of the verb that makes it
  /// fail whatever the data, when sql::Compiler::Probe finds one (verb and position in the
  /// message); else `failed` itself.
  Status RunError(const pipeline::Pipeline& pipeline, Status failed);

  /// Checks a file sink's target before anything runs (exec::ClassifyOutput), with the
  /// sink's verb and position in the error; OK for insert_into, directory writes (checked as
  /// they start) and URLs.
  static Status CheckOutput(const pipeline::Sink& sink);
  /// Runs a pipeline that ends in a sink, here: files all or nothing (exec::WriteSink),
  /// insert_into a DuckDB table or a PostgreSQL attachment's table (WritePostgres).
  Result<exec::WriteReport> Write(const pipeline::Pipeline& pipeline);
  /// insert_into a table of a PostgreSQL attachment, of `query`'s rows.
  Result<exec::WriteReport> WritePostgres(const pipeline::Sink& sink,
                                          const sql::CompiledQuery& query);
  /// The SQL a pipeline runs here, its inputs and its sink statement, for explain.
  Result<std::string> Explain(const pipeline::Pipeline& pipeline);

  exec::Connection& connection() { return connection_; }
  const std::shared_ptr<exec::Database>& database() const { return db_; }

 private:
  class ArrowSources;
  LocalEngine(std::shared_ptr<exec::Database> db, exec::Connection connection,
              const Telemetry* telemetry);
  std::shared_ptr<exec::Database> db_;
  exec::Connection connection_;
  const Telemetry* telemetry_;
  std::unique_ptr<ArrowSources> arrow_;
  std::unique_ptr<AttachedTables> attached_;
  std::vector<pipeline::Attachment> attachments_;
  pipeline::S3Settings s3_settings_;
  std::string run_;
  /// The connections of PostgreSQL attachments, by alias as attached.
  std::map<std::string, std::unique_ptr<pg::Connection>> postgres_;
  std::function<Status(const sql::CompiledQuery&)> check_;  // see CheckCompiledQueries
};

}  // namespace dux::engine
