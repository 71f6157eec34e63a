#include "dux/api/session.h"

#include <optional>
#include <string>
#include <utility>

#include "dux/api/session_internal.h"
#include "dux/coordinator/gather.h"
#include "dux/coordinator/plan_cache_key.h"
#include "dux/coordinator/postgres.h"
#include "dux/coordinator/runner.h"
#include "dux/engine/database.h"
#include "dux/pg/connection.h"

namespace dux {

using pipeline::Pipeline;

Result<std::unique_ptr<Session>> Session::Open(const SessionOptions& options) {
  DUX_ASSIGN_OR_RETURN(exec::Database db,
                       engine::OpenDatabase({options.database_path, options.threads,
                                             options.memory_limit, options.temp_directory}));
  // The engine reports to the session's telemetry: the session exists first.
  auto session = std::unique_ptr<Session>(new Session());
  if (options.keep_plans) session->plans_ = std::make_unique<PlanCache>();
  DUX_ASSIGN_OR_RETURN(session->engine_,
                       engine::LocalEngine::Open(std::make_shared<exec::Database>(std::move(db)),
                                                 &session->telemetry_));
  return session;
}

Session::~Session() = default;

exec::Connection& Session::connection() { return engine_->connection(); }

bool Session::HoldsFilesToClose() const { return engine::HoldsFilesToClose(*engine_->database()); }

Status Session::Attach(const pipeline::Attachment& attachment, bool if_not_exists) {
  return engine_->Attach(attachment, if_not_exists);
}

Status Session::UseS3Settings(const pipeline::S3Settings& settings) {
  return engine_->UseS3Settings(settings);
}

void Session::Distribute(coordinator::ClusterOptions cluster) {
  cluster_ = std::make_unique<coordinator::ClusterOptions>(std::move(cluster));
  cluster_->telemetry = &telemetry_;
}

void Session::RunLocally() { cluster_.reset(); }

namespace {

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
  Result<std::optional<std::string>> CallText(const std::string& function,
                                              const std::string& argument) override {
    if (*stop_) return Status(StatusCode::kCancelled, "planning is over");
    return inner_->CallText(function, argument);
  }

 private:
  sql::Binder* inner_;
  const std::atomic<bool>* stop_;
};

}  // namespace

Session::PlanningPrefetch::PlanningPrefetch(Session* session, const Pipeline& pipeline)
    : session_(session), binder_(&session->connection(), &cache_) {
  session_->planning_ = this;
  for (auto& prefetch : coordinator::PlanningPrefetches(pipeline, *session->cluster_)) {
    auto connection = exec::Connection::Open(*session->engine_->database());
    if (!connection.ok() || !session->engine_->ShareRunWith(*connection).ok()) {
      break;  // then the planning asks the rest itself
    }
    auto& ahead =
        ahead_.emplace_back(std::make_unique<exec::Connection>(std::move(connection).value()));
    threads_.emplace_back([this, prefetch = std::move(prefetch), on = ahead.get()] {
      Stoppable stoppable(on, &stop_);
      sql::CachingBinder binder(&stoppable, &cache_);
      prefetch(&binder);
    });
  }
}

Session::PlanningPrefetch::~PlanningPrefetch() {
  stop_ = true;
  for (auto& connection : ahead_) connection->Interrupt();
  for (auto& thread : threads_) thread.join();
  session_->planning_ = nullptr;
}

sql::Binder* Session::binder() {
  return planning_ ? planning_->binder() : static_cast<sql::Binder*>(&engine_->connection());
}

void Session::DropGathered() {
  if (gathered_) connection().DropTemporaryTable(kGatheredTable);
  gathered_ = false;
}

Result<sql::CompiledQuery> Session::CompileHere(const Pipeline& pipeline, bool schema_only) {
  DropGathered();
  return engine_->Compile(pipeline, schema_only, binder());
}

Result<Session::Prepared> Session::Prepare(const Pipeline& pipeline) {
  DUX_RETURN_NOT_OK(engine_->BeginRun());
  // Bound here first even when distributed: mistakes are reported with their verb and
  // position once, not by every worker. A PostgreSQL source the workers read in slices is
  // only described here.
  const bool workers_read = cluster_ && WorkersReadPostgres(pipeline);
  // Other attached sources are read here, by the coordinator (CompileHere): the whole
  // pipeline runs here too. Nested pipelines reading attached tables (join sides, concat
  // frames) are computed here as part of a distributed plan (broadcast, or after the gather).
  const bool here = !cluster_ || SourceReadHere(pipeline);
  std::optional<std::string> key;
  if (plans_ && !here && engine_->attachments().empty()) {
    key =
        coordinator::PlanCacheKey({{}, pipeline, engine_->s3_settings()}, *cluster_, &connection());
  }
  if (key) {
    if (std::optional<Prepared> kept = plans_->Find(*key)) {
      DropGathered();
      engine_->ReleaseInputs();
      telemetry_.Emit({"plan.reused", {}, {}});
      return std::move(*kept);
    }
  }
  std::optional<PlanningPrefetch> prefetch;
  if (!here) prefetch.emplace(this, pipeline);
  Prepared prepared;
  DUX_ASSIGN_OR_RETURN(prepared.local, CompileHere(pipeline, workers_read));
  if (here) return prepared;
  DUX_ASSIGN_OR_RETURN(coordinator::Plan plan, PlanOnCluster(pipeline, prepared.local));
  prefetch.reset();
  if (!plan.coordinator_only.empty()) {
    // The plan keeps the pipeline here: then its rows are read here too.
    if (workers_read) {
      DUX_ASSIGN_OR_RETURN(prepared.local, CompileHere(pipeline, /*schema_only=*/false));
    }
    return prepared;
  }
  prepared.plan = std::move(plan);
  if (key) plans_->Put(*key, prepared);
  return prepared;
}

Result<sql::CompiledQuery> Session::Finish(Prepared prepared, const Pipeline& pipeline) {
  if (!prepared.plan) return std::move(prepared.local);
  auto finish = RunPlan(*prepared.plan, pipeline);
  if (!finish.ok()) return engine_->RunError(pipeline, finish.status());
  sql::Compiler compiler(&connection());
  return compiler.Compile(*finish);
}

Result<sql::CompiledQuery> Session::CompileToRun(const Pipeline& pipeline) {
  DUX_ASSIGN_OR_RETURN(Prepared prepared, Prepare(pipeline));
  return Finish(std::move(prepared), pipeline);
}

Result<sql::CompiledQuery> Session::Compile(const Pipeline& pipeline) {
  // The caller runs the query when it likes: the final stage ends here, without rows.
  FinalStageEnd end(this);
  auto query = CompileToRun(pipeline);
  if (query.ok()) end.rows = 0;
  return query;
}

Result<int64_t> Session::Stream(const Pipeline& pipeline, const RowConsumer& consume, bool live) {
  FinalStageEnd end(this);
  DUX_ASSIGN_OR_RETURN(Prepared prepared, Prepare(pipeline));
  if (live && prepared.plan && coordinator::StreamsToConsumer(*prepared.plan)) {
    const pipeline::Schema& schema = prepared.local.schema;
    auto report = Traced(
        telemetry_,
        [&] {
          return coordinator::RunAndConsume(
              connection(), *prepared.plan, *cluster_,
              [&](const std::string& select) { return consume(select, schema, false); });
        },
        [](const auto& gathered) { return gathered.rows; });
    if (!report.ok()) return engine_->RunError(pipeline, report.status());
    return report->rows;
  }
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, Finish(std::move(prepared), pipeline));
  auto rows = consume(query.Sql(), query.schema, query.ordered);
  if (!rows.ok()) return engine_->RunError(pipeline, rows.status());
  end.rows = *rows;
  return rows;
}

bool Session::SourceReadHere(const Pipeline& pipeline) const {
  return std::holds_alternative<pipeline::AttachedSource>(pipeline.source().body) &&
         !WorkersReadPostgres(pipeline);
}

bool Session::WorkersReadPostgres(const Pipeline& pipeline) const {
  auto* source = std::get_if<pipeline::AttachedSource>(&pipeline.source().body);
  if (!source) return false;
  const pipeline::Attachment* a = engine_->FindAttachment(source->alias);
  if (!a || a->type != pipeline::AttachmentType::kPostgres) return false;
  bool nested = false;
  pipeline::ForEachPipeline(pipeline, [&](const Pipeline& p) {
    if (&p != &pipeline && std::holds_alternative<pipeline::AttachedSource>(p.source().body)) {
      nested = true;
    }
  });
  return !nested;
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

Result<coordinator::Plan> Session::PlanOnCluster(const Pipeline& pipeline,
                                                 const sql::CompiledQuery& local) {
  pipeline::Script script{WorkerAttachments(engine_->attachments()), pipeline,
                          engine_->s3_settings()};
  const auto* source = std::get_if<pipeline::AttachedSource>(&pipeline.source().body);
  const bool workers_read = WorkersReadPostgres(pipeline);
  DUX_ASSIGN_OR_RETURN(coordinator::Plan plan,
                       coordinator::PlanScript(binder(), script, local, *cluster_));
  if (workers_read && plan.coordinator_only.empty()) {
    // The workers connect with the connection string as attached, which reaches them inside
    // their fragments over the cluster's (authenticated) channel; without a password in it,
    // each uses its own PGPASSWORD or PGPASSFILE.
    plan.worker_script.attachments.push_back(*engine_->FindAttachment(source->alias));
    pg::Connection& pg = *engine_->postgres(source->alias);
    auto partitioning = coordinator::PartitionPostgres(pg, *source, cluster_->workers.size());
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

Result<Pipeline> Session::RunPlan(const coordinator::Plan& plan, const Pipeline& pipeline) {
  gathered_ = true;
  DUX_RETURN_NOT_OK(
      Traced(
          telemetry_,
          [&] { return coordinator::RunAndGather(connection(), plan, *cluster_, kGatheredTable); },
          [](const auto& gathered) { return gathered.rows; })
          .status());
  // The coordinator's own part, over the gathered rows: no partitions.
  final_stage_ = std::make_unique<coordinator::StageEvents>(&telemetry_, coordinator::kFinalStage,
                                                            coordinator::kFinalStage, 0);
  return coordinator::FinishingPipeline(plan, pipeline, kGatheredTable);
}

Result<exec::Table> Session::Compute(const Pipeline& pipeline) {
  if (pipeline.sink()) {
    return Status::InvalidArgument(std::string(pipeline.sink()->Verb()) +
                                   ": this pipeline writes its result; run it with Write");
  }
  FinalStageEnd end(this);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, CompileToRun(pipeline));
  auto table = connection().Query(query.Sql(), query.schema);
  if (!table.ok()) return engine_->RunError(pipeline, table.status());
  end.rows = static_cast<int64_t>(table->NumRows());
  return table;
}

Result<int64_t> Session::NumRows(const Pipeline& pipeline) {
  FinalStageEnd end(this);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, CompileToRun(pipeline));
  DUX_ASSIGN_OR_RETURN(exec::Table t,
                       connection().Query("SELECT count(*) AS n FROM (" + query.Sql() + "\n)"));
  end.rows = t.rows[0][0].int_value();
  return end.rows;
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

}  // namespace dux
