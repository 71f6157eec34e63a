#include "dux/dist/splitter.h"

#include "dux/sql/expression.h"

namespace dux::dist {

using pipeline::Op;

const std::vector<SplitRule>& SplitRules() {
  static const std::vector<SplitRule> kRules = {
      {"scan_stage",
       "leading row-wise verbs (filter, mutate, select, discard, rename, drop_nil without "
       "windows or subqueries) run where the rows are read"},
      {"top_k", "sort_by + head(n): the top n on every worker, and again after the gather"},
      {"limit", "head(n) without an order: n rows from every worker, and n again after the gather"},
      {"distinct", "distinct: on every worker, and again after the gather"},
  };
  return kRules;
}

namespace {

// Whether an expression gives each row the same value on any partition: no window (it
// would see only the partition's rows), no subquery (its tables live where the pipeline
// was written) and no aggregate (refused ungrouped anyway; the local compile says so).
bool RowWiseExpression(sql::ExpressionAnalyzer& analyzer, const pipeline::Expr& expr) {
  auto info = analyzer.Analyze(expr.sql);
  return info.ok() && !info->has_window && !info->has_subquery && info->aggregates.empty();
}

// A verb that maps each row on its own. Group state stops the scan stage: the gathered
// table carries rows, not groups, so group_by and what follows run on the coordinator.
bool RowWise(sql::ExpressionAnalyzer& analyzer, const Op& op) {
  if (auto* f = std::get_if<pipeline::FilterOp>(&op.body)) {
    return RowWiseExpression(analyzer, f->predicate);
  }
  if (auto* m = std::get_if<pipeline::MutateOp>(&op.body)) {
    for (const auto& c : m->columns) {
      if (!RowWiseExpression(analyzer, c.expr)) return false;
    }
    return true;
  }
  return std::holds_alternative<pipeline::SelectOp>(op.body) ||
         std::holds_alternative<pipeline::DiscardOp>(op.body) ||
         std::holds_alternative<pipeline::RenameOp>(op.body) ||
         std::holds_alternative<pipeline::DropNilOp>(op.body);
}

template <typename T>
const T* At(const std::vector<Op>& ops, size_t i) {
  return i < ops.size() ? std::get_if<T>(&ops[i].body) : nullptr;
}

}  // namespace

Result<Split> SplitPipeline(sql::Binder* binder, const pipeline::Pipeline& p,
                            const std::set<std::string>& disabled) {
  auto on = [&](const char* rule) { return disabled.count(rule) == 0; };
  sql::ExpressionAnalyzer analyzer(binder);
  Split split{pipeline::Pipeline(p.source()), {}, {}};
  const std::vector<Op>& ops = p.ops();
  size_t i = 0;
  if (on("scan_stage")) {
    while (i < ops.size() && RowWise(analyzer, ops[i])) split.worker.Append(ops[i++]);
    if (i > 0) split.applied.push_back("scan_stage");
  }
  split.finish.assign(ops.begin() + static_cast<std::ptrdiff_t>(i), ops.end());
  // The rules below copy the first verbs after the scan stage onto the workers; the
  // coordinator still runs them all, on far fewer rows.
  const auto& rest = split.finish;
  if (on("top_k") && At<pipeline::SortByOp>(rest, 0) && At<pipeline::HeadOp>(rest, 1)) {
    split.worker.Append(rest[0]);
    split.worker.Append(rest[1]);
    split.applied.push_back("top_k");
  } else if (on("limit") && At<pipeline::HeadOp>(rest, 0)) {
    split.worker.Append(rest[0]);
    split.applied.push_back("limit");
  } else if (on("distinct") && At<pipeline::DistinctOp>(rest, 0)) {
    split.worker.Append(rest[0]);
    split.applied.push_back("distinct");
  }
  return split;
}

}  // namespace dux::dist
