#include "dux/coordinator/splitter.h"

#include <functional>
#include <optional>
#include <set>

#include "dux/sql/expression.h"
#include "dux/sql/quote.h"

namespace dux::coordinator {

using pipeline::Op;

const std::vector<SplitRule>& SplitRules() {
  static const std::vector<SplitRule> kRules = {
      {"scan_stage",
       "leading row-wise verbs (filter, mutate, select, discard, rename, drop_nil without "
       "windows or subqueries) run where the rows are read"},
      {"top_k", "sort_by + head(n): the top n on every worker, and again after the gather"},
      {"limit", "head(n) without an order: n rows from every worker, and n again after the gather"},
      {"distinct", "distinct: on every worker, and again after the gather"},
      {"partial_aggregate",
       "[group_by +] summarise of decomposable aggregates (count, sum, min, max, avg, "
       "bool_and/or, bit_and/or/xor, product, any_value, arg_min/arg_max, the variance, "
       "standard deviation, covariance, correlation and regression (regr_*) families; FILTER "
       "kept, no DISTINCT): partial aggregates on every worker, merged into the final ones "
       "after the gather (Chan's pairwise update for the moments)"},
      {"shuffle_aggregate",
       "group_by + summarise with an aggregate that does not decompose (median, quantiles, "
       "mode, DISTINCT, string_agg, list, ...): rows hash-exchanged on the group keys, each "
       "worker aggregating the groups it owns"},
      {"shuffle_window",
       "group_by + filter/mutate with windows or aggregates (and a summarise right after): "
       "rows hash-exchanged on the group keys, each worker computing the groups it owns"},
      {"adaptive_partial_aggregate",
       "after partial_aggregate with groups over parquet: each worker samples its first "
       "100,000 rows and, when its partial aggregate would reduce its rows less than 2 times, "
       "sends each row as a one-row partial instead (sum(x) -> x, count(x) -> 0 or 1, ...; "
       "the merge is unchanged); not for arg_min/arg_max or the covariance, correlation and "
       "regression families"},
      {"final_on_workers",
       "after partial_aggregate, when the estimated number of groups exceeds the threshold: "
       "partials hash-exchanged on the group keys, each worker finalising the groups it owns "
       "instead of the coordinator finalising them all"},
      {"broadcast_join",
       "join/asof_join whose right side is small (estimated IPC bytes at most the broadcast "
       "threshold): the right side is computed once, registered on every worker, and joined "
       "there with each partition (inner, left, semi, anti, cross and asof joins; any join "
       "when the left side is one partition)"},
      {"shuffle_join",
       "join/asof_join otherwise: both sides hash-exchanged on the join keys (cast to a common "
       "type) into 4 x workers buckets, each worker joining the buckets it owns; the verbs "
       "after it are split again as after a scan stage"},
      {"projection",
       "after the scan stage, when the workers' rows go on to the coordinator or an exchange: "
       "only the columns the rest of the pipeline reads (a liveness walk back from its last "
       "verb)"},
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

// How a decomposable aggregate splits. Each worker computes `partials` per group: the same
// call renamed to each of these functions ("" keeps the name), or, for an entry with
// parentheses, that pattern instantiated with the call's arguments (AggregateCall::instantiate). On
// the coordinator, `helpers` (window expressions over the partial rows of a group, written with
// OVER () so that a grouped mutate partitions them by the group) come first, then `final`
// aggregates them. `c` holds the quoted partial columns, `h` the quoted helper columns.
using Formula = std::function<std::string(const std::vector<std::string>& c,
                                          const std::vector<std::string>& h)>;
struct Decomposition {
  std::vector<std::string> partials;
  std::vector<Formula> helpers;
  Formula final;
  /// Lattice merges, one per partial (over `c`, the partial columns), that fold partials
  /// into partials of the same shape; empty when the partials do not fold that way.
  std::vector<Formula> fold = {};
  /// The partials are right only for numeric arguments (avg: a sum and a count, where
  /// DuckDB also averages TIMESTAMP, TIME and INTERVAL, which have no sum).
  bool numeric_only = false;
  /// One pattern per partial (for AggregateCall::instantiate, without aggregates): what that
  /// partial aggregate gives over one row alone, of any type that casts exactly to the
  /// partial's, so that rows a worker does not aggregate merge like partials
  /// (adaptive_partial_aggregate). Empty when some partial has no such form.
  std::vector<std::string> rows = {};
};

// One-row partials (Decomposition::rows). FILTER leaves a row out of every aggregate: a
// NULL, or a count of 0.
constexpr const char* kRowValue = "CASE WHEN __filter THEN __arg0 END";
constexpr const char* kRowCount = "CASE WHEN __filter AND __arg0 IS NOT NULL THEN 1 ELSE 0 END";
constexpr const char* kRowCountStar = "CASE WHEN __filter THEN 1 ELSE 0 END";
// var_pop of one value as DuckDB's streaming update computes it: x (x - x), 0 for a finite
// x and NaN for an infinite one.
constexpr const char* kRowVarPop =
    "CASE WHEN __filter AND __arg0 IS NOT NULL THEN CAST(__arg0 AS DOUBLE) * "
    "(CAST(__arg0 AS DOUBLE) - CAST(__arg0 AS DOUBLE)) END";

// The pooled mean of a group from per-partition counts `n` and means `mean`.
std::string PooledMean(const std::string& n, const std::string& mean) {
  return "sum(" + n + " * " + mean + ") OVER () / NULLIF(sum(" + n + ") OVER (), 0)";
}

// `moment`, or exactly 0 when the values it measures are one constant: every partition's
// own moment `partial` is 0 and the partitions' `value` (any one of their values) agree.
// DuckDB's streaming updates keep a constant's moment at exactly 0 (its partial states'
// combines too), while partition means computed as sum / count may differ in the last bit,
// so the pooled moment alone could be a tiny non-zero. An infinite value makes a partition's
// moment NaN, never 0, so a constant infinity takes the pooled path and gives NaN as DuckDB.
std::string UnlessConstant(const std::string& partial, const std::string& value,
                           const std::string& moment) {
  return "(CASE WHEN max(" + partial + ") = 0 AND min(" + value + ") = max(" + value +
         ") THEN 0 ELSE " + moment + " END)";
}

// Chan et al.'s pairwise update, summed over the partitions: the co-moment of the group is
// the partitions' co-moments plus n_i (mean_x_i - mean_x)(mean_y_i - mean_y). Deviations
// from the pooled mean stay small, so values like 1e9 + noise keep their precision.
std::string Comoment(const std::string& m, const std::string& n, const std::string& mx,
                     const std::string& gx, const std::string& my, const std::string& gy) {
  return "(sum(" + m + ") + sum(" + n + " * (" + mx + " - " + gx + ") * (" + my + " - " + gy +
         ")))";
}

// The argument count of the one form of each aggregate below that is proven to decompose.
// Another overload of the same name is another function (max(x, n) is the top n as a list,
// which a max over the partials' lists would get wrong), so it takes the exact path.
size_t ProvenArity(const std::string& n) {
  if (n == "count_star") return 0;
  if (n.rfind("regr_", 0) == 0 || n.rfind("covar_", 0) == 0 || n == "corr" || n == "arg_max" ||
      n == "argmax" || n == "max_by" || n == "arg_min" || n == "argmin" || n == "min_by") {
    return 2;
  }
  return 1;
}

std::optional<Decomposition> Decompose(const sql::AggregateCall& call) {
  if (call.distinct || call.has_order) return std::nullopt;  // holistic, or order-dependent
  const std::string& n = call.name;
  if (call.n_args != ProvenArity(n)) return std::nullopt;
  // Merged by one aggregate over the partial column.
  auto merged_by = [](const std::string& merge) {
    return [merge](const std::vector<std::string>& c, const std::vector<std::string>&) {
      return merge + "(" + c[0] + ")";
    };
  };
  if (n == "count" || n == "count_star") {
    Decomposition d{{""}, {}, merged_by("sum"), {merged_by("sum")}};
    d.rows = {n == "count" ? kRowCount : kRowCountStar};
    return d;
  }
  if (n == "sum" || n == "min" || n == "max" || n == "bool_and" || n == "bool_or" ||
      n == "bit_and" || n == "bit_or" || n == "bit_xor" || n == "product" || n == "any_value") {
    Decomposition d{{""}, {}, merged_by(n), {merged_by(n)}};
    d.rows = {kRowValue};
    return d;
  }
  // arg_max(arg, val) skips the rows where either is NULL: each partition gives its arg_max
  // and the largest val among those rows, and the final arg_max picks across partitions.
  bool arg_max = n == "arg_max" || n == "argmax" || n == "max_by";
  if (arg_max || n == "arg_min" || n == "argmin" || n == "min_by") {
    std::string extreme = arg_max ? "max" : "min";
    return Decomposition{
        {"", extreme + "(__arg1) FILTER (WHERE __arg0 IS NOT NULL AND __filter)"},
        {},
        [n](const auto& c, const auto&) { return n + "(" + c[0] + ", " + c[1] + ")"; },
        {[n](const auto& c, const auto&) { return n + "(" + c[0] + ", " + c[1] + ")"; },
         [extreme](const auto& c, const auto&) { return extreme + "(" + c[1] + ")"; }}};
  }
  if (n == "avg" || n == "mean") {
    Decomposition d{{"sum", "count"},
                    {},
                    [](const auto& c, const auto&) {
                      return "CAST(sum(" + c[0] + ") AS DOUBLE) / NULLIF(sum(" + c[1] + "), 0)";
                    },
                    {[](const auto& c, const auto&) { return "sum(" + c[0] + ")"; },
                     [](const auto& c, const auto&) { return "sum(" + c[1] + ")"; }},
                    /*numeric_only=*/true};
    d.rows = {kRowValue, kRowCount};
    return d;
  }
  // Variances: per partition n, mean and M2 = var_pop * n; DuckDB's edge cases kept (NULL
  // without rows, or with one row for the sample forms).
  bool sample = n == "var_samp" || n == "variance" || n == "stddev" || n == "stddev_samp";
  bool population = n == "var_pop" || n == "stddev_pop";
  if (sample || population) {
    bool root = n.rfind("stddev", 0) == 0;
    Decomposition d{
        {"count", "avg", "var_pop", "min"},
        {[](const auto& c, const auto&) { return PooledMean(c[0], c[1]); }},
        [sample, root](const auto& c, const auto& h) {
          std::string m2 = UnlessConstant(
              c[2], c[3], Comoment(c[2] + " * " + c[0], c[0], c[1], h[0], c[1], h[0]));
          std::string total = "sum(" + c[0] + ")";
          std::string v =
              sample ? "CASE WHEN " + total + " > 1 THEN " + m2 + " / (" + total + " - 1) END"
                     : "CASE WHEN " + total + " > 0 THEN " + m2 + " / " + total + " END";
          return root ? "sqrt(" + v + ")" : v;
        }};
    d.rows = {kRowCount, kRowValue, kRowVarPop, kRowValue};
    return d;
  }
  // Covariances, correlation and regression, over the pairs where both values are present:
  // each partition's moments in one dux_comoments state (exec/comoments_aggregate.h), which
  // the final step merges with the same aggregate. The merge keeps a constant's moment at
  // exactly 0, as DuckDB's own states do.
  bool regr = n == "regr_count" || n == "regr_avgx" || n == "regr_avgy" || n == "regr_sxx" ||
              n == "regr_syy" || n == "regr_sxy" || n == "regr_slope" || n == "regr_intercept" ||
              n == "regr_r2";
  if (n == "covar_pop" || n == "covar_samp" || n == "corr" || regr) {
    return Decomposition{
        {sql::kComomentsAggregate}, {}, [n](const auto& c, const auto&) {
          auto merged = [&](const char* field) {
            return "struct_extract(" + std::string(sql::kComomentsAggregate) + "(" + c[0] + "), '" +
                   field + "')";
          };
          std::string total = merged("n"), sxx = merged("sxx"), syy = merged("syy"),
                      sxy = merged("sxy");
          auto some = [&](const std::string& v) {
            return "CASE WHEN " + total + " > 0 THEN " + v + " END";
          };
          if (n == "covar_pop") return some(sxy + " / " + total);
          if (n == "covar_samp") {
            return "CASE WHEN " + total + " > 1 THEN " + sxy + " / (" + total + " - 1) END";
          }
          if (n == "corr") return some(sxy + " / sqrt(" + sxx + " * " + syy + ")");
          // The regression family as DuckDB defines it: NULL without pairs; the slope is
          // sxy / sxx even when x does not vary (NaN), the intercept NULL when the slope is
          // NaN, R² NULL when x does not vary and 1 when y does not.
          if (n == "regr_count") return total;
          if (n == "regr_avgx") return some(merged("avgx"));
          if (n == "regr_avgy") return some(merged("avgy"));
          if (n == "regr_sxx") return some(sxx);
          if (n == "regr_syy") return some(syy);
          if (n == "regr_sxy") return some(sxy);
          std::string slope = "(" + sxy + " / " + sxx + ")";
          if (n == "regr_slope") return some(slope);
          if (n == "regr_intercept") {
            return "CASE WHEN " + total + " > 0 AND NOT isnan(" + slope + ") THEN " +
                   merged("avgy") + " - " + slope + " * " + merged("avgx") + " END";
          }
          return "CASE WHEN " + total + " > 0 AND " + sxx + " <> 0 THEN (CASE WHEN " + syy +
                 " = 0 THEN 1 ELSE " + sxy + " * " + sxy + " / (" + sxx + " * " + syy +
                 ") END) END";
        }};
  }
  return std::nullopt;
}

// `final` (a final expression over partial columns whose aggregates are all lattice merges)
// over exactly one partial row per group: each merge of one row is that row's value (sum,
// min, max, the boolean and bit merges, product and any_value), and an arg_max merge its
// first argument (the partition's arg, NULL exactly when its extreme is). nullopt for any
// other aggregate.
std::optional<std::string> OneRowFinal(sql::ExpressionAnalyzer& analyzer,
                                       const std::string& final) {
  static const std::set<std::string> kOneRowIsItsValue = {
      "sum",     "min",       "max",     "bool_and", "bool_or", "bit_and", "bit_or", "bit_xor",
      "product", "any_value", "arg_max", "argmax",   "max_by",  "arg_min", "argmin", "min_by"};
  auto one_row = analyzer.ReplaceAggregates(
      final, [](const sql::AggregateCall& call, size_t) -> Result<std::string> {
        if (call.distinct || call.has_filter || call.has_order || call.n_args == 0 ||
            kOneRowIsItsValue.count(call.name) == 0) {
          return Status::InvalidArgument("no one-row form");
        }
        return call.instantiate("(__arg0)");
      });
  if (!one_row.ok()) return std::nullopt;
  return *one_row;
}

// The partial_aggregate rule for `group` (may be null) + `summarise`: fills the workers'
// partial verbs and the coordinator's final ones, whose aggregates are cast to the types in
// `local` (the summarise's output in a local run), and `rows`, the partials of one row
// (empty when one has no such form); false when an aggregate does not decompose.
Result<bool> SplitAggregate(sql::ExpressionAnalyzer& analyzer, const pipeline::Schema& local,
                            const Op* group, const Op& summarise, std::vector<Op>* partial,
                            std::vector<Op>* final, std::optional<Fold>* fold,
                            std::vector<std::string>* rows) {
  const auto& s = std::get<pipeline::SummariseOp>(summarise.body);
  pipeline::SummariseOp partials, finals;
  pipeline::MutateOp helpers;
  Fold folding;
  bool foldable = true, row_forms = true;
  std::vector<std::pair<std::string, std::string>> one_row_finals;
  bool one_row = true;
  for (const auto& a : s.aggregates) {
    bool ok = true, numeric_only = false;
    auto replaced = analyzer.ReplaceAggregates(
        a.expr.sql, [&](const sql::AggregateCall& call, size_t) -> Result<std::string> {
          auto d = Decompose(call);
          if (!d) {
            ok = false;
            return std::string("NULL");
          }
          numeric_only = numeric_only || d->numeric_only;
          std::vector<std::string> cols, helper_cols;
          for (const std::string& p : d->partials) {
            std::string name = "__dux_p" + std::to_string(partials.aggregates.size());
            DUX_ASSIGN_OR_RETURN(std::string sql, p.find('(') != std::string::npos
                                                      ? call.instantiate(p)
                                                      : call.renamed(p.empty() ? call.name : p));
            partials.aggregates.push_back({name, {sql, a.expr.loc}});
            cols.push_back(sql::QuoteIdentifier(name));
          }
          row_forms = row_forms && d->rows.size() == d->partials.size();
          for (size_t j = 0; row_forms && j < d->rows.size(); ++j) {
            auto row = call.instantiate(d->rows[j]);
            row_forms = row.ok();
            if (row_forms) rows->push_back(*row);
          }
          foldable = foldable && d->fold.size() == cols.size();
          for (size_t j = 0; foldable && j < cols.size(); ++j) {
            folding.columns.emplace_back(
                partials.aggregates[partials.aggregates.size() - cols.size() + j].name,
                d->fold[j](cols, {}));
          }
          for (const auto& helper : d->helpers) {
            std::string name = "__dux_h" + std::to_string(helpers.columns.size());
            helpers.columns.push_back({name, {helper(cols, {}), a.expr.loc}});
            helper_cols.push_back(sql::QuoteIdentifier(name));
          }
          return d->final(cols, helper_cols);
        });
    if (!replaced.ok() || !ok) return false;
    auto column = local.Find(a.name);
    if (!column) return false;
    // The argument's type is known only through the result: a bare avg(x) giving DOUBLE
    // averaged numbers (DuckDB averages every numeric type to DOUBLE); anything else, say
    // epoch(avg(ts)), takes the exact path.
    if (numeric_only) {
      auto bare = analyzer.ReplaceAggregates(
          a.expr.sql, [](const sql::AggregateCall&, size_t) -> Result<std::string> {
            return std::string("__dux_bare");
          });
      if (!bare.ok() || *bare != "__dux_bare" || local.columns[*column].type != "DOUBLE") {
        return false;
      }
    }
    const std::string type = local.columns[*column].type;
    finals.aggregates.push_back(
        {a.name, {"CAST(" + sql::Parenthesize(*replaced) + " AS " + type + ")", a.expr.loc}});
    if (foldable && one_row) {
      std::optional<std::string> value = OneRowFinal(analyzer, *replaced);
      one_row = value.has_value();
      if (one_row) {
        one_row_finals.emplace_back(a.name,
                                    "CAST(" + sql::Parenthesize(*value) + " AS " + type + ")");
      }
    }
  }
  if (!row_forms) rows->clear();
  if (foldable) {
    if (group) folding.keys = std::get<pipeline::GroupByOp>(group->body).columns;
    if (one_row) folding.one_row_finals = std::move(one_row_finals);
    *fold = std::move(folding);
  }
  if (group) partial->push_back(*group);
  partial->push_back(Op{partials, summarise.loc});
  if (group) final->push_back(*group);
  if (!helpers.columns.empty()) final->push_back(Op{helpers, summarise.loc});
  final->push_back(Op{finals, summarise.loc});
  return true;
}

// The columns of `input` that `ops` (run on it, in order, then the result written whole)
// read, in `input`'s order and spelling: a liveness walk from the last verb back. nullopt
// when every column may matter or that cannot be told (a star, a subquery, a verb that
// reshapes, a name that is not a column).
std::optional<std::vector<std::string>> NeededColumns(sql::ExpressionAnalyzer& analyzer,
                                                      const pipeline::Schema& input,
                                                      const std::vector<Op>& ops) {
  std::optional<std::set<std::string>> needed;  // nullopt: every column there is
  std::set<std::string> keys;                   // group keys: select keeps them implicitly
  auto reads = [&](const std::string& expr) {
    auto info = analyzer.Analyze(expr);
    if (!info.ok() || info->all_columns || info->has_subquery) return false;
    if (needed) needed->insert(info->columns.begin(), info->columns.end());
    return true;
  };
  for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
    const auto& body = op->body;
    if (auto* s = std::get_if<pipeline::SelectOp>(&body)) {
      needed.emplace(s->columns.begin(), s->columns.end());
    } else if (auto* f = std::get_if<pipeline::FilterOp>(&body)) {
      if (!reads(f->predicate.sql)) return std::nullopt;
    } else if (auto* m = std::get_if<pipeline::MutateOp>(&body)) {
      for (auto c = m->columns.rbegin(); c != m->columns.rend(); ++c) {
        if (needed) needed->erase(c->name);
        if (!reads(c->expr.sql)) return std::nullopt;
      }
    } else if (auto* su = std::get_if<pipeline::SummariseOp>(&body)) {
      needed.emplace();
      for (const auto& a : su->aggregates) {
        if (!reads(a.expr.sql)) return std::nullopt;
      }
    } else if (auto* sort = std::get_if<pipeline::SortByOp>(&body)) {
      for (const auto& k : sort->keys) {
        if (!reads(k.expr.sql)) return std::nullopt;
      }
    } else if (auto* g = std::get_if<pipeline::GroupByOp>(&body)) {
      keys.insert(g->columns.begin(), g->columns.end());
    } else if (auto* d = std::get_if<pipeline::DropNilOp>(&body)) {
      if (d->columns.empty()) return std::nullopt;
      if (needed) needed->insert(d->columns.begin(), d->columns.end());
    } else if (auto* d = std::get_if<pipeline::DiscardOp>(&body)) {
      // Not read, but they must exist.
      if (needed) needed->insert(d->columns.begin(), d->columns.end());
    } else if (!std::holds_alternative<pipeline::HeadOp>(body) &&
               !std::holds_alternative<pipeline::SliceOp>(body) &&
               !std::holds_alternative<pipeline::UngroupOp>(body)) {
      return std::nullopt;
    }
  }
  if (!needed) return std::nullopt;
  needed->insert(keys.begin(), keys.end());
  std::vector<bool> read(input.columns.size(), false);
  for (const auto& name : *needed) {
    auto at = input.Find(name);
    if (!at) {
      // A name the input lacks is made by a verb (mutate) or is a lambda's parameter; one
      // that no verb makes would have failed the local compile.
      bool made = false;
      for (const auto& op : ops) {
        if (auto* m = std::get_if<pipeline::MutateOp>(&op.body)) {
          for (const auto& c : m->columns) made = made || pipeline::SameColumnName(c.name, name);
        }
        if (auto* su = std::get_if<pipeline::SummariseOp>(&op.body)) {
          for (const auto& a : su->aggregates) {
            made = made || pipeline::SameColumnName(a.name, name);
          }
        }
      }
      if (!made) return std::nullopt;
      continue;
    }
    read[*at] = true;
  }
  std::vector<std::string> columns;
  for (size_t c = 0; c < read.size(); ++c) {
    if (read[c]) columns.push_back(input.columns[c].name);
  }
  if (columns.empty() || columns.size() == read.size()) return std::nullopt;
  return columns;
}

// For `rest` starting with group_by: the end of the verbs that each see only their own
// group's rows (grouped filters and mutates without subqueries, and a summarise after at
// least one of them); 1 when there are none. A mutate that assigns a group column would
// regroup the rows by values the exchange did not route by, so it ends the run.
size_t GroupLocalEnd(sql::ExpressionAnalyzer& analyzer, const std::vector<Op>& rest) {
  const auto& keys = std::get<pipeline::GroupByOp>(rest[0].body).columns;
  auto no_subquery = [&](const pipeline::Expr& e) {
    auto info = analyzer.Analyze(e.sql);
    return info.ok() && !info->has_subquery;
  };
  size_t j = 1;
  for (; j < rest.size(); ++j) {
    if (auto* f = std::get_if<pipeline::FilterOp>(&rest[j].body)) {
      if (!no_subquery(f->predicate)) break;
      continue;
    }
    auto* m = std::get_if<pipeline::MutateOp>(&rest[j].body);
    if (!m) break;
    bool local = true;
    for (const auto& c : m->columns) {
      for (const auto& k : keys) local = local && !pipeline::SameColumnName(k, c.name);
      local = local && no_subquery(c.expr);
    }
    if (!local) break;
  }
  if (j > 1 && At<pipeline::SummariseOp>(rest, j)) ++j;
  return j;
}

// Moves the first `n` verbs of split->finish behind a hash exchange on `keys`. The gathered
// rows are regrouped when `regroup`, since the verbs after still see the groups.
void Shuffle(Split* split, const std::vector<std::string>& keys, size_t n, bool regroup,
             const char* rule) {
  auto& finish = split->finish;
  auto cut = finish.begin() + static_cast<std::ptrdiff_t>(n);
  HashStage stage{keys, {finish.begin(), cut}, rule, {}, 1};
  std::vector<Op> after;
  if (regroup && cut != finish.end()) after.push_back(finish.front());
  after.insert(after.end(), cut, finish.end());
  finish = std::move(after);
  split->hash_stage = std::move(stage);
  split->applied.push_back(rule);
}

}  // namespace

std::optional<std::vector<std::string>> ColumnsRead(sql::Binder* binder,
                                                    const pipeline::Schema& input,
                                                    const std::vector<Op>& ops) {
  sql::ExpressionAnalyzer analyzer(binder);
  if (ops.empty()) return std::nullopt;
  return NeededColumns(analyzer, input, ops);
}

bool RowWiseVerb(sql::Binder* binder, const Op& op) {
  sql::ExpressionAnalyzer analyzer(binder);
  return RowWise(analyzer, op);
}

bool FinishAggregateOnWorkers(Split* split) {
  auto* group = At<pipeline::GroupByOp>(split->finish, 0);
  if (!group || split->hash_stage || split->applied.empty() ||
      split->applied.back() != "partial_aggregate") {
    return false;
  }
  size_t end = 1;
  while (end < split->finish.size() && !At<pipeline::SummariseOp>(split->finish, end)) ++end;
  if (end == split->finish.size()) return false;
  Shuffle(split, group->columns, end + 1, false, "final_on_workers");
  split->fold.reset();  // the gather receives final rows
  return true;
}

Result<Split> SplitPipeline(sql::Binder* binder, const pipeline::Pipeline& p,
                            const std::vector<pipeline::Schema>& verb_schemas,
                            const std::set<std::string>& disabled,
                            const std::set<size_t>& local_joins) {
  auto on = [&](const char* rule) { return disabled.count(rule) == 0; };
  sql::ExpressionAnalyzer analyzer(binder);
  Split split{pipeline::Pipeline(p.source()), 0, std::nullopt, std::nullopt, {}, {}, {}};
  const std::vector<Op>& ops = p.ops();
  size_t i = 0;
  if (on("scan_stage")) {
    while (i < ops.size() && (RowWise(analyzer, ops[i]) || local_joins.count(i))) {
      split.worker.Append(ops[i++]);
    }
    if (i > 0) split.applied.push_back("scan_stage");
  }
  split.scan_ops = i;
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
  } else if (on("partial_aggregate")) {
    size_t at = At<pipeline::GroupByOp>(rest, 0) ? 1 : 0;
    if (At<pipeline::SummariseOp>(rest, at) && i + at < verb_schemas.size()) {
      std::vector<Op> partial, final;
      std::vector<std::string> rows;
      DUX_ASSIGN_OR_RETURN(bool split_ok,
                           SplitAggregate(analyzer, verb_schemas[i + at], at ? &rest[0] : nullptr,
                                          rest[at], &partial, &final, &split.fold, &rows));
      if (split_ok) {
        // Without groups the partials are one row a partition: nothing to skip.
        if (at == 1 && on("adaptive_partial_aggregate")) split.row_partials = std::move(rows);
        for (const Op& op : partial) split.worker.Append(op);
        final.insert(final.end(), rest.begin() + static_cast<std::ptrdiff_t>(at + 1), rest.end());
        split.finish = std::move(final);
        split.applied.push_back("partial_aggregate");
        return split;
      }
    }
  }
  if (auto* group = At<pipeline::GroupByOp>(rest, 0)) {
    if (on("shuffle_aggregate") && At<pipeline::SummariseOp>(rest, 1)) {
      Shuffle(&split, group->columns, 2, false, "shuffle_aggregate");
    } else if (on("shuffle_window")) {
      size_t end = GroupLocalEnd(analyzer, rest);
      if (end > 1) {
        bool summarised = At<pipeline::SummariseOp>(rest, end - 1) != nullptr;
        Shuffle(&split, group->columns, end, !summarised, "shuffle_window");
      }
    }
  }
  // What leaves the workers after the scan stage: only the columns the rest reads.
  const pipeline::Schema* input =
      i > 0 ? &verb_schemas[i - 1] : (At<pipeline::GroupByOp>(ops, 0) ? &verb_schemas[0] : nullptr);
  if (on("projection") && input && i <= verb_schemas.size() &&
      split.worker.ops().size() == split.scan_ops) {
    std::vector<Op> after = split.hash_stage ? split.hash_stage->ops : std::vector<Op>{};
    after.insert(after.end(), split.finish.begin(), split.finish.end());
    if (auto columns = NeededColumns(analyzer, *input, after); columns && !after.empty()) {
      split.worker.Append(Op{pipeline::SelectOp{*columns}, ops[i - (i > 0 ? 1 : 0)].loc});
      split.applied.push_back("projection");
    }
  }
  return split;
}

}  // namespace dux::coordinator
