#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dux/api/session.h"
#include "dux/api/session_internal.h"
#include "dux/coordinator/distributed_write.h"
#include "dux/coordinator/gather.h"
#include "dux/coordinator/postgres.h"
#include "dux/coordinator/runner.h"
#include "dux/pg/catalog.h"
#include "dux/pipeline/proto_mapping.h"
#include "dux/sql/quote.h"

namespace dux {

using pipeline::Pipeline;

namespace {
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
std::string ExplainPartitioning(const coordinator::Partitioning& p) {
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
  const coordinator::Pruning& pruning = p.pruning;
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

Status Session::EmptyTableLike(const std::string& table, const std::string& select_sql) {
  return connection()
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
           engine_->attached_explain() + local.Sql() + ";\n";
  }
  sql::Compiler compiler(&connection());
  DUX_ASSIGN_OR_RETURN(coordinator::Plan plan, PlanOnCluster(pipeline, local));
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
    out += engine_->attached_explain();
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
  std::vector<coordinator::Broadcast> broadcasts = plan.broadcasts;
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
  } drop_stand_ins{connection(), stand_ins};
  // The SQL every worker runs (with its own files), shown for the first partition.
  auto fragment = coordinator::MakeFragment(plan, 0, "explain");
  DUX_ASSIGN_OR_RETURN(pipeline::Script worker, pipeline::FromProto(fragment.script()));
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery worker_query, compiler.Compile(worker.pipeline));
  std::string rules = fmt::format("{}", fmt::join(plan.rules, ", "));
  out += "-- splitter rules applied: " + (rules.empty() ? std::string("none") : rules) + "\n";
  out += "-- each worker runs (partition 0 shown):\n" + worker_query.Sql() + ";\n";
  if (!plan.row_partials.empty()) {
    out +=
        "-- adaptive partial aggregation: a worker whose partition holds fewer than 2 rows per "
        "group (estimated from a sample of its rows) sends each row as its partials instead:";
    for (size_t i = 0; i < plan.row_partials.size(); ++i) {
      out += (i ? ", " : " ") + plan.row_partials[i];
    }
    out += "\n";
  }
  if (plan.estimated_groups >= 0) {
    out += "-- estimated groups: " + std::to_string(plan.estimated_groups) +
           (plan.hash_stage ? " > " : " <= ") + std::to_string(cluster_->final_on_workers_groups) +
           (plan.hash_stage ? ": each worker finalises its own groups\n"
                            : ": the coordinator finalises the groups\n");
  }
  std::string gathered_sql = worker_query.Sql();
  sql::CompiledQuery stage_query;  // holds the gathered SQL's CTEs while it is bound
  if (plan.hash_stage) {
    const coordinator::HashStage& hs = *plan.hash_stage;
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
      const coordinator::Plan& right = *plan.shuffled_right->plan;
      DUX_ASSIGN_OR_RETURN(
          pipeline::Script right_worker,
          pipeline::FromProto(coordinator::MakeFragment(right, 0, "explain").script()));
      DUX_ASSIGN_OR_RETURN(sql::CompiledQuery right_query, compiler.Compile(right_worker.pipeline));
      out += "-- the right side's partitions run (partition 0 shown), exchanged alike:\n" +
             right_query.Sql() + ";\n";
      DUX_RETURN_NOT_OK(EmptyTableLike(kRightBucketsTable, right_query.Sql()));
    }
    Pipeline stage =
        coordinator::StageOverInputs(plan, "SELECT * FROM temp." + std::string(kBucketsTable),
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
  if (pipeline.sink() && coordinator::CoordinatorWritesBecause(plan, *pipeline.sink()).empty()) {
    return out + coordinator::ExplainWrite(plan, *pipeline.sink());
  }
  out += "-- gather: every worker's Arrow IPC batches, in arrival order, into " +
         std::string(kGatheredTable) + "\n";
  std::string gathered = "SELECT *, 0 AS " + std::string(coordinator::kAttemptColumn) + " FROM (" +
                         gathered_sql + "\n) LIMIT 0";
  if (plan.fold) {
    out += "-- folding the partial aggregates of all workers as they arrive:\n" +
           coordinator::FoldQuery(*plan.fold, "<the workers' batches>") + ";\n";
    gathered = coordinator::FoldQuery(*plan.fold, gathered);
  }
  // The coordinator's part, bound against an empty table of the gathered columns.
  DUX_RETURN_NOT_OK(connection()
                        .Execute("CREATE OR REPLACE TEMPORARY TABLE " +
                                 sql::QuoteIdentifier(kGatheredTable) + " AS " + gathered)
                        .status());
  DUX_ASSIGN_OR_RETURN(sql::CompiledQuery finish, compiler.Compile(coordinator::FinishingPipeline(
                                                      plan, pipeline, kGatheredTable)));
  connection().DropTemporaryTable(kGatheredTable);
  std::string pg_table;
  const pipeline::Attachment* pg_target =
      pipeline.sink() ? engine_->PostgresTarget(*pipeline.sink(), &pg_table) : nullptr;
  if (pg_target && coordinator::WorkersCanInsert(plan)) {
    const auto& insert = std::get<pipeline::InsertIntoSink>(pipeline.sink()->body);
    auto table = pg::ParseTableName(pg_table);
    if (!table.ok()) {
      return Status(table.status().code(), "insert_into: " + table.status().message());
    }
    coordinator::WorkerInsert target{
        insert.table, {*table, insert.create, insert.atomic, insert.table}, local.schema};
    return out + "-- nothing is left for the coordinator: the workers write into PostgreSQL (" +
           engine_->postgres(pg_target->alias)->redacted() + ")\n" +
           coordinator::ExplainInsertFromWorkers(target, parts.size());
  }
  out += "-- the coordinator finishes with:\n" + finish.Sql() + ";\n";
  if (pipeline.sink()) out += coordinator::ExplainWrite(plan, *pipeline.sink());
  return out;
}

Result<std::string> Session::Explain(const Pipeline& pipeline) {
  DUX_RETURN_NOT_OK(engine_->BeginRun());
  std::string out;
  if (cluster_) {
    DUX_ASSIGN_OR_RETURN(out, ExplainDistributed(pipeline));
  } else {
    DropGathered();
    DUX_ASSIGN_OR_RETURN(out, engine_->Explain(pipeline));
  }
  return out + engine_->ExplainS3(out);
}

}  // namespace dux
