#include "dux/api/session.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "dux/api/attached_tables_internal.h"
#include "dux/dist/gather.h"
#include "dux/dist/postgres.h"
#include "dux/dist/write.h"
#include "dux/exec/arrow_bridge.h"
#include "dux/exec/output_target.h"
#include "dux/pg/catalog.h"
#include "dux/pg/writer.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/quote.h"

namespace dux {

using pipeline::Pipeline;

namespace {

// The DuckDB settings OpenDatabase gives a database.
std::map<std::string, std::string> DatabaseSettings(const SessionOptions& options) {
  std::map<std::string, std::string> settings;
  // Arrow leaves DuckDB losslessly: types without an exact Arrow match (HUGEINT beyond
  // decimal128(38), UHUGEINT, TIME WITH TIME ZONE, BIT, ...) travel as "duckdb.*" extension
  // types that DuckDB reads back as themselves and other readers see as their storage type.
  settings["arrow_lossless_conversion"] = "true";
  if (options.threads > 0) settings["threads"] = std::to_string(options.threads);
  if (!options.memory_limit.empty()) settings["memory_limit"] = options.memory_limit;
  if (!options.temp_directory.empty()) settings["temp_directory"] = options.temp_directory;
  return settings;
}

// Runs one distributed query between the events query.start and query.stop (with the rows
// `rows_of` counts in its result), or query.exception.
template <typename Run, typename RowsOf>
auto Traced(const dist::Telemetry& telemetry, Run run, RowsOf rows_of) -> decltype(run()) {
  telemetry.Emit({"query.start", {}, {{"mode", "distributed"}}});
  auto result = run();
  if (!result.ok()) {
    telemetry.Emit({"query.exception", {}, {{"error", result.status().message()}}});
    return result;
  }
  telemetry.Emit({"query.stop", {{"rows", static_cast<double>(rows_of(*result))}}, {}});
  return result;
}

}  // namespace

Result<exec::Database> Session::OpenDatabase(const std::string& path,
                                             const SessionOptions& options) {
  DUX_ASSIGN_OR_RETURN(exec::Database db, exec::Database::Open(path, DatabaseSettings(options)));
  // Planning reads the same parquet footers several times (schemas, row groups, sizes) and a
  // worker reads the files of every query sent to it: parsed footers are kept, and DuckDB
  // reads a footer again when its file has changed since. (A global setting the parquet
  // extension adds once loaded, so it cannot go in the open's configuration.)
  DUX_ASSIGN_OR_RETURN(exec::Connection connection, exec::Connection::Open(db));
  DUX_RETURN_NOT_OK(connection.Execute("SET GLOBAL parquet_metadata_cache = true").status());
  return db;
}

Result<std::unique_ptr<Session>> Session::Open(const SessionOptions& options) {
  DUX_ASSIGN_OR_RETURN(exec::Database db, OpenDatabase(options.database_path, options));
  return OpenOn(std::make_shared<exec::Database>(std::move(db)));
}

Result<std::unique_ptr<Session>> Session::OpenOn(std::shared_ptr<exec::Database> db) {
  DUX_ASSIGN_OR_RETURN(exec::Connection connection, exec::Connection::Open(*db));
  return std::unique_ptr<Session>(new Session(std::move(db), std::move(connection)));
}

Status Session::Attach(const pipeline::Attachment& a, bool if_not_exists) {
  if (a.alias.empty() || a.path.empty()) {
    return Status::InvalidArgument("attach: needs an alias and a path" + a.loc.Suffix());
  }
  auto error = [&a](const Status& s) {
    return Status(s.code(), "attach \"" + a.alias + "\": " + s.message() + a.loc.Suffix());
  };
  if (const pipeline::Attachment* existing = FindAttachment(a.alias)) {
    if (if_not_exists && existing->type == a.type) return Status::OK();
    if (existing->type == pipeline::AttachmentType::kPostgres ||
        a.type == pipeline::AttachmentType::kPostgres) {
      return error(Status::AlreadyExists("the alias is already attached"));
    }
  }
  if (a.type == pipeline::AttachmentType::kPostgres) {
    // PostgreSQL reads naive timestamps' text in its session TimeZone: DuckDB's, so that
    // both agree on what a TIMESTAMP written into a timestamptz column means.
    std::string zone = "UTC";
    auto rows = connection_.QueryText("SELECT current_setting('TimeZone')");
    if (rows.ok() && rows->size() == 1 && (*rows)[0][0]) zone = *(*rows)[0][0];
    auto pg = pg::Connection::Open(a.path, zone);
    if (!pg.ok()) return error(pg.status());
    if (a.read_only) {
      auto read_only = pg->Execute("SET default_transaction_read_only TO on");
      if (!read_only.ok()) return error(read_only.status());
    }
    postgres_[a.alias] = std::make_unique<pg::Connection>(std::move(pg).value());
    attachments_.push_back(a);
    return Status::OK();
  }
  auto done = connection_.Execute(
      std::string("ATTACH ") + (if_not_exists ? "IF NOT EXISTS " : "") + sql::QuoteString(a.path) +
      " AS " + sql::QuoteIdentifier(a.alias) + (a.read_only ? " (READ_ONLY)" : ""));
  if (!done.ok()) return error(done.status());
  attachments_.push_back(a);
  return Status::OK();
}

const pipeline::Attachment* Session::FindAttachment(const std::string& alias) const {
  for (const auto& a : attachments_) {
    if (a.alias == alias) return &a;
  }
  const pipeline::Attachment* found = nullptr;
  for (const auto& a : attachments_) {
    if (pipeline::SameColumnName(a.alias, alias)) {
      if (found) return nullptr;  // ambiguous
      found = &a;
    }
  }
  return found;
}

const pipeline::Attachment* Session::PostgresTarget(const pipeline::Sink& sink,
                                                    std::string* table) const {
  auto* insert = std::get_if<pipeline::InsertIntoSink>(&sink.body);
  if (!insert) return nullptr;
  size_t dot = insert->table.find('.');
  if (dot == std::string::npos) return nullptr;
  const pipeline::Attachment* a = FindAttachment(insert->table.substr(0, dot));
  if (!a || a->type != pipeline::AttachmentType::kPostgres) return nullptr;
  *table = insert->table.substr(dot + 1);
  return a;
}

void Session::Distribute(dist::ClusterOptions cluster) {
  cluster_ = std::make_unique<dist::ClusterOptions>(std::move(cluster));
  cluster_->telemetry = &telemetry_;
}

/// The from_arrow inputs of one pipeline, each decoded into a temporary table that lives
/// until the next compile (or the session's end), so that the compiled query can run.
class Session::ArrowSources {
 public:
  static Result<std::unique_ptr<ArrowSources>> Load(exec::Connection& connection,
                                                    const Pipeline& pipeline) {
    std::map<std::string, pipeline::Location> paths = pipeline::ArrowSourcePaths(pipeline);
    auto sources = std::unique_ptr<ArrowSources>(new ArrowSources(connection));
    for (const auto& [path, loc] : paths) {
      auto error = [&, &path = path, &loc = loc](const Status& s) {
        return Status(s.code(),
                      "from_arrow: cannot read \"" + path + "\": " + s.message() + loc.Suffix());
      };
      std::string table = sql::ArrowTableName(path);
      connection.DropTemporaryTable(table);
      auto in = ipc::FileInputStream::Open(path);
      if (!in.ok()) return error(in.status());
      auto rows =
          exec::ImportIpc(connection, table, std::move(in).value(), exec::TableMode::kTemporary);
      if (!rows.ok()) return error(rows.status());
      sources->tables_.push_back(table);
    }
    return sources;
  }
  ~ArrowSources() {
    for (const auto& t : tables_) {
      connection_.DropTemporaryTable(t);
    }
  }

 private:
  explicit ArrowSources(exec::Connection& connection) : connection_(connection) {}
  exec::Connection& connection_;
  std::vector<std::string> tables_;
};

Session::Session(std::shared_ptr<exec::Database> db, exec::Connection connection)
    : db_(std::move(db)), connection_(std::move(connection)) {}

// One distributed call's planning: the local compile and PlanOnCluster bind and ask through
// a shared cache (sql::BindCache), while other connections, a thread each, prefetch
// what the planning will read about each parquet source (dist::PlanningPrefetches): some
// 10 ms of footer reads per query, which then overlap the binds and each other. The
// prefetch ends, and those threads with it, before anything runs on the workers.
class Session::PlanningPrefetch {
 public:
  PlanningPrefetch(Session* session, const Pipeline& pipeline)
      : session_(session), binder_(&session->connection_, &cache_) {
    session_->planning_ = this;
    for (auto& prefetch : dist::PlanningPrefetches(pipeline, *session->cluster_)) {
      auto connection = exec::Connection::Open(*session->db_);
      if (!connection.ok()) break;  // then the planning asks the rest itself
      auto& ahead =
          ahead_.emplace_back(std::make_unique<exec::Connection>(std::move(connection).value()));
      threads_.emplace_back([this, prefetch = std::move(prefetch), on = ahead.get()] {
        Stoppable stoppable(on, &stop_);
        sql::CachingBinder binder(&stoppable, &cache_);
        prefetch(&binder);
      });
    }
  }
  ~PlanningPrefetch() {
    stop_ = true;
    for (auto& connection : ahead_) connection->Interrupt();
    for (auto& thread : threads_) thread.join();
    session_->planning_ = nullptr;
  }
  sql::Binder* binder() { return &binder_; }

 private:
  // A prefetch stops at its next statement once the planning is over.
  class Stoppable : public sql::Binder {
   public:
    Stoppable(sql::Binder* inner, const std::atomic<bool>* stop) : inner_(inner), stop_(stop) {}
    Result<pipeline::Schema> Describe(const std::string& select_sql) override {
      if (*stop_) return Status(StatusCode::kCancelled, "planning is over");
      return inner_->Describe(select_sql);
    }
    Result<sql::TextRows> QueryText(const std::string& sql) override {
      if (*stop_) return Status(StatusCode::kCancelled, "planning is over");
      return inner_->QueryText(sql);
    }

   private:
    sql::Binder* inner_;
    const std::atomic<bool>* stop_;
  };

  Session* session_;
  sql::BindCache cache_;
  sql::CachingBinder binder_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<exec::Connection>> ahead_;
  std::vector<std::thread> threads_;
};

sql::Binder* Session::binder() {
  return planning_ ? planning_->binder() : static_cast<sql::Binder*>(&connection_);
}

Session::~Session() = default;

namespace {
constexpr const char* kGatheredTable = "__dux_gathered";
// Explain's stand-ins for the buckets a worker owns (a join's right side's in the second).
constexpr const char* kBucketsTable = "__dux_buckets";
constexpr const char* kRightBucketsTable = "__dux_right_buckets";

// Row group ids as runs: "0-3, 7".
std::string RowGroupList(const std::vector<int64_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(ids[i]) +
           (j > i ? "-" + std::to_string(ids[j]) : "");
    i = j + 1;
  }
  return out;
}

// The hive key types and the pruned files, as explain lines.
std::string ExplainPartitioning(const dist::Partitioning& p) {
  constexpr size_t kListed = 20;  // more pruned files than this are counted, not listed
  std::string out;
  if (!p.hive_types.empty()) {
    std::string types;
    for (const auto& [key, type] : p.hive_types) {
      types += (types.empty() ? "" : ", ") + sql::QuoteIdentifier(key) + " " + type;
    }
    out +=
        "-- hive keys, typed as the coordinator's read of every file types them: " + types + "\n";
  }
  const dist::Pruning& pruning = p.pruning;
  if (pruning.predicates.empty()) return out;
  std::string by;
  for (const auto& predicate : pruning.predicates) {
    by += (by.empty() ? "" : " AND ") + predicate;  // DuckDB's rendering, parenthesised
  }
  out += "-- hive pruning: " + std::to_string(pruning.files.size()) + " of " +
         std::to_string(pruning.total_files) + " files pruned by " + by + "\n";
  for (size_t i = 0; i < pruning.files.size() && i < kListed; ++i) {
    out += "--   pruned " + pruning.files[i] + "\n";
  }
  if (pruning.files.size() > kListed) {
    out += "--   and " + std::to_string(pruning.files.size() - kListed) + " more pruned files\n";
  }
  if (!pruning.kept_anyway.empty()) {
    out += "-- every file was pruned: " + pruning.kept_anyway +
           " is read all the same (the filter removes its rows) so that the workers return the "
           "result's columns\n";
  }
  return out;
}

}  // namespace

Result<sql::CompiledQuery> Session::CompileHere(const Pipeline& pipeline, bool schema_only) {
  // Drops the previous pipeline's tables before loading this one's.
  arrow_.reset();
  attached_.reset();
  if (gathered_) connection_.DropTemporaryTable(kGatheredTable);
  gathered_ = false;
  DUX_ASSIGN_OR_RETURN(arrow_, ArrowSources::Load(connection_, pipeline));
  std::vector<internal::AttachedDatabase> databases;
  for (const auto& a : attachments_) {
    auto pg = postgres_.find(a.alias);
    databases.push_back({a, pg == postgres_.end() ? nullptr : pg->second.get()});
  }
  auto find = [&](const std::string& alias) -> const internal::AttachedDatabase* {
    const pipeline::Attachment* a = FindAttachment(alias);
    for (const auto& d : databases) {
      if (a && d.attachment.alias == a->alias) return &d;
    }
    return nullptr;
  };
  using Mode = internal::AttachedTables::Mode;
  DUX_ASSIGN_OR_RETURN(attached_, internal::AttachedTables::Load(
                                      connection_, pipeline, find,
                                      schema_only ? Mode::kSchemaOnly : Mode::kData, &telemetry_));
  sql::Compiler compiler(binder());
  return compiler.Compile(pipeline);
}

Result<Session::Prepared> Session::Prepare(const Pipeline& pipeline) {
  // Bound here first even when distributed: mistakes are reported with their verb and
  // position once, not by every worker. A PostgreSQL source the workers read in slices is
  // only described here.
  const bool workers_read = cluster_ && WorkersReadPostgres(pipeline);
  // Other attached sources are read here, by the coordinator (CompileHere): the whole
  // pipeline runs here too. Nested pipelines reading attached tables (join sides, concat
  // frames) are computed here as part of a distributed plan (broadcast, or after the gather).
  const bool here = !cluster_ || SourceReadHere(pipeline);
  std::optional<PlanningPrefetch> prefetch;
  if (!here) prefetch.emplace(this, pipeline);
  Prepared prepared;
  DUX_ASSIGN_OR_RETURN(prepared.local, CompileHere(pipeline, workers_read));
  if (here) return prepared;
  DUX_ASSIGN_OR_RETURN(dist::Plan plan, PlanOnCluster(pipeline, prepared.local));
  prefetch.reset();
  if (!plan.coordinator_only.empty()) {
    // The plan keeps the pipeline here: then its rows are read here too.
    if (workers_read) {
      DUX_ASSIGN_OR_RETURN(prepared.local, CompileHere(pipeline, /*schema_only=*/false));
    }
    return prepared;
  }
  prepared.plan = std::move(plan);
  return prepared;
}

Result<sql::CompiledQuery> Session::Finish(Prepared prepared, const Pipeline& pipeline) {
  if (!prepared.plan) return std::move(prepared.local);
  auto finish = RunPlan(*prepared.plan, pipeline);
  if (!finish.ok()) return RunError(pipeline, finish.status());
  sql::Compiler compiler(&connection_);
  return compiler.Compile(*finish);
}

Status Session::RunError(const Pipeline& pipeline, Status failed) {
  // Mistakes in the pipeline are InvalidArgument, as are DuckDB's errors of running it; a
  // lost worker, an IO error or an interruption says nothing about a verb.
  if (failed.code() != StatusCode::kInvalidArgument) return failed;
  sql::Compiler compiler(&connection_);
  Status probed = compiler.Probe(pipeline);
  if (probed.ok()) return failed;
  // The probe's error is the run's only when it says the same ("verb: <DuckDB's words>
  // (line L, col C)", the words inside the run's message): anything else the probe met is
  // not what the user ran into.
  std::string words = probed.message();
  if (size_t colon = words.find(": "); colon != std::string::npos) words.erase(0, colon + 2);
  if (size_t at = words.rfind(" (line "); at != std::string::npos) words.erase(at);
  return failed.message().find(words) != std::string::npos ? probed : failed;
}

Result<sql::CompiledQuery> Session::Compile(const Pipeline& pipeline) {
  DUX_ASSIGN_OR_RETURN(Prepared prepared, Prepare(pipeline));
  return Finish(std::move(prepared), pipeline);
}

Result<int64_t> Session::Stream(const Pipeline& pipeline, const RowConsumer& consume, bool live) {
  DUX_ASSIGN_OR_RETURN(Prepared prepared, Prepare(pipeline));
  if (live && prepared.plan && dist::StreamsToConsumer(*prepared.plan)) {
    const pipeline::Schema& schema = prepared.local.schema;
    auto report = Traced(
        telemetry_,
        [&] {
          return dist::RunAndConsume(
              connection_, *prepared.plan, *cluster_,
              [&](const std::string& select) { return consume(select, schema, false); });
        },
        [](const auto& gathered) { return gathered.rows; });
    if (!report.ok()) return RunError(pipeline, report.status());
    return report->rows;
  }
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Finish(std::move(prepared), pipeline));
  auto rows = consume(query.Sql(), query.schema, query.ordered);
  if (!rows.ok()) return RunError(pipeline, rows.status());
  return rows;
}

bool Session::SourceReadHere(const Pipeline& pipeline) const {
  return std::holds_alternative<pipeline::AttachedSource>(pipeline.source().body) &&
         !WorkersReadPostgres(pipeline);
}

bool Session::WorkersReadPostgres(const Pipeline& pipeline) const {
  auto* source = std::get_if<pipeline::AttachedSource>(&pipeline.source().body);
  if (!source) return false;
  const pipeline::Attachment* a = FindAttachment(source->alias);
  if (!a || a->type != pipeline::AttachmentType::kPostgres) return false;
  bool nested = false;
  pipeline::ForEachPipeline(pipeline, [&](const Pipeline& p) {
    if (&p != &pipeline && std::holds_alternative<pipeline::AttachedSource>(p.source().body)) {
      nested = true;
    }
  });
  return !nested;
}

pg::Connection* Session::postgres(const std::string& alias) {
  const pipeline::Attachment* a = FindAttachment(alias);
  if (!a) return nullptr;
  auto found = postgres_.find(a->alias);
  return found == postgres_.end() ? nullptr : found->second.get();
}

namespace {

// The attachments the planner sees: DuckDB files (a from_query over them runs here). A
// PostgreSQL attachment goes to the workers only in the fragments that read or write it
// (PlanOnCluster, WritePostgresDistributed).
std::vector<pipeline::Attachment> WorkerAttachments(const std::vector<pipeline::Attachment>& all) {
  std::vector<pipeline::Attachment> out;
  for (const auto& a : all) {
    if (a.type == pipeline::AttachmentType::kDuckDb) out.push_back(a);
  }
  return out;
}

}  // namespace

Result<dist::Plan> Session::PlanOnCluster(const Pipeline& pipeline,
                                          const sql::CompiledQuery& local) {
  pipeline::Script script{WorkerAttachments(attachments_), pipeline};
  const auto* source = std::get_if<pipeline::AttachedSource>(&pipeline.source().body);
  const bool workers_read = WorkersReadPostgres(pipeline);
  DUX_ASSIGN_OR_RETURN(dist::Plan plan, dist::PlanScript(binder(), script, local, *cluster_));
  if (workers_read && plan.coordinator_only.empty()) {
    // The workers connect with the connection string as attached, which reaches them inside
    // their fragments over the cluster's (authenticated) channel; without a password in it,
    // each uses its own PGPASSWORD or PGPASSFILE.
    plan.worker_script.attachments.push_back(*FindAttachment(source->alias));
    pg::Connection& pg = *postgres(source->alias);
    auto partitioning = dist::PartitionPostgres(pg, *source, cluster_->workers.size());
    if (!partitioning.ok()) {
      return Status(
          partitioning.status().code(),
          "from_attached: " + partitioning.status().message() + pipeline.source().loc.Suffix());
    }
    plan.partitioning = std::move(partitioning).value();
    plan.assignment.clear();
    for (size_t i = 0; i < plan.partitioning.partitions.size(); ++i) plan.assignment.push_back(i);
    telemetry_.Emit({"postgres.read.plan",
                     {{"n_partitions", static_cast<double>(plan.partitioning.partitions.size())}},
                     {{"alias", source->alias},
                      {"table", source->table},
                      {"partition_by", source->partition_by},
                      {"conninfo", pg.redacted()}}});
  }
  return plan;
}

Result<Pipeline> Session::RunPlan(const dist::Plan& plan, const Pipeline& pipeline) {
  gathered_ = true;
  DUX_RETURN_NOT_OK(
      Traced(
          telemetry_,
          [&] { return dist::RunAndGather(connection_, plan, *cluster_, kGatheredTable); },
          [](const auto& gathered) { return gathered.rows; })
          .status());
  return dist::FinishingPipeline(plan, pipeline, kGatheredTable);
}

Status Session::EmptyTableLike(const std::string& table, const std::string& select_sql) {
  return connection_
      .Execute("CREATE OR REPLACE TEMPORARY TABLE " + sql::QuoteIdentifier(table) +
               " AS SELECT * FROM (" + select_sql + "\n) LIMIT 0")
      .status();
}

Result<std::string> Session::ExplainDistributed(const Pipeline& pipeline) {
  std::optional<PlanningPrefetch> prefetch;
  if (!SourceReadHere(pipeline)) prefetch.emplace(this, pipeline);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery local, CompileHere(pipeline, /*schema_only=*/true));
  const bool workers_read = WorkersReadPostgres(pipeline);
  if (SourceReadHere(pipeline)) {
    return "-- runs on the coordinator: from_attached (attached tables are read here)\n" +
           attached_->explain() + local.Sql() + ";\n";
  }
  sql::Compiler compiler(&connection_);
  DUX_ASSIGN_OR_RETURN(dist::Plan plan, PlanOnCluster(pipeline, local));
  prefetch.reset();
  if (!plan.coordinator_only.empty()) {
    return "-- runs on the coordinator: " + plan.coordinator_only + "\n" + local.Sql() + ";\n";
  }
  const auto& parts = plan.partitioning.partitions;
  std::string out = "-- distributed: " + std::to_string(parts.size()) + " partition" +
                    (parts.size() == 1 ? "" : "s") + " on " +
                    std::to_string(cluster_->workers.size()) + " worker" +
                    (cluster_->workers.size() == 1 ? "" : "s");
  if (!plan.partitioning.unsplit_reason.empty()) {
    out += " (not split: " + plan.partitioning.unsplit_reason + ")";
  }
  out += "\n" + ExplainPartitioning(plan.partitioning);
  if (workers_read) {
    // The read each worker makes (connection string redacted), then its slice.
    out += attached_->explain();
    if (parts.size() > 1) {
      out += "-- each partition's worker adds its slice's predicate to that WHERE clause\n";
    }
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    out += "-- partition " + std::to_string(i) + " on worker " +
           cluster_->workers[plan.assignment[i]]->address() + ": ";
    if (parts[i].slice) {
      out += "slice " + std::to_string(parts[i].slice->index) + " of " +
             std::to_string(parts[i].slice->count) + ": " + parts[i].slice_predicate + "\n";
      continue;
    }
    if (parts[i].files.empty()) {
      out += "the whole source\n";
      continue;
    }
    out += std::to_string(parts[i].files.size()) + " file" +
           (parts[i].files.size() == 1 ? "" : "s") + ", " + std::to_string(parts[i].bytes) +
           " bytes\n";
    for (const auto& f : parts[i].files) {
      out += "--   " + f;
      auto groups = parts[i].row_groups.find(f);
      if (groups != parts[i].row_groups.end()) {
        out += ": row groups " + RowGroupList(groups->second) + " of " +
               std::to_string(plan.partitioning.row_group_counts.at(f));
      }
      out += "\n";
    }
  }
  for (const auto& note : plan.join_notes) out += "-- join: " + note + "\n";
  if (plan.shuffled_right) {
    for (const auto& note : plan.shuffled_right->plan->join_notes) {
      out += "-- join in the right side: " + note + "\n";
    }
  }
  // Broadcast sides are bound as empty tables of their columns, standing for the tables
  // registered on the workers.
  std::vector<std::string> stand_ins = {kBucketsTable, kRightBucketsTable};
  std::vector<dist::Broadcast> broadcasts = plan.broadcasts;
  if (plan.shuffled_right) {
    const auto& more = plan.shuffled_right->plan->broadcasts;
    broadcasts.insert(broadcasts.end(), more.begin(), more.end());
  }
  for (const auto& b : broadcasts) {
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery side, compiler.Compile(b.side));
    DUX_RETURN_NOT_OK(EmptyTableLike(b.table, side.Sql()));
    stand_ins.push_back(b.table);
  }
  struct DropStandIns {
    exec::Connection& connection;
    const std::vector<std::string>& tables;
    ~DropStandIns() {
      for (const auto& t : tables) connection.DropTemporaryTable(t);
    }
  } drop_stand_ins{connection_, stand_ins};
  // The SQL every worker runs (with its own files), shown for the first partition.
  auto fragment = dist::MakeFragment(plan, 0, "explain");
  DUX_ASSIGN_OR_RETURN(pipeline::Script worker, pipeline::FromProto(fragment.script()));
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery worker_query, compiler.Compile(worker.pipeline));
  std::string rules;
  for (const auto& r : plan.rules) rules += (rules.empty() ? "" : ", ") + r;
  out += "-- splitter rules applied: " + (rules.empty() ? std::string("none") : rules) + "\n";
  out += "-- each worker runs (partition 0 shown):\n" + worker_query.Sql() + ";\n";
  if (plan.estimated_groups >= 0) {
    out += "-- estimated groups: " + std::to_string(plan.estimated_groups) +
           (plan.hash_stage ? " > " : " <= ") + std::to_string(cluster_->final_on_workers_groups) +
           (plan.hash_stage ? ": each worker finalises its own groups\n"
                            : ": the coordinator finalises the groups\n");
  }
  std::string gathered_sql = worker_query.Sql();
  sql::CompiledQuery stage_query;  // holds the gathered SQL's CTEs while it is bound
  if (plan.hash_stage) {
    const dist::HashStage& hs = *plan.hash_stage;
    size_t n_workers = cluster_->workers.size();
    std::string keys;
    for (size_t k = 0; k < hs.keys.size(); ++k) {
      keys += (k ? ", " : "") + hs.keys[k] +
              (plan.shuffled_right ? " = " + plan.shuffled_right->keys[k] : std::string()) +
              (hs.key_types.empty() ? "" : " as " + hs.key_types[k]);
    }
    out += "-- hash exchange (" + hs.rule + ") on (" + keys + ") into " +
           std::to_string(n_workers * hs.buckets_per_worker) +
           " buckets, worker to worker; bucket b is owned by worker b % " +
           std::to_string(n_workers) + "\n";
    // Bound against empty tables of the exchanged columns, which stand for the union of the
    // buckets a worker owns.
    DUX_RETURN_NOT_OK(EmptyTableLike(kBucketsTable, worker_query.Sql()));
    if (plan.shuffled_right) {
      const dist::Plan& right = *plan.shuffled_right->plan;
      DUX_ASSIGN_OR_RETURN(pipeline::Script right_worker,
                           pipeline::FromProto(dist::MakeFragment(right, 0, "explain").script()));
      DUX_ASSIGN_OR_RETURN(sql::CompiledQuery right_query, compiler.Compile(right_worker.pipeline));
      out += "-- the right side's partitions run (partition 0 shown), exchanged alike:\n" +
             right_query.Sql() + ";\n";
      DUX_RETURN_NOT_OK(EmptyTableLike(kRightBucketsTable, right_query.Sql()));
    }
    Pipeline stage = dist::StageOverInputs(plan, "SELECT * FROM temp." + std::string(kBucketsTable),
                                           "SELECT * FROM temp." + std::string(kRightBucketsTable));
    DUX_ASSIGN_OR_RETURN(stage_query, compiler.Compile(stage));
    out += "-- then each worker runs, on the rows of its buckets (" + std::string(kBucketsTable) +
           (plan.shuffled_right ? ", " + std::string(kRightBucketsTable) : std::string()) + "):\n" +
           stage_query.Sql() + ";\n";
    if (plan.shuffled_right) {
      out += "-- (the join bucket by bucket, its rows put together: concat_rows)\n";
    }
    gathered_sql = stage_query.Sql();
  }
  if (pipeline.sink() && dist::CoordinatorWritesBecause(plan, *pipeline.sink()).empty()) {
    return out + dist::ExplainWrite(plan, *pipeline.sink());
  }
  out += "-- gather: every worker's Arrow IPC batches, in arrival order, into " +
         std::string(kGatheredTable) + "\n";
  std::string gathered = "SELECT *, 0 AS " + std::string(dist::kAttemptColumn) + " FROM (" +
                         gathered_sql + "\n) LIMIT 0";
  if (plan.fold) {
    out += "-- folding the partial aggregates of all workers as they arrive:\n" +
           dist::FoldQuery(*plan.fold, "<the workers' batches>") + ";\n";
    gathered = dist::FoldQuery(*plan.fold, gathered);
  }
  // The coordinator's part, bound against an empty table of the gathered columns.
  DUX_RETURN_NOT_OK(connection_
                        .Execute("CREATE OR REPLACE TEMPORARY TABLE " +
                                 sql::QuoteIdentifier(kGatheredTable) + " AS " + gathered)
                        .status());
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery finish,
                       compiler.Compile(dist::FinishingPipeline(plan, pipeline, kGatheredTable)));
  connection_.DropTemporaryTable(kGatheredTable);
  std::string pg_table;
  const pipeline::Attachment* pg_target =
      pipeline.sink() ? PostgresTarget(*pipeline.sink(), &pg_table) : nullptr;
  if (pg_target && dist::WorkersCanInsert(plan)) {
    const auto& insert = std::get<pipeline::InsertIntoSink>(pipeline.sink()->body);
    auto table = pg::ParseTableName(pg_table);
    if (!table.ok()) {
      return Status(table.status().code(), "insert_into: " + table.status().message());
    }
    dist::WorkerInsert target{
        insert.table, {*table, insert.create, insert.atomic, insert.table}, local.schema};
    return out + "-- nothing is left for the coordinator: the workers write into PostgreSQL (" +
           postgres_.at(pg_target->alias)->redacted() + ")\n" +
           dist::ExplainInsertFromWorkers(target, parts.size());
  }
  out += "-- the coordinator finishes with:\n" + finish.Sql() + ";\n";
  if (pipeline.sink()) out += dist::ExplainWrite(plan, *pipeline.sink());
  return out;
}

Result<std::string> Session::Explain(const Pipeline& pipeline) {
  if (cluster_) return ExplainDistributed(pipeline);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, CompileHere(pipeline, /*schema_only=*/true));
  std::string out = attached_->explain() + query.Sql() + ";\n";
  std::string pg_table;
  if (const pipeline::Attachment* a =
          pipeline.sink() ? PostgresTarget(*pipeline.sink(), &pg_table) : nullptr) {
    const auto& insert = std::get<pipeline::InsertIntoSink>(pipeline.sink()->body);
    auto table = pg::ParseTableName(pg_table);
    if (!table.ok())
      return Status(table.status().code(), "insert_into: " + table.status().message());
    DUX_ASSIGN_OR_RETURN(
        std::string statements,
        pg::ExplainInsert(query.schema, {*table, insert.create, insert.atomic, insert.table}));
    return out + "-- insert_into: PostgreSQL (" + postgres_.at(a->alias)->redacted() + ") runs " +
           statements + "\n";
  }
  if (pipeline.sink() && std::holds_alternative<pipeline::ToArrowSink>(pipeline.sink()->body)) {
    const auto& a = std::get<pipeline::ToArrowSink>(pipeline.sink()->body);
    out += std::string("-- to_arrow: the result encoded by dux as an Arrow IPC ") +
           (a.stream_format ? "stream" : "file") +
           (a.compression.empty() ? "" : " (" + a.compression + " compressed)") + "\n";
  } else if (pipeline.sink()) {
    DUX_ASSIGN_OR_RETURN(std::string statement,
                         sql::SinkStatement(*pipeline.sink(), "<query>", query.schema,
                                            "<temporary file, renamed when complete>"));
    out += "-- " + std::string(pipeline.sink()->Verb()) + ": " + statement + "\n";
  }
  return out;
}

Result<exec::Table> Session::Compute(const Pipeline& pipeline) {
  if (pipeline.sink()) {
    return Status::InvalidArgument(std::string(pipeline.sink()->Verb()) +
                                   ": this pipeline writes its result; run it with Write");
  }
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Compile(pipeline));
  auto table = connection_.Query(query.Sql(), query.schema);
  if (!table.ok()) return RunError(pipeline, table.status());
  return table;
}

Result<int64_t> Session::NumRows(const Pipeline& pipeline) {
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Compile(pipeline));
  DUX_ASSIGN_OR_RETURN(exec::Table t,
                       connection_.Query("SELECT count(*) AS n FROM (" + query.Sql() + "\n)"));
  return t.rows[0][0].int_value();
}

Result<exec::WriteReport> Session::Write(const Pipeline& pipeline) {
  if (!pipeline.sink()) {
    return Status::InvalidArgument(
        "this pipeline has no to_parquet, to_csv, to_ndjson, to_arrow or insert_into at its end");
  }
  const pipeline::Sink& sink = *pipeline.sink();
  if (!std::holds_alternative<pipeline::InsertIntoSink>(sink.body) &&
      !exec::SinkPath(sink).empty() && !exec::WritesDirectory(sink)) {
    // Checked before anything runs (WriteSink writes it as it classifies it then).
    auto target = exec::ClassifyOutput(exec::SinkPath(sink));
    if (!target.ok()) {
      return Status(target.status().code(), std::string(sink.Verb()) + ": " +
                                                target.status().message() + sink.loc.Suffix());
    }
  }
  if (cluster_ && exec::WritesDirectory(sink)) return WriteDistributed(pipeline);
  std::string pg_table;
  if (cluster_ && PostgresTarget(*pipeline.sink(), &pg_table)) {
    return WritePostgresDistributed(pipeline);
  }
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Compile(pipeline));
  if (PostgresTarget(*pipeline.sink(), &pg_table)) return WritePostgres(*pipeline.sink(), query);
  auto written = exec::WriteSink(connection_, *pipeline.sink(), query);
  if (!written.ok()) return RunError(pipeline, written.status());
  return written;
}

Result<exec::WriteReport> Session::WritePostgresDistributed(const Pipeline& pipeline) {
  const pipeline::Sink& sink = *pipeline.sink();
  const auto& insert = std::get<pipeline::InsertIntoSink>(sink.body);
  auto error = [&sink](const Status& s) {
    return Status(s.code(), std::string(sink.Verb()) + ": " + s.message() + sink.loc.Suffix());
  };
  std::string rest;
  const pipeline::Attachment* a = PostgresTarget(sink, &rest);
  const bool workers_read = WorkersReadPostgres(pipeline);
  if (SourceReadHere(pipeline)) {
    // Attached tables read here: the whole pipeline runs here (Compile).
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Compile(pipeline));
    return WritePostgres(sink, query);
  }
  if (a->read_only) {
    return error(Status::InvalidArgument("\"" + a->alias + "\" is attached read_only"));
  }
  auto table = pg::ParseTableName(rest);
  if (!table.ok()) return error(table.status());
  std::optional<PlanningPrefetch> prefetch(std::in_place, this, pipeline);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery local, CompileHere(pipeline, workers_read));
  DUX_ASSIGN_OR_RETURN(dist::Plan plan, PlanOnCluster(pipeline, local));
  prefetch.reset();
  if (!plan.coordinator_only.empty()) {
    if (!workers_read) return WritePostgres(sink, local);
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, CompileHere(pipeline, /*schema_only=*/false));
    return WritePostgres(sink, query);
  }
  if (!dist::WorkersCanInsert(plan)) {
    // The coordinator finishes the pipeline, then inserts its rows itself.
    DUX_ASSIGN_OR_RETURN(Pipeline finish, RunPlan(plan, pipeline));
    sql::Compiler compiler(&connection_);
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(finish));
    return WritePostgres(sink, query);
  }
  // Every worker inserts its own rows.
  pg::Connection& pg = *postgres_.at(a->alias);
  bool attached = false;
  for (const auto& w : plan.worker_script.attachments) attached = attached || w.alias == a->alias;
  if (!attached) plan.worker_script.attachments.push_back(*a);
  dist::WorkerInsert target{
      insert.table, {*table, insert.create, insert.atomic, insert.table}, local.schema};
  auto start = std::chrono::steady_clock::now();
  auto rows = Traced(
      telemetry_, [&] { return dist::InsertFromWorkers(connection_, plan, *cluster_, pg, target); },
      [](int64_t n) { return n; });
  if (!rows.ok()) return error(rows.status());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  telemetry_.Emit({"postgres.write.stop",
                   {{"rows", static_cast<double>(*rows)},
                    {"duration", seconds},
                    {"n_partitions", static_cast<double>(plan.partitioning.partitions.size())}},
                   {{"table", insert.table}, {"conninfo", pg.redacted()}, {"by", "workers"}}});
  exec::WriteReport report;
  report.rows = *rows;
  return report;
}

Result<exec::WriteReport> Session::WriteDistributed(const Pipeline& pipeline) {
  const pipeline::Sink& sink = *pipeline.sink();
  // As WritePostgresDistributed: a PostgreSQL source the workers read is compiled here
  // without its rows, which are read only if the plan keeps the pipeline here after all.
  const bool workers_read = WorkersReadPostgres(pipeline);
  std::optional<PlanningPrefetch> prefetch;
  if (!SourceReadHere(pipeline)) prefetch.emplace(this, pipeline);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery local, CompileHere(pipeline, workers_read));
  if (SourceReadHere(pipeline)) {
    return exec::WriteSink(connection_, sink, local);
  }
  DUX_ASSIGN_OR_RETURN(dist::Plan plan, PlanOnCluster(pipeline, local));
  prefetch.reset();
  if (!plan.coordinator_only.empty()) {
    if (workers_read) {
      DUX_ASSIGN_OR_RETURN(local, CompileHere(pipeline, /*schema_only=*/false));
    }
    return exec::WriteSink(connection_, sink, local);
  }
  if (!dist::CoordinatorWritesBecause(plan, sink).empty()) {
    DUX_ASSIGN_OR_RETURN(Pipeline finish, RunPlan(plan, pipeline));
    sql::Compiler compiler(&connection_);
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(finish));
    return exec::WriteSink(connection_, sink, query);
  }
  return Traced(
      telemetry_, [&] { return dist::RunAndWrite(connection_, plan, *cluster_, sink); },
      [](const exec::WriteReport& report) { return report.rows; });
}

Result<exec::WriteReport> Session::WritePostgres(const pipeline::Sink& sink,
                                                 const sql::CompiledQuery& query) {
  const auto& insert = std::get<pipeline::InsertIntoSink>(sink.body);
  auto error = [&sink](const Status& s) {
    return Status(s.code(), std::string(sink.Verb()) + ": " + s.message() + sink.loc.Suffix());
  };
  std::string rest;
  const pipeline::Attachment* a = PostgresTarget(sink, &rest);
  if (a->read_only) {
    return error(Status::InvalidArgument("\"" + a->alias + "\" is attached read_only"));
  }
  auto table = pg::ParseTableName(rest);
  if (!table.ok()) return error(table.status());
  pg::Connection& pg = *postgres_.at(a->alias);
  auto start = std::chrono::steady_clock::now();
  auto rows = pg::InsertQuery(connection_, query.Sql(), query.schema, pg,
                              {*table, insert.create, insert.atomic, insert.table});
  if (!rows.ok()) return error(rows.status());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  telemetry_.Emit({"postgres.write.stop",
                   {{"rows", static_cast<double>(*rows)}, {"duration", seconds}},
                   {{"table", insert.table}, {"conninfo", pg.redacted()}}});
  exec::WriteReport report;
  report.rows = *rows;
  return report;
}

Frame Session::From(Pipeline pipeline) { return Frame(this, std::move(pipeline)); }
Frame Session::FromParquet(std::string path, bool hive_partitioning, bool union_by_name) {
  return From(Pipeline::FromParquet(std::move(path), hive_partitioning, union_by_name));
}
Frame Session::FromCsv(pipeline::CsvSource csv) { return From(Pipeline::FromCsv(std::move(csv))); }
Frame Session::FromNdjson(std::string path) { return From(Pipeline::FromNdjson(std::move(path))); }
Frame Session::FromQuery(std::string sql) { return From(Pipeline::FromQuery(std::move(sql))); }
Frame Session::FromArrow(std::string path) { return From(Pipeline::FromArrow(std::move(path))); }
Frame Session::FromAttached(std::string alias, std::string table, std::string partition_by,
                            std::vector<std::string> columns) {
  return From(Pipeline::FromAttached(std::move(alias), std::move(table), std::move(partition_by),
                                     std::move(columns)));
}
Frame Session::FromValues(std::vector<std::string> columns,
                          std::vector<std::vector<pipeline::Value>> rows,
                          std::vector<std::pair<std::string, std::string>> types) {
  return From(Pipeline::FromValues(std::move(columns), std::move(rows), std::move(types)));
}

// ---- Frame ------------------------------------------------------------------------------

Frame Frame::Filter(std::string predicate) const {
  return With([&](Pipeline& p) { p.Filter(std::move(predicate)); });
}
Frame Frame::Mutate(std::vector<std::pair<std::string, std::string>> columns) const {
  return With([&](Pipeline& p) { p.Mutate(std::move(columns)); });
}
Frame Frame::Select(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.Select(std::move(columns)); });
}
Frame Frame::Discard(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.Discard(std::move(columns)); });
}
Frame Frame::Rename(std::vector<std::pair<std::string, std::string>> renames) const {
  return With([&](Pipeline& p) { p.Rename(std::move(renames)); });
}
Frame Frame::DropNil(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.DropNil(std::move(columns)); });
}
Frame Frame::GroupBy(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.GroupBy(std::move(columns)); });
}
Frame Frame::Ungroup() const {
  return With([&](Pipeline& p) { p.Ungroup(); });
}
Frame Frame::Summarise(std::vector<std::pair<std::string, std::string>> aggregates) const {
  return With([&](Pipeline& p) { p.Summarise(std::move(aggregates)); });
}
Frame Frame::SortBy(std::vector<pipeline::SortKey> keys) const {
  return With([&](Pipeline& p) { p.SortBy(std::move(keys)); });
}
Frame Frame::Head(int64_t n) const {
  return With([&](Pipeline& p) { p.Head(n); });
}
Frame Frame::Slice(int64_t offset, int64_t length) const {
  return With([&](Pipeline& p) { p.Slice(offset, length); });
}
Frame Frame::Distinct(std::vector<std::string> columns) const {
  return With([&](Pipeline& p) { p.Distinct(std::move(columns)); });
}
Frame Frame::Join(const Frame& right, pipeline::JoinHow how, std::vector<pipeline::JoinKey> on,
                  std::string suffix) const {
  return With([&](Pipeline& p) { p.Join(right.pipeline_, how, std::move(on), std::move(suffix)); });
}
Frame Frame::AsofJoin(const Frame& right, pipeline::JoinKey by, pipeline::AsofCompare compare,
                      std::vector<pipeline::JoinKey> on, bool left, std::string suffix) const {
  return With([&](Pipeline& p) {
    p.AsofJoin(right.pipeline_, std::move(by), compare, std::move(on), left, std::move(suffix));
  });
}
Frame Frame::ConcatRows(const std::vector<Frame>& others) const {
  std::vector<Pipeline> pipelines;
  for (const auto& f : others) pipelines.push_back(f.pipeline_);
  return With([&](Pipeline& p) { p.ConcatRows(std::move(pipelines)); });
}
Frame Frame::PivotWider(std::string names_from, std::vector<std::string> values_from) const {
  return With([&](Pipeline& p) { p.PivotWider(std::move(names_from), std::move(values_from)); });
}
Frame Frame::PivotLonger(std::vector<std::string> columns, std::string names_to,
                         std::string values_to) const {
  return With([&](Pipeline& p) {
    p.PivotLonger(std::move(columns), std::move(names_to), std::move(values_to));
  });
}

Result<exec::Table> Frame::Compute() const { return session_->Compute(pipeline_); }

Result<std::vector<std::vector<pipeline::Value>>> Frame::ToRows() const {
  DUX_ASSIGN_OR_RETURN(exec::Table t, Compute());
  return std::move(t.rows);
}

Result<std::vector<std::pair<std::string, std::vector<pipeline::Value>>>> Frame::ToColumns() const {
  DUX_ASSIGN_OR_RETURN(exec::Table t, Compute());
  std::vector<std::pair<std::string, std::vector<pipeline::Value>>> out;
  auto columns = t.ToColumns();
  for (size_t c = 0; c < columns.size(); ++c) {
    out.emplace_back(t.schema.columns[c].name, std::move(columns[c]));
  }
  return out;
}

Result<int64_t> Frame::NumRows() const { return session_->NumRows(pipeline_); }
Result<exec::Table> Frame::Peek(int64_t n) const { return Head(n).Compute(); }
Result<std::string> Frame::Explain() const { return session_->Explain(pipeline_); }

Result<exec::WriteReport> Frame::ToParquet(pipeline::ToParquetSink sink) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToParquet(std::move(sink)));
}
Result<exec::WriteReport> Frame::ToCsv(pipeline::ToCsvSink sink) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToCsv(std::move(sink)));
}
Result<exec::WriteReport> Frame::ToNdjson(std::string path) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToNdjson(std::move(path)));
}
Result<exec::WriteReport> Frame::ToArrow(pipeline::ToArrowSink sink) const {
  Pipeline p = pipeline_;
  return session_->Write(p.ToArrow(std::move(sink)));
}
Result<exec::WriteReport> Frame::InsertInto(std::string table, bool create, bool atomic) const {
  Pipeline p = pipeline_;
  return session_->Write(p.InsertInto(std::move(table), create, atomic));
}

}  // namespace dux
