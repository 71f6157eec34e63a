#include "dux/coordinator/postgres.h"

#include <fmt/format.h>

#include <set>
#include <thread>

#include "dux/coordinator/gather.h"
#include "dux/coordinator/lease_renewal.h"
#include "dux/coordinator/stage_events.h"
#include "dux/pg/catalog.h"
#include "dux/pg/slice.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

namespace {

// The gathered reports of an insert: one row (rows) per partition.
constexpr const char* kInsertReportTable = "__dux_insert_report";

pipeline::AttachedSlice::Method IrMethod(pg::SliceMethod method) {
  switch (method) {
    case pg::SliceMethod::kModulus:
      return pipeline::AttachedSlice::Method::kModulus;
    case pg::SliceMethod::kHash:
      return pipeline::AttachedSlice::Method::kHash;
    case pg::SliceMethod::kRange:
      return pipeline::AttachedSlice::Method::kRange;
  }
  return pipeline::AttachedSlice::Method::kModulus;
}

// `DROP TABLE IF EXISTS` of `tables` in `schema`, best effort (cleanup after a failure).
void DropTables(pg::Connection& pg, const std::string& schema,
                const std::vector<std::string>& tables) {
  std::string list;
  for (const auto& t : tables) {
    list += (list.empty() ? "" : ", ") + pg::TableName{schema, t}.Quoted();
  }
  if (!list.empty()) (void)pg.Execute("DROP TABLE IF EXISTS " + list);
}

// A failed move (`failure`) whose cause is a staging table gone from PostgreSQL: its worker
// dropped it, as a worker does when the query's lease expires (it did not hear from this
// coordinator within its --lease-timeout, say through a network partition). The error then
// names that worker; else it is `failure`.
Status NameLostStage(pg::Connection& pg, const pg::InsertTarget& target, const std::string& schema,
                     const std::vector<std::string>& stages, const GatherResult& gathered,
                     const ClusterOptions& options, const Status& failure) {
  for (size_t i = 0; i < stages.size() && i < gathered.completed_on.size(); ++i) {
    auto found =
        pg.Query("SELECT to_regclass($1) IS NOT NULL", {pg::TableName{schema, stages[i]}.Quoted()});
    if (!found.ok() || found->empty() || (*found)[0][0].value_or("") != "f") continue;
    size_t w = gathered.completed_on[i];
    std::string worker = w < options.workers.size() ? options.workers[w]->address() : "?";
    return Status(failure.code(),
                  fmt::format("cannot insert into {}: worker {}: the staging table of partition {} "
                              "is gone: the worker drops it when it has not heard from this "
                              "coordinator within its --lease-timeout; nothing was inserted",
                              target.display_name, worker, i));
  }
  return failure;
}

// Tells every worker that the staging tables `stages` are gone from PostgreSQL (moved into
// the target, or dropped), so that their leases no longer hold them; best effort, all
// workers at once (a worker that missed it drops them again, IF EXISTS, when the lease
// expires).
void ForgetStages(const ClusterOptions& options, const std::vector<std::string>& stages) {
  if (stages.empty() || options.lease_id.empty()) return;
  v1::DropTableRequest forget;
  forget.set_if_exists(true);
  forget.set_lease_id(options.lease_id);
  for (const auto& s : stages) forget.add_more_tables(s);
  std::vector<std::thread> calls;
  for (const auto& worker : options.workers) {
    calls.emplace_back([&worker, &forget] { (void)worker->DropTable(forget); });
  }
  for (auto& c : calls) c.join();
}

}  // namespace

Result<Partitioning> PartitionPostgres(pg::Connection& pg, const pipeline::AttachedSource& source,
                                       size_t n_workers) {
  Partitioning out;
  if (source.partition_by.empty() || n_workers <= 1) {
    out.partitions = {Partition{}};
    if (source.partition_by.empty()) {
      out.unsplit_reason = "from_attached without partition_by is read once, by one worker";
    }
    return out;
  }
  DUX_ASSIGN_OR_RETURN(pg::TableName name, pg::ParseTableName(source.table));
  DUX_ASSIGN_OR_RETURN(pg::TableDescription table, pg::DescribeTable(pg, name));
  int key = table.Find(source.partition_by);
  if (key < 0) {
    return Status::InvalidArgument(
        fmt::format("unknown partition_by column \"{}\" in {}", source.partition_by, source.table));
  }
  const pg::PgColumn& column = table.columns[static_cast<size_t>(key)];
  DUX_ASSIGN_OR_RETURN(pg::SliceMethod method, pg::DefaultSliceMethod(column.type, column.name));
  std::optional<pg::KeyRange> range;
  if (method == pg::SliceMethod::kRange) {
    DUX_ASSIGN_OR_RETURN(range, pg::ReadKeyRange(pg, table.name, column.name));
  }
  const int count = static_cast<int>(n_workers);
  for (int i = 0; i < count; ++i) {
    Partition part;
    pipeline::AttachedSlice slice;
    slice.method = IrMethod(method);
    slice.index = i;
    slice.count = count;
    if (range) slice.range = std::make_pair(range->min, range->max);
    part.slice = slice;
    DUX_ASSIGN_OR_RETURN(part.slice_predicate,
                         pg::SlicePredicate(column.name, method, i, count, range));
    out.partitions.push_back(std::move(part));
  }
  return out;
}

bool WorkersCanInsert(const Plan& plan) {
  return plan.coordinator_only.empty() && plan.finish.empty() && !plan.fold && !plan.hash_stage &&
         plan.broadcasts.empty();
}

Result<int64_t> InsertFromWorkers(exec::Connection& connection, const Plan& plan,
                                  const ClusterOptions& options, pg::Connection& pg,
                                  const WorkerInsert& insert) {
  const pg::InsertTarget& target = insert.target;
  DUX_ASSIGN_OR_RETURN(pg::InsertLayout layout, pg::CheckInsert(pg, insert.schema, target));
  const std::string& schema = layout.table.schema;
  bool created = false;
  if (target.create && !target.atomic) {
    // Created once, before the fan-out; the workers append to it.
    auto made = pg.Execute(pg::CreateTableStatement(target.table, layout));
    if (!made.ok()) {
      return Status(made.status().code(),
                    "cannot insert into " + target.display_name + ": " + made.status().message());
    }
    created = true;
  }
  // The workers' fragments: their part of the pipeline, then the insert.
  const std::string query_id = NewQueryId();
  std::vector<GatherTask> tasks;
  std::vector<std::string> stages;  // every attempt's staging table (atomic)
  const size_t n = plan.partitioning.partitions.size();
  for (size_t i = 0; i < n; ++i) {
    pipeline::Pipeline share = PartitionPipeline(plan.worker_script.pipeline, plan.partitioning, i);
    // With atomic and create, each attempt's staging table gets the result's columns.
    share.SetSink(pipeline::Sink{
        pipeline::InsertIntoSink{insert.sink_table, target.create && target.atomic, target.atomic},
        {}});
    v1::Fragment fragment;
    fragment.set_query_id(fmt::format("{}-i{}", query_id, i));
    pipeline::ToProto(
        pipeline::Script{plan.worker_script.attachments, share, plan.worker_script.s3},
        fragment.mutable_script());
    fragment.mutable_postgres_insert()->set_staging(target.atomic);
    if (target.atomic) {
      stages.push_back(pg::AttemptStagingName(fragment.query_id()));
      stages.push_back(pg::AttemptStagingName(RetryFragment(fragment).query_id()));
      stages.push_back(
          pg::AttemptStagingName(AttemptFragment(fragment, AttemptKind::kSpeculative).query_id()));
    }
    // A retry is safe only when a failed attempt's rows can never arrive: with staging.
    tasks.push_back({plan.assignment[i], std::move(fragment), /*retryable=*/target.atomic,
                     fmt::format("partition {}", i)});
  }
  StageEvents stage(options.telemetry, kWriteStage, kWriteStage, tasks.size());
  // A worker whose coordinator dies rolls its share back once the lease expires, and drops
  // the staging table of a share it had committed.
  LeasedOptions leased = WithLease(options);
  auto undo = [&] {
    if (target.atomic) {
      DropTables(pg, schema, stages);
      ForgetStages(leased.options, stages);
    }
    if (created) (void)pg.Execute("DROP TABLE IF EXISTS " + target.table.Quoted());
  };
  auto gathered =
      GatherInto(connection, std::move(tasks), leased.options, stage.stage(), kInsertReportTable);
  if (!gathered.ok()) {
    undo();
    const Status& s = gathered.status();
    std::string outcome = target.atomic || created || n == 1
                              ? "; nothing was inserted"
                              : "; the other workers' shares that had finished stay committed "
                                "(atomic: true inserts all or nothing)";
    return Status(s.code(), s.message() + outcome);
  }
  auto report = connection.QueryText("SELECT CAST(coalesce(sum(rows), 0) AS VARCHAR) FROM temp." +
                                     sql::QuoteIdentifier(kInsertReportTable));
  connection.DropTemporaryTable(kInsertReportTable);
  if (!report.ok()) {
    undo();
    return report.status();
  }
  int64_t rows = std::stoll((*report)[0][0].value_or("0"));
  stage.Stop(
      {{"rows", static_cast<double>(rows)}, {"bytes", static_cast<double>(gathered->ipc_bytes)}});
  if (!target.atomic) return rows;
  std::vector<std::string> succeeded;
  for (const auto& f : gathered->completed) {
    succeeded.push_back(pg::AttemptStagingName(f.query_id()));
  }
  auto moved = pg::MoveStagedRows(pg, target, layout, succeeded);
  if (!moved.ok())
    moved = NameLostStage(pg, target, schema, succeeded, *gathered, leased.options, moved.status());
  // The failed attempts' tables (a worker that died after its COMMIT leaves one), and all of
  // them when the move failed.
  DropTables(pg, schema, stages);
  ForgetStages(leased.options, stages);
  if (!moved.ok()) return moved.status();
  return *moved;
}

std::string ExplainInsertFromWorkers(const WorkerInsert& insert, size_t n_partitions) {
  const pg::InsertTarget& target = insert.target;
  const std::string into = target.table.Quoted();
  std::string out = "-- insert_into: each of the " + std::to_string(n_partitions) +
                    " partitions is inserted by its worker, in a transaction of its own: ";
  if (!target.atomic) {
    if (target.create) {
      out = "-- insert_into: the coordinator first runs CREATE TABLE " + into + " (...)\n" + out;
    }
    return out + "BEGIN; COPY " + into + " (...) FROM STDIN; COMMIT (not retried)\n";
  }
  const std::string stage = pg::TableName{target.table.schema, "__dux_stage_<attempt>"}.Quoted();
  out += "BEGIN; CREATE UNLOGGED TABLE " + stage +
         (target.create ? " (...)" : " AS SELECT ... FROM " + into + " WITH NO DATA") + "; COPY " +
         stage + " (...) FROM STDIN; COMMIT\n";
  out += "-- then the coordinator, once every partition succeeded: BEGIN; " +
         (target.create ? "CREATE TABLE " + into + " (...); " : std::string()) + "INSERT INTO " +
         into +
         " (...) SELECT ... FROM <each successful attempt's table>; DROP TABLE <them>; "
         "COMMIT\n";
  return out;
}

}  // namespace dux::coordinator
