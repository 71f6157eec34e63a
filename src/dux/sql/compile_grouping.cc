// Grouping: group_by and ungroup change the relation's group state; summarise aggregates.
#include <fmt/format.h>

#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql::internal {

using namespace pipeline;  // NOLINT: the IR structs

namespace {

Result<Relation> Summarise(CompileContext& ctx, const SummariseOp& s, const Op& op,
                           const Relation& in) {
  const char* verb = op.Verb();
  if (s.aggregates.empty()) return VerbError(verb, op.loc, "needs at least one name: aggregate");
  std::vector<std::string> select;
  for (const auto& g : in.groups) select.push_back(QuoteIdentifier(g));
  for (const NamedExpr& a : s.aggregates) {
    auto info = ctx.analyzer().Analyze(a.expr.sql);
    if (!info.ok()) return Attribute(info.status(), verb, a.expr.loc);
    if (info->aggregates.empty()) {
      return VerbError(verb, a.expr.loc,
                       QuoteIdentifier(a.name) + " is not an aggregate: \"" + a.expr.sql + "\"");
    }
    for (const auto& g : in.groups) {
      if (SameColumnName(g, a.name)) {
        return VerbError(verb, a.expr.loc, QuoteIdentifier(a.name) + " is already a group column");
      }
    }
    select.push_back(Parenthesize(a.expr.sql) + " AS " + QuoteIdentifier(a.name));
  }
  std::string body = "SELECT " + fmt::format("{}", fmt::join(select, ", ")) + " FROM " + in.cte;
  if (!in.groups.empty()) body += " GROUP BY " + QuoteIdentifiers(in.groups);
  Relation like;
  like.limited = in.limited;
  auto out = ctx.AddCte(body, like, verb, op.loc);
  if (out.ok() || s.aggregates.size() == 1) return out;
  // Point at the aggregate that failed: bind each one alone.
  for (const NamedExpr& a : s.aggregates) {
    std::string alone = "SELECT " + Parenthesize(a.expr.sql) + " FROM " + in.cte;
    if (!in.groups.empty()) alone += " GROUP BY " + QuoteIdentifiers(in.groups);
    auto probe = ctx.Describe(alone);
    if (!probe.ok()) return Attribute(probe.status(), verb, a.expr.loc);
  }
  return out;
}

}  // namespace

Result<Relation> CompileGrouping(CompileContext& ctx, const Op& op, const Relation& in) {
  if (auto* g = std::get_if<GroupByOp>(&op.body)) {
    if (g->columns.empty()) return VerbError(op.Verb(), op.loc, "needs at least one column");
    Relation out = in;
    DUX_ASSIGN_OR_RETURN(out.groups, ResolveColumns(g->columns, in.schema, op.Verb(), op.loc));
    return out;
  }
  if (std::holds_alternative<UngroupOp>(op.body)) {
    Relation out = in;
    out.groups.clear();
    return out;
  }
  return Summarise(ctx, std::get<SummariseOp>(op.body), op, in);
}

}  // namespace dux::sql::internal
