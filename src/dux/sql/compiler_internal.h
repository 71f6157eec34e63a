// Private to sql/: the state threaded through compiling one pipeline, and the per-verb
// compile functions (compile_*.cc), one family of verbs per file.
#pragma once

#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/sql/binder.h"
#include "dux/sql/compiler.h"
#include "dux/sql/expression.h"

namespace dux::sql::internal {

/// The relation after some verbs: a CTE, its columns, the group state and whether the
/// row order is defined.
struct Relation {
  std::string cte;  ///< quoted CTE name
  pipeline::Schema schema;
  std::vector<std::string> groups;  ///< group columns, as named in schema
  bool ordered = false;
  /// Set on the relation sort_by makes: its query, so that head and slice put their LIMIT in
  /// the same SELECT as the ORDER BY (replacing the sort's CTE): one top-n, and the order a
  /// LIMIT takes its rows in is stated where the LIMIT is, not inherited from another CTE.
  std::string sort_query;
  /// A LIMIT (head, slice, a from_query with LIMIT or OFFSET) lies below this relation, where
  /// a join above could push its runtime filter into the scan under it: a join reads such a
  /// side through a barrier (JoinSide in compile_combining.cc).
  bool limited = false;
};

/// Shared by a pipeline and its nested pipelines, so that all CTEs land in one WITH list.
class CompileContext {
 public:
  /// With `probe`, each verb also runs once over one row of NULLs in place of its inputs
  /// (Compiler::Probe).
  explicit CompileContext(Binder* binder, bool probe = false)
      : binder_(binder), analyzer_(binder), probe_(probe) {}

  Binder* binder() { return binder_; }
  ExpressionAnalyzer& analyzer() { return analyzer_; }
  const std::vector<Cte>& ctes() const { return ctes_; }

  /// Adds a CTE with `body`, binds it, and returns the relation it holds (groups and order
  /// copied from `like`; callers adjust). Bind errors are attributed to `verb` at `loc`.
  Result<Relation> AddCte(const std::string& body, const Relation& like, const char* verb,
                          const pipeline::Location& loc);

  /// Replaces the last CTE (`like.cte`) by one with `body`, as AddCte adds it: a verb
  /// that completes the previous one's SELECT (head after sort_by) without a second reader
  /// of that SELECT's input.
  Result<Relation> ReplaceLastCte(const std::string& body, const Relation& like, const char* verb,
                                  const pipeline::Location& loc);

  /// `query` preceded by every CTE so far, so that it can read any of them.
  std::string WithCtes(const std::string& query) const;

  /// The columns of `query`, which reads CTEs so far. Bound first against typed empty
  /// stand-ins of those CTEs, so that each verb does not bind the whole chain again (each
  /// bind of a file source lists and opens its files); against the chain itself when that
  /// fails, so that errors are DuckDB's own.
  Result<pipeline::Schema> Describe(const std::string& query);

  /// Compiles a whole (nested) pipeline into this context. With `after_each`, the schema
  /// after each of its verbs is appended there.
  Result<Relation> CompilePipeline(const pipeline::Pipeline& pipeline,
                                   std::vector<pipeline::Schema>* after_each = nullptr);

 private:
  Binder* binder_;
  ExpressionAnalyzer analyzer_;
  std::vector<Cte> ctes_;
  const bool probe_;
  /// per CTE: a SELECT of typed NULLs (without a LIMIT), or "" for none
  std::vector<std::string> stand_ins_;

  /// What stands in for each CTE that has a stand-in.
  enum class StandIns {
    kNone,        ///< the CTE itself
    kEmpty,       ///< no rows: binds without reading anything
    kOneNullRow,  ///< one row of NULLs: runs each expression once
  };
  /// `query` after the CTEs so far, each as `stand_ins` says where it has a stand-in.
  std::string Chain(const std::string& query, StandIns stand_ins) const;
};

/// An error about a verb: InvalidArgument "verb: message (line L, col C)".
Status VerbError(const char* verb, const pipeline::Location& loc, const std::string& message);

/// Re-labels a DuckDB or analysis error with the verb and position; unknown-column errors
/// become `unknown column "x"` (with DuckDB's candidate, if any).
Status Attribute(const Status& status, const char* verb, const pipeline::Location& loc);

/// Resolves user-written column names against `schema` (exact, then case-insensitive);
/// unknown names give `verb: unknown column "x"`.
Result<std::vector<std::string>> ResolveColumns(const std::vector<std::string>& names,
                                                const pipeline::Schema& schema, const char* verb,
                                                const pipeline::Location& loc);

/// Checks one user expression and returns it ready to splice (grouped: aggregates and
/// windows run over the groups). Aggregates are refused unless `allow_aggregates`.
Result<std::string> PrepareExpression(CompileContext& ctx, const pipeline::Expr& expr,
                                      const Relation& relation, const char* verb,
                                      bool* has_window = nullptr);

// The per-family compile functions: each returns the relation after the verb.
Result<Relation> CompileSource(CompileContext& ctx, const pipeline::Source& source);
Result<Relation> CompileRowwise(CompileContext& ctx, const pipeline::Op& op, const Relation& in);
Result<Relation> CompileGrouping(CompileContext& ctx, const pipeline::Op& op, const Relation& in);
Result<Relation> CompileOrdering(CompileContext& ctx, const pipeline::Op& op, const Relation& in);
Result<Relation> CompileCombining(CompileContext& ctx, const pipeline::Op& op, const Relation& in);
Result<Relation> CompileReshaping(CompileContext& ctx, const pipeline::Op& op, const Relation& in);

}  // namespace dux::sql::internal
