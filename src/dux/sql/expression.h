// Expression analysis with DuckDB's own parser (json_serialize_sql): checks that user text
// is exactly one expression, finds aggregates and windows, and rewrites aggregates into
// windows over groups.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/sql/binder.h"

namespace dux::sql {

/// The name of dux's own aggregate of co-moments (exec/comoments_aggregate.h registers it;
/// the splitter writes it into partial and final verbs). Here, below both, so that the
/// expression analyser knows it as an aggregate.
constexpr const char* kComomentsAggregate = "dux_comoments";

struct ExpressionInfo {
  /// Names of aggregate calls outside any OVER clause, in order of appearance.
  std::vector<std::string> aggregates;
  bool has_window = false;
  /// A subquery reads tables of its own: only the process that has them can run it.
  bool has_subquery = false;
  /// The column names referenced outside subqueries, windows included (lambda parameters
  /// look alike and are listed too); `all_columns` when a star or a qualified name may
  /// reach others.
  std::vector<std::string> columns;
  bool all_columns = false;
};

/// One aggregate call met by ExpressionAnalyzer::ReplaceAggregates.
struct AggregateCall {
  std::string name;  ///< function name as DuckDB's parser spells it ("count_star" for count(*))
  bool distinct = false;
  bool has_filter = false;
  bool has_order = false;  ///< an ORDER BY inside the call (or WITHIN GROUP)
  size_t n_args = 0;
  /// The same call (arguments and FILTER clause) under another function name, as SQL text.
  std::function<Result<std::string>(const std::string& name)> renamed;
  /// `pattern` (an expression) as SQL text with the column references `__arg0`, `__arg1`, ...
  /// replaced by the call's arguments and `__filter` by its FILTER condition (true when it
  /// has none), e.g. "max(__arg1) FILTER (WHERE __arg0 IS NOT NULL AND __filter)".
  std::function<Result<std::string>(const std::string& pattern)> instantiate;
};

/// One top-level AND conjunct of a predicate (ExpressionAnalyzer::Conjuncts).
struct Conjunct {
  std::string sql;  ///< the conjunct alone, as DuckDB renders it back
  /// The columns it names (each unqualified name once, in order of appearance).
  std::vector<std::string> columns;
  /// Whether it is made only of unqualified column references, constants, casts, the
  /// comparisons =, <>, <, <=, >, >=, IN, NOT IN, BETWEEN, AND, OR, NOT and IS [NOT] NULL:
  /// then its value depends on nothing but the columns it names, and evaluating it cannot
  /// have effects (no function calls, subqueries, windows, parameters or collations).
  bool simple = false;
};

/// Parses expressions through a Binder. Not thread-safe; cheap to keep for a whole compile.
class ExpressionAnalyzer {
 public:
  explicit ExpressionAnalyzer(Binder* binder) : binder_(binder) {}

  /// Parses `expr`; InvalidArgument (DuckDB's parser message) unless it is exactly one
  /// expression without an alias, so that it cannot escape the slot it is spliced into.
  Result<ExpressionInfo> Analyze(const std::string& expr);

  /// `expr` with every aggregate call (outside windows and subqueries) replaced by the SQL
  /// expression `replace` returns for it, calls numbered in order of appearance.
  Result<std::string> ReplaceAggregates(
      const std::string& expr,
      const std::function<Result<std::string>(const AggregateCall& call, size_t index)>& replace);

  /// The top-level AND conjuncts of the predicate `expr` (nested ANDs flattened; one
  /// conjunct when it is no AND), in order.
  Result<std::vector<Conjunct>> Conjuncts(const std::string& expr);

  /// `expr` with every aggregate call turned into a window over `partition_by` (quoted
  /// column names) and every existing window partitioned by them first. Returns SQL text.
  Result<std::string> Windowed(const std::string& expr,
                               const std::vector<std::string>& partition_by);

 private:
  /// Whether DuckDB (the linked version) has an aggregate function of this name, or it is
  /// kComomentsAggregate, which dux registers in every database it opens.
  static bool IsAggregate(const std::string& function_name);

  Binder* binder_;
};

/// `expr` wrapped so it can be spliced into generated SQL: parenthesised, with a newline
/// before the closing parenthesis so that a trailing `--` comment cannot swallow it.
std::string Parenthesize(const std::string& expr);

}  // namespace dux::sql
