// Session and Frame: the C++ API. A Session owns an embedded DuckDB; a Frame is a pipeline
// bound to a session, built by method chaining and run by Compute() and friends. This public
// header shows no protobuf, gRPC or libpq type (the test layering/public_header checks it):
// the coordinator's and the engine's types are only declared here.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dux/common/query_profile.h"
#include "dux/common/status.h"
#include "dux/common/telemetry.h"
#include "dux/exec/duckdb_connection.h"
#include "dux/exec/duckdb_profile.h"
#include "dux/exec/sink_writer.h"
#include "dux/exec/table.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/compiler.h"

namespace dux {

namespace coordinator {
struct ClusterOptions;
struct Plan;
class StageEvents;
}  // namespace coordinator
namespace engine {
class LocalEngine;
}  // namespace engine

struct SessionOptions {
  std::string database_path;  ///< empty: in memory
  int threads = 0;            ///< 0: DuckDB's default (all cores)
  std::string memory_limit;   ///< e.g. "4GB"; empty: DuckDB's default
  std::string temp_directory;
  /// Keeps the plans of distributed pipelines, to run them again without compiling and
  /// planning (docs/serve.md, "Plan cache"). A process that runs one pipeline (`dux run`)
  /// turns it off: the cache's key costs a listing of every source's files before planning.
  bool keep_plans = true;
};

class Frame;

/// What Session::ExplainAnalyze measured of one run (docs/observability.md, "explain
/// --analyze"); FormatAnalyzedRun and AnalyzedRunJson render it.
struct AnalyzedRun {
  /// Whether workers ran part of it (the profile has stages).
  bool distributed = false;
  /// The result's rows (counted, then discarded), or the rows a sink wrote.
  int64_t rows = 0;
  /// Wall time of the whole run, planning included.
  double seconds = 0;
  /// The stages the workers and the coordinator ran, with partitions, workers and
  /// exchanges; no stages for a run on this session alone.
  RunProfile profile;
  /// DuckDB's profile of the query this session ran itself: the whole pipeline when local,
  /// the finishing query over the gathered rows when distributed. Absent for a pipeline
  /// with a sink (the write is profiled by the stages alone).
  std::optional<exec::DuckDbProfileNode> duckdb_profile;
};

/// `run` as explain --analyze prints it: a summary line, then per stage its wall time,
/// rows in and out, bytes moved, peak memory, retries and spill, per worker the same, each
/// exchange's buckets and skew, and DuckDB's profile.
std::string FormatAnalyzedRun(const AnalyzedRun& run);
/// The same as one JSON document (explain --analyze --format json), exact numbers, for tools.
std::string AnalyzedRunJson(const AnalyzedRun& run);

/// One embedded DuckDB database and connection. Not thread-safe: use one session per
/// thread. Frames keep a pointer to their session and must not outlive it.
class Session {
 public:
  static Result<std::unique_ptr<Session>> Open(const SessionOptions& options = {});
  ~Session();

  /// ATTACHes a DuckDB database file under `alias`, or connects to a PostgreSQL database
  /// (type kPostgres, `path` its libpq connection string) for from_attached and insert_into.
  /// With `if_not_exists`, an alias already attached is kept as it is. A PostgreSQL
  /// connection failure is Unavailable with the connection string redacted; `read_only`
  /// makes the PostgreSQL session read-only.
  Status Attach(const pipeline::Attachment& attachment, bool if_not_exists = false);
  /// Per-run S3 settings (endpoint, region, URL style, TLS, profile: never credentials) over
  /// this process's AWS settings, for this session's s3:// paths and its workers' (each
  /// fragment carries them). Empty settings restore the process's. docs/s3.md.
  Status UseS3Settings(const pipeline::S3Settings& settings);

  /// From now on, pipelines run distributed on `cluster.workers` (docs/architecture.md section 4):
  /// the workers run what can be split and stream it back; this session finishes the rest
  /// (and the sink). Pipelines that cannot be split yet are refused, never answered wrongly.
  void Distribute(coordinator::ClusterOptions cluster);
  /// Back to single-process execution.
  void RunLocally();
  bool distributed() const { return cluster_ != nullptr; }

  /// Events of distributed runs (fan-out, each worker, merge); subscribe before running.
  Telemetry& telemetry() { return telemetry_; }

  /// Compiles and binds; every pipeline mistake is reported here, before anything runs.
  /// from_arrow inputs are decoded, and from_attached PostgreSQL tables read, into temporary
  /// tables that stay until the next Compile. When distributed, this also runs the workers'
  /// part and returns the query that finishes it from the gathered rows. The workers read a
  /// PostgreSQL source themselves (in slices with partition_by; WorkersReadPostgres); a
  /// pipeline that reads other attached tables runs here, on the coordinator, instead.
  Result<sql::CompiledQuery> Compile(const pipeline::Pipeline& pipeline);
  /// Runs the SELECT it is given once on connection(), say in a COPY, and returns the rows
  /// it produced. It also gets the result's columns, and whether its row order is defined
  /// (a sort_by that nothing undid).
  using RowConsumer = std::function<Result<int64_t>(const std::string& select_sql,
                                                    const pipeline::Schema&, bool ordered)>;
  /// Runs a pipeline without a sink and hands its result to `consume` as a SELECT; returns
  /// what `consume` returned. Locally that is Compile's query. Distributed, with `live` and
  /// nothing left for this session to do after the gather, the SELECT reads the workers'
  /// batches as they arrive, so the first rows are written while the workers run; then a
  /// partition that fails after it delivered rows fails the call instead of being retried
  /// (its rows may be written already). Otherwise the rows are gathered first (Compile), and
  /// every failed partition can be retried. When `consume` fails, the workers' fragments are
  /// cancelled.
  Result<int64_t> Stream(const pipeline::Pipeline& pipeline, const RowConsumer& consume, bool live);
  /// The SQL a pipeline runs (and its sink statement, if any).
  Result<std::string> Explain(const pipeline::Pipeline& pipeline);
  /// Runs a pipeline and reports how it ran (explain --analyze): locally or on the workers
  /// as Compute or Write would, but the result's rows are counted and discarded (a sink
  /// writes as usual). Collects the run's telemetry events (a profile per stage, partition,
  /// worker and exchange) and DuckDB's own profile of the query this session runs. Errors
  /// are those of running the pipeline.
  Result<AnalyzedRun> ExplainAnalyze(const pipeline::Pipeline& pipeline);
  /// Runs a pipeline without a sink and holds its result.
  Result<exec::Table> Compute(const pipeline::Pipeline& pipeline);
  /// Counts a pipeline's rows without materialising them.
  Result<int64_t> NumRows(const pipeline::Pipeline& pipeline);
  /// Runs a pipeline that ends in a sink.
  Result<exec::WriteReport> Write(const pipeline::Pipeline& pipeline);

  Frame From(pipeline::Pipeline pipeline);
  Frame FromParquet(std::string path, bool hive_partitioning = false, bool union_by_name = false);
  Frame FromCsv(pipeline::CsvSource csv);
  Frame FromNdjson(std::string path);
  Frame FromQuery(std::string sql);
  /// An Arrow IPC stream or file.
  Frame FromArrow(std::string path);
  /// A table of an attached database (see Attach): "table" or "schema.table"; `columns`
  /// reads only those; `partition_by` names the key that distributed reads slice by.
  Frame FromAttached(std::string alias, std::string table, std::string partition_by = "",
                     std::vector<std::string> columns = {});
  Frame FromValues(std::vector<std::string> columns, std::vector<std::vector<pipeline::Value>> rows,
                   std::vector<std::pair<std::string, std::string>> types = {});

  /// The session's DuckDB connection (for SQL of one's own next to the pipelines).
  exec::Connection& connection();

  /// Whether closing the session still has files to tidy: temporary files DuckDB spilled
  /// (closing removes them) or an attached database file (closing checkpoints its
  /// write-ahead log into it). A process may end without closing a session that holds none.
  bool HoldsFilesToClose() const;

 private:
  class PlanningPrefetch;
  struct Prepared;
  struct FinalStageEnd;
  class PlanCache;
  Session() = default;
  /// Compile, leaving the final stage open: the caller runs the query and ends it
  /// (FinalStageEnd).
  Result<sql::CompiledQuery> CompileToRun(const pipeline::Pipeline& pipeline);
  /// Write, without ending the final stage.
  Result<exec::WriteReport> WriteToSink(const pipeline::Pipeline& pipeline);
  /// What compiles and plans bind with: the current PlanningPrefetch's binder, else the
  /// connection.
  sql::Binder* binder();
  /// Compiles `pipeline` here and, when distributed, plans it on the cluster.
  Result<Prepared> Prepare(const pipeline::Pipeline& pipeline);
  /// The query that gives `pipeline`'s result: `prepared.local`, or, with a plan, the one
  /// that finishes the rows the plan's run gathered here.
  Result<sql::CompiledQuery> Finish(Prepared prepared, const pipeline::Pipeline& pipeline);
  /// Drops the gathered rows of the last plan run.
  void DropGathered();
  /// DropGathered, then loads the pipeline's inputs and
  /// compiles it here (engine::LocalEngine::Compile).
  Result<sql::CompiledQuery> CompileHere(const pipeline::Pipeline& pipeline, bool schema_only);
  /// The distributed plan of `pipeline` (`local`: its compile here); a PostgreSQL source the
  /// workers read (WorkersReadPostgres) is cut into slices, and its attachment goes to them.
  Result<coordinator::Plan> PlanOnCluster(const pipeline::Pipeline& pipeline,
                                          const sql::CompiledQuery& local);
  /// Runs `plan` on the workers, gathers their rows and returns what finishes `pipeline` here.
  Result<pipeline::Pipeline> RunPlan(const coordinator::Plan& plan,
                                     const pipeline::Pipeline& pipeline);
  /// Whether the workers read the source of `pipeline` from PostgreSQL themselves: it is a
  /// from_attached of a PostgreSQL attachment and no nested pipeline reads an attached table
  /// (those are read here, for the coordinator's part). Such a pipeline is compiled here
  /// without reading rows.
  bool WorkersReadPostgres(const pipeline::Pipeline& pipeline) const;
  /// Whether the whole of `pipeline` runs here: its source is an attached table that the
  /// workers do not read (a DuckDB file, or PostgreSQL when a nested pipeline also reads an
  /// attached table).
  bool SourceReadHere(const pipeline::Pipeline& pipeline) const;
  /// insert_into a PostgreSQL table when distributed: by the workers when the plan leaves
  /// the coordinator nothing to do after the gather (coordinator::InsertFromWorkers), else
  /// here.
  Result<exec::WriteReport> WritePostgresDistributed(const pipeline::Pipeline& pipeline);
  /// A directory write (exec::WritesDirectory) when distributed: the workers write their own
  /// part files when the plan leaves nothing to finish here (coordinator::RunAndWrite), else
  /// this session writes the finished result.
  Result<exec::WriteReport> WriteDistributed(const pipeline::Pipeline& pipeline);
  /// Explain of a distributed run (session_explain.cc).
  Result<std::string> ExplainDistributed(const pipeline::Pipeline& pipeline);
  /// Replaces the temporary `table` with an empty one of `select_sql`'s columns (explain
  /// binds the workers' SQL against such stand-ins for the tables they will have).
  Status EmptyTableLike(const std::string& table, const std::string& select_sql);
  Telemetry telemetry_;  ///< before engine_, which emits to it
  /// The stage "final" of the last plan run (docs/observability.md): started once the
  /// workers' rows are here, ended by the call that runs the finishing query.
  std::unique_ptr<coordinator::StageEvents> final_stage_;
  std::unique_ptr<engine::LocalEngine> engine_;
  std::unique_ptr<coordinator::ClusterOptions> cluster_;
  PlanningPrefetch* planning_ = nullptr;  ///< set while a distributed call plans
  /// The plans of distributed pipelines run before (coordinator::PlanCacheKey says which).
  std::unique_ptr<PlanCache> plans_;  ///< null when SessionOptions::keep_plans is off
  /// Whether the gathered table may exist (a plan ran), to be dropped by the next compile.
  bool gathered_ = false;
};

/// A pipeline bound to a session. Verbs return a new Frame and never fail; mistakes are
/// reported by the method that runs the pipeline, naming the verb.
class Frame {
 public:
  Frame(Session* session, pipeline::Pipeline pipeline)
      : session_(session), pipeline_(std::move(pipeline)) {}

  Frame Filter(std::string predicate) const;
  Frame Mutate(std::vector<std::pair<std::string, std::string>> columns) const;
  Frame Select(std::vector<std::string> columns) const;
  Frame Discard(std::vector<std::string> columns) const;
  Frame Rename(std::vector<std::pair<std::string, std::string>> renames) const;
  Frame DropNil(std::vector<std::string> columns = {}) const;
  Frame GroupBy(std::vector<std::string> columns) const;
  Frame Ungroup() const;
  Frame Summarise(std::vector<std::pair<std::string, std::string>> aggregates) const;
  Frame SortBy(std::vector<pipeline::SortKey> keys) const;
  Frame Head(int64_t n = 5) const;
  Frame Slice(int64_t offset, int64_t length) const;
  Frame Distinct(std::vector<std::string> columns = {}) const;
  Frame Join(const Frame& right, pipeline::JoinHow how = pipeline::JoinHow::kInner,
             std::vector<pipeline::JoinKey> on = {}, std::string suffix = "_right") const;
  Frame AsofJoin(const Frame& right, pipeline::JoinKey by,
                 pipeline::AsofCompare compare = pipeline::AsofCompare::kGreaterEqual,
                 std::vector<pipeline::JoinKey> on = {}, bool left = false,
                 std::string suffix = "_right") const;
  Frame ConcatRows(const std::vector<Frame>& others) const;
  Frame PivotWider(std::string names_from, std::vector<std::string> values_from) const;
  Frame PivotLonger(std::vector<std::string> columns, std::string names_to = "name",
                    std::string values_to = "value") const;

  /// Runs the pipeline and holds the whole result.
  Result<exec::Table> Compute() const;
  Result<std::vector<std::vector<pipeline::Value>>> ToRows() const;
  /// Column name and values, in column order.
  Result<std::vector<std::pair<std::string, std::vector<pipeline::Value>>>> ToColumns() const;
  Result<int64_t> NumRows() const;
  /// The first `n` rows.
  Result<exec::Table> Peek(int64_t n = 5) const;
  Result<std::string> Explain() const;

  Result<exec::WriteReport> ToParquet(pipeline::ToParquetSink sink) const;
  Result<exec::WriteReport> ToCsv(pipeline::ToCsvSink sink) const;
  Result<exec::WriteReport> ToNdjson(std::string path) const;
  Result<exec::WriteReport> InsertInto(std::string table, bool create = false,
                                       bool atomic = false) const;
  Result<exec::WriteReport> ToArrow(pipeline::ToArrowSink sink) const;

  const pipeline::Pipeline& pipeline() const { return pipeline_; }

 private:
  template <typename F>
  Frame With(F&& add) const {
    Frame copy = *this;
    add(copy.pipeline_);
    return copy;
  }
  Session* session_;
  pipeline::Pipeline pipeline_;
};

}  // namespace dux
