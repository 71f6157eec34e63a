#include "dux/coordinator/joins.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "dux/coordinator/partitioner.h"
#include "dux/coordinator/splitter.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

using pipeline::JoinHow;
using pipeline::Op;

namespace {

// The broadcast table of the k-th join of a plan, unique among coordinators.
std::string BroadcastTable(const std::string& plan_id, size_t k) {
  return fmt::format("__dux_broadcast_{}_{}", plan_id, k);
}

bool ReadsAttachedTable(const pipeline::Pipeline& side) {
  bool found = false;
  pipeline::ForEachPipeline(side, [&](const pipeline::Pipeline& p) {
    found = found || std::holds_alternative<pipeline::AttachedSource>(p.source().body);
  });
  return found;
}

// Whether every worker may read the (small) right side `side`, planned as `plan`, from its
// files itself rather than be sent it: a parquet source read whole as one partition (so the
// file list is the local read's, in its order), followed only by verbs that evaluate nothing
// (select, discard, rename). Each worker then holds exactly the rows a broadcast would give
// it; a verb that evaluates an expression could evaluate it differently on each (random(),
// now(), ties in a window), so such a side is computed once and sent.
bool ReadByEachWorker(const pipeline::Pipeline& side, const Plan& plan) {
  if (!std::holds_alternative<pipeline::ParquetSource>(side.source().body)) return false;
  if (!plan.coordinator_only.empty() || plan.partitioning.partitions.size() != 1) return false;
  const Partition& whole = plan.partitioning.partitions[0];
  if (whole.files.empty() || !whole.row_ranges.empty()) return false;
  for (const auto& op : side.ops()) {
    if (!std::holds_alternative<pipeline::SelectOp>(op.body) &&
        !std::holds_alternative<pipeline::DiscardOp>(op.body) &&
        !std::holds_alternative<pipeline::RenameOp>(op.body)) {
      return false;
    }
  }
  return true;
}

// A right side can be exchanged from the workers when its own plan runs to the end there.
std::string NotExchangeable(const Plan& side) {
  if (!side.coordinator_only.empty())
    return "it runs on the coordinator (" + side.coordinator_only + ")";
  if (!side.finish.empty() || side.fold) return "it ends with verbs that run after a gather";
  if (side.hash_stage) return "it needs an exchange of its own";
  return "";
}

// Whether each partition may join the whole right side on its own: every left row meets
// every right row it matches exactly once, and no right row is kept for not matching.
bool PartitionLocal(const Op& op) {
  if (std::holds_alternative<pipeline::AsofJoinOp>(op.body)) return true;
  JoinHow how = std::get<pipeline::JoinOp>(op.body).how;
  return how != JoinHow::kRight && how != JoinHow::kFull;
}

// The type both sides of each key pair compare in (what DuckDB would cast both to), or an
// error when DuckDB knows none.
Result<std::vector<std::string>> CommonKeyTypes(sql::Binder* binder,
                                                const std::vector<std::string>& left,
                                                const std::vector<std::string>& right) {
  if (left == right) return std::vector<std::string>{};
  std::string select;
  for (size_t i = 0; i < left.size(); ++i) {
    select += fmt::format("{}CAST(typeof([NULL::{}, NULL::{}][1]) AS VARCHAR)", i ? ", " : "",
                          left[i], right[i]);
  }
  DUX_ASSIGN_OR_RETURN(sql::TextRows rows, binder->QueryText("SELECT " + select));
  std::vector<std::string> types;
  for (const auto& t : rows[0]) types.push_back(t.value_or(""));
  return types;
}

std::string Bytes(int64_t bytes) {
  return bytes < 0 ? std::string("unknown") : fmt::format("{} bytes", bytes);
}

// For a shuffle join at `j`: the columns of each side that the join and the verbs after it
// need (keys, columns read later, and left columns whose names make a kept right column
// take its suffix), when that is fewer than all on some side and the kept columns come out
// of the join under the same names. Only they are exchanged.
std::optional<std::pair<std::vector<std::string>, std::vector<std::string>>> ExchangedColumns(
    sql::Binder* binder, const Op& op, const std::vector<Op>& after, const pipeline::Schema& left,
    const pipeline::Schema& right, const pipeline::Schema& out,
    const std::vector<pipeline::JoinKey>& keys) {
  auto* join = std::get_if<pipeline::JoinOp>(&op.body);
  if (join && (join->how == JoinHow::kSemi || join->how == JoinHow::kAnti)) return std::nullopt;
  const std::string& suffix = join ? join->suffix : std::get<pipeline::AsofJoinOp>(op.body).suffix;
  std::optional<std::vector<std::string>> read = ColumnsRead(binder, out, after);
  if (!read) return std::nullopt;
  auto in = [](const std::vector<std::string>& names, const std::string& n) {
    for (const auto& x : names) {
      if (pipeline::SameColumnName(x, n)) return true;
    }
    return false;
  };
  auto is_key = [&](const std::string& n, bool left_side) {
    for (const auto& k : keys) {
      if (pipeline::SameColumnName(left_side ? k.left : k.right, n)) return true;
    }
    return false;
  };
  // The right columns the join outputs, in order (asof keeps its `by` column).
  std::vector<std::string> right_out;
  for (const auto& c : right.columns) {
    if (!is_key(c.name, false)) right_out.push_back(c.name);
  }
  if (out.columns.size() != left.columns.size() + right_out.size()) return std::nullopt;
  // An asof join also compares its `by` columns.
  std::string by_left, by_right;
  if (auto* asof = std::get_if<pipeline::AsofJoinOp>(&op.body)) {
    auto l = left.Find(asof->by.left);
    auto r = right.Find(asof->by.right);
    if (!l || !r) return std::nullopt;
    by_left = left.columns[*l].name;
    by_right = right.columns[*r].name;
  }
  std::vector<std::string> left_kept, right_kept;
  for (size_t i = 0; i < right_out.size(); ++i) {
    if (right_out[i] == by_right || in(*read, out.columns[left.columns.size() + i].name)) {
      right_kept.push_back(right_out[i]);
    }
  }
  for (const auto& c : left.columns) {
    if (is_key(c.name, true) || c.name == by_left || in(*read, c.name) || in(right_kept, c.name)) {
      left_kept.push_back(c.name);
    }
  }
  for (const auto& k : keys) right_kept.push_back(k.right);
  if (left_kept.size() == left.columns.size() && right_kept.size() == right.columns.size()) {
    return std::nullopt;
  }
  // The names the kept right columns get, as the compile gives them: each must be the one it
  // had before.
  std::vector<std::string> taken = left_kept;
  for (size_t i = 0; i < right_out.size(); ++i) {
    if (!in(right_kept, right_out[i])) continue;
    std::string name = in(taken, right_out[i]) ? right_out[i] + suffix : right_out[i];
    if (name != out.columns[left.columns.size() + i].name) return std::nullopt;
    taken.push_back(name);
  }
  return std::make_pair(left_kept, right_kept);
}

pipeline::Op SelectOf(const std::vector<std::string>& columns, const pipeline::Location& loc) {
  return Op{pipeline::SelectOp{columns}, loc};
}

}  // namespace

Op WithRightSide(const Op& op, pipeline::Pipeline right) {
  Op out = op;
  auto shared = std::make_shared<const pipeline::Pipeline>(std::move(right));
  if (auto* j = std::get_if<pipeline::JoinOp>(&out.body)) {
    j->right = shared;
  } else {
    std::get<pipeline::AsofJoinOp>(out.body).right = shared;
  }
  return out;
}

Result<int64_t> EstimateIpcBytes(sql::Binder* binder, const pipeline::Pipeline& side,
                                 const Plan& plan) {
  if (!plan.coordinator_only.empty()) return -1;
  // Each file once (one split by row groups is in several partitions), in an order that does
  // not depend on the partitioning, so that PlanningPrefetches asks the same statement.
  std::set<std::string> all;
  for (const auto& p : plan.partitioning.partitions) all.insert(p.files.begin(), p.files.end());
  std::string list = sql::StringList({all.begin(), all.end()});
  auto files = [&](const std::string& path) { return all.empty() ? sql::QuoteString(path) : list; };
  auto sum = [&](const std::string& query) -> Result<int64_t> {
    DUX_ASSIGN_OR_RETURN(
        sql::TextRows rows,
        binder->QueryText("SELECT CAST(coalesce(sum(s), 0) AS VARCHAR) FROM (" + query + ")"));
    return std::stoll(rows[0][0].value_or("0"));
  };
  const auto& body = side.source().body;
  if (auto* parquet = std::get_if<pipeline::ParquetSource>(&body)) {
    return sum("SELECT total_uncompressed_size AS s FROM parquet_metadata(" + files(parquet->path) +
               ")");
  }
  std::string path;
  if (auto* csv = std::get_if<pipeline::CsvSource>(&body)) path = csv->path;
  if (auto* ndjson = std::get_if<pipeline::NdjsonSource>(&body)) path = ndjson->path;
  if (auto* arrow = std::get_if<pipeline::ArrowSource>(&body)) path = arrow->path;
  if (!path.empty()) return sum("SELECT size AS s FROM read_blob(" + files(path) + ")");
  if (auto* values = std::get_if<pipeline::ValuesSource>(&body)) {
    return static_cast<int64_t>(values->rows.size() * (values->columns.size() + 1) * 16);
  }
  return -1;
}

Result<JoinPlan> PlanJoins(sql::Binder* binder, const pipeline::Script& script,
                           const sql::CompiledQuery& local, const ClusterOptions& cluster,
                           size_t left_partitions) {
  const pipeline::Pipeline& p = script.pipeline;
  JoinPlan out{p, {}, {}, std::nullopt, {}};
  auto on = [&](const char* rule) { return cluster.disabled_rules.count(rule) == 0; };
  bool joins = false;
  for (const auto& op : p.ops()) {
    joins = joins || std::holds_alternative<pipeline::JoinOp>(op.body) ||
            std::holds_alternative<pipeline::AsofJoinOp>(op.body);
  }
  if (!joins || !on("scan_stage")) return out;
  std::string plan_id;
  std::vector<Op> ops = p.ops();
  for (size_t j = 0; j < ops.size(); ++j) {
    const Op& op = ops[j];
    if (RowWiseVerb(binder, op)) continue;
    auto* join = std::get_if<pipeline::JoinOp>(&op.body);
    auto* asof = std::get_if<pipeline::AsofJoinOp>(&op.body);
    if (!join && !asof) break;
    const pipeline::Pipeline& right = join ? *join->right : *asof->right;
    std::string what = fmt::format("{} (verb {})", op.Verb(), j + 1);
    sql::Compiler compiler(binder);
    DUX_ASSIGN_OR_RETURN(sql::CompiledQuery right_local, compiler.Compile(right));
    DUX_ASSIGN_OR_RETURN(Plan right_plan, PlanScript(binder, {script.attachments, right, script.s3},
                                                     right_local, cluster));
    // Attached tables are read by the coordinator (the session loaded them with the whole
    // pipeline), so such a side is computed here and broadcast.
    if (ReadsAttachedTable(right)) {
      right_plan.coordinator_only = "from_attached (the coordinator reads attached tables)";
    }
    auto side = std::make_shared<const Plan>(std::move(right_plan));
    DUX_ASSIGN_OR_RETURN(int64_t estimate, EstimateIpcBytes(binder, right, *side));
    bool keyed = join ? join->how != JoinHow::kCross : !asof->on.empty();
    bool local_ok = left_partitions == 1 || PartitionLocal(op);
    std::string why_not_shuffle = NotExchangeable(*side);
    if (!keyed) why_not_shuffle = "it has no equality keys to hash";
    // The keys and the type each pair is hashed in.
    std::vector<pipeline::JoinKey> keys;
    std::vector<std::string> key_types;
    pipeline::Schema left_schema;
    if (why_not_shuffle.empty()) {
      if (j > 0) {
        left_schema = local.verb_schemas[j - 1];
      } else {
        DUX_ASSIGN_OR_RETURN(sql::CompiledQuery source,
                             compiler.Compile(pipeline::Pipeline(p.source())));
        left_schema = source.schema;
      }
      DUX_ASSIGN_OR_RETURN(keys, sql::ResolveJoinKeys(join ? join->on : asof->on, left_schema,
                                                      right_local.schema, op));
      std::vector<std::string> left_types, right_types;
      for (const auto& k : keys) {
        left_types.push_back(left_schema.columns[*left_schema.Find(k.left)].type);
        right_types.push_back(right_local.schema.columns[*right_local.schema.Find(k.right)].type);
      }
      auto common = CommonKeyTypes(binder, left_types, right_types);
      if (common.ok()) {
        key_types = std::move(common).value();
      } else {
        why_not_shuffle = "its key types have no common type";
      }
    }
    bool small = cluster.broadcast_threshold > 0 && estimate <= cluster.broadcast_threshold;
    bool broadcast = on("broadcast_join") && local_ok &&
                     (small || !why_not_shuffle.empty() || !on("shuffle_join"));
    std::string sizes = fmt::format("right side estimated at {}, broadcast threshold {} bytes",
                                    Bytes(estimate), cluster.broadcast_threshold);
    bool small_side = cluster.small_side_bytes > 0 && estimate >= 0 &&
                      estimate <= cluster.small_side_bytes && side->coordinator_only.empty();
    if (broadcast && small_side && ReadByEachWorker(right, *side)) {
      ops[j] = WithRightSide(op, PartitionPipeline(right, side->partitioning, 0));
      out.local_joins.insert(j);
      out.notes.push_back(
          fmt::format("{}: broadcast_join ({}), read by every worker from its {} file(s)", what,
                      sizes, side->partitioning.partitions[0].files.size()));
      continue;
    }
    if (broadcast) {
      if (plan_id.empty()) plan_id = NewQueryId();
      std::string table = BroadcastTable(plan_id, out.broadcasts.size());
      ops[j] = WithRightSide(
          op, pipeline::Pipeline::FromQuery("SELECT * FROM " + sql::QuoteIdentifier(table)));
      std::shared_ptr<const Plan> computed = side;
      if (small_side) {
        Plan here = *side;
        here.coordinator_only =
            fmt::format("a broadcast side estimated at {}, at most {} bytes, is read here",
                        Bytes(estimate), cluster.small_side_bytes);
        computed = std::make_shared<const Plan>(std::move(here));
      }
      out.broadcasts.push_back({table, right, computed});
      out.local_joins.insert(j);
      std::string why = why_not_shuffle.empty() ? "rule shuffle_join off" : why_not_shuffle;
      out.notes.push_back(fmt::format("{}: broadcast_join ({}{}), registered as {}", what, sizes,
                                      small ? "" : "; not exchanged: " + why, table));
      continue;
    }
    if (on("shuffle_join") && why_not_shuffle.empty()) {
      JoinShuffle shuffle{j, {}, std::move(key_types), {side, {}}, {}};
      std::vector<Op> after(ops.begin() + static_cast<std::ptrdiff_t>(j) + 1, ops.end());
      if (on("projection") && j < local.verb_schemas.size()) {
        if (auto columns = ExchangedColumns(binder, op, after, left_schema, right_local.schema,
                                            local.verb_schemas[j], keys)) {
          shuffle.left_columns = std::move(columns->first);
          Plan projected = *side;
          projected.worker_script.pipeline.Append(SelectOf(columns->second, op.loc));
          shuffle.right.plan = std::make_shared<const Plan>(std::move(projected));
        }
      }
      for (const auto& k : keys) {
        shuffle.left_keys.push_back(k.left);
        shuffle.right.keys.push_back(k.right);
      }
      std::string types = fmt::format("{}", fmt::join(shuffle.key_types, ", "));
      out.notes.push_back(
          fmt::format("{}: shuffle_join ({}), both sides hash-exchanged on the keys{}", what, sizes,
                      types.empty() ? "" : " cast to " + types));
      out.shuffle = std::move(shuffle);
      break;
    }
    out.notes.push_back(fmt::format(
        "{}: on the coordinator after the gather ({}; not broadcast: {}; not exchanged: {})", what,
        sizes, on("broadcast_join") ? "a right or full join must see every left row" : "rule off",
        on("shuffle_join") ? why_not_shuffle : "rule off"));
    break;
  }
  pipeline::Pipeline rewritten(p.source());
  for (auto& op : ops) rewritten.Append(std::move(op));
  if (p.sink()) rewritten.SetSink(*p.sink());
  out.pipeline = std::move(rewritten);
  return out;
}

}  // namespace dux::coordinator
