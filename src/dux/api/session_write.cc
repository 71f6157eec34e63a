#include <chrono>

#include "dux/api/session.h"
#include "dux/api/session_internal.h"
#include "dux/coordinator/distributed_write.h"
#include "dux/coordinator/postgres.h"
#include "dux/coordinator/runner.h"
#include "dux/pg/catalog.h"

namespace dux {

using pipeline::Pipeline;

Result<exec::WriteReport> Session::Write(const Pipeline& pipeline) {
  FinalStageEnd end(this);
  auto report = WriteToSink(pipeline);
  if (report.ok()) end.rows = report->rows;
  return report;
}

Result<exec::WriteReport> Session::WriteToSink(const Pipeline& pipeline) {
  DUX_RETURN_NOT_OK(engine_->BeginRun());
  if (!cluster_ || !pipeline.sink()) {
    DropGathered();
    return engine_->Write(pipeline);
  }
  const pipeline::Sink& sink = *pipeline.sink();
  DUX_RETURN_NOT_OK(engine::LocalEngine::CheckOutput(sink));
  if (exec::WritesDirectory(sink)) return WriteDistributed(pipeline);
  std::string pg_table;
  if (engine_->PostgresTarget(sink, &pg_table)) return WritePostgresDistributed(pipeline);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, CompileToRun(pipeline));
  auto written = exec::WriteSink(connection(), sink, query);
  if (!written.ok()) return engine_->RunError(pipeline, written.status());
  return written;
}

Result<exec::WriteReport> Session::WritePostgresDistributed(const Pipeline& pipeline) {
  const pipeline::Sink& sink = *pipeline.sink();
  const auto& insert = std::get<pipeline::InsertIntoSink>(sink.body);
  auto error = [&sink](const Status& s) {
    return Status(s.code(), std::string(sink.Verb()) + ": " + s.message() + sink.loc.Suffix());
  };
  std::string rest;
  const pipeline::Attachment* a = engine_->PostgresTarget(sink, &rest);
  const bool workers_read = WorkersReadPostgres(pipeline);
  if (SourceReadHere(pipeline)) {
    // Attached tables read here: the whole pipeline runs here (Compile).
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, CompileToRun(pipeline));
    return engine_->WritePostgres(sink, query);
  }
  if (a->read_only) {
    return error(Status::InvalidArgument("\"" + a->alias + "\" is attached read_only"));
  }
  auto table = pg::ParseTableName(rest);
  if (!table.ok()) return error(table.status());
  std::optional<PlanningPrefetch> prefetch(std::in_place, this, pipeline);
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery local, CompileHere(pipeline, workers_read));
  DUX_ASSIGN_OR_RETURN(coordinator::Plan plan, PlanOnCluster(pipeline, local));
  prefetch.reset();
  if (!plan.coordinator_only.empty()) {
    if (!workers_read) return engine_->WritePostgres(sink, local);
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, CompileHere(pipeline, /*schema_only=*/false));
    return engine_->WritePostgres(sink, query);
  }
  if (!coordinator::WorkersCanInsert(plan)) {
    // The coordinator finishes the pipeline, then inserts its rows itself.
    DUX_ASSIGN_OR_RETURN(Pipeline finish, RunPlan(plan, pipeline));
    sql::Compiler compiler(&connection());
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(finish));
    return engine_->WritePostgres(sink, query);
  }
  // Every worker inserts its own rows.
  pg::Connection& pg = *engine_->postgres(a->alias);
  bool attached = false;
  for (const auto& w : plan.worker_script.attachments) attached = attached || w.alias == a->alias;
  if (!attached) plan.worker_script.attachments.push_back(*a);
  coordinator::WorkerInsert target{
      insert.table, {*table, insert.create, insert.atomic, insert.table}, local.schema};
  auto start = std::chrono::steady_clock::now();
  auto rows = Traced(
      telemetry_,
      [&] { return coordinator::InsertFromWorkers(connection(), plan, *cluster_, pg, target); },
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
    return exec::WriteSink(connection(), sink, local);
  }
  DUX_ASSIGN_OR_RETURN(coordinator::Plan plan, PlanOnCluster(pipeline, local));
  prefetch.reset();
  if (!plan.coordinator_only.empty()) {
    if (workers_read) {
      DUX_ASSIGN_OR_RETURN(local, CompileHere(pipeline, /*schema_only=*/false));
    }
    return exec::WriteSink(connection(), sink, local);
  }
  if (!coordinator::CoordinatorWritesBecause(plan, sink).empty()) {
    DUX_ASSIGN_OR_RETURN(Pipeline finish, RunPlan(plan, pipeline));
    sql::Compiler compiler(&connection());
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery query, compiler.Compile(finish));
    return exec::WriteSink(connection(), sink, query);
  }
  return Traced(
      telemetry_, [&] { return coordinator::RunAndWrite(connection(), plan, *cluster_, sink); },
      [](const exec::WriteReport& report) { return report.rows; });
}

}  // namespace dux
