// Reshaping: pivot_wider and pivot_longer.
#include <fmt/format.h>

#include <algorithm>

#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql::internal {

using namespace pipeline;  // NOLINT: the IR structs

namespace {

// The new columns of pivot_wider come from the data: DuckDB's dynamic PIVOT cannot sit in a
// CTE, so the distinct names are read first (a query at compile time) and listed with IN.
// A NULL name makes no column (no column can be named NULL); its row's ids still show.
Result<Relation> PivotWider(CompileContext& ctx, const PivotWiderOp& p, const Op& op,
                            const Relation& in) {
  const char* verb = op.Verb();
  if (p.values_from.empty()) return VerbError(verb, op.loc, "needs values_from:");
  DUX_ASSIGN_OR_RETURN(auto names, ResolveColumns({p.names_from}, in.schema, verb, op.loc));
  DUX_ASSIGN_OR_RETURN(auto values, ResolveColumns(p.values_from, in.schema, verb, op.loc));
  if (std::find(values.begin(), values.end(), names[0]) != values.end()) {
    return VerbError(
        verb, op.loc,
        "column " + QuoteIdentifier(names[0]) + " cannot be both names_from and values_from");
  }
  std::vector<std::string> ids;
  for (const auto& c : in.schema.columns) {
    if (c.name != names[0] && std::find(values.begin(), values.end(), c.name) == values.end()) {
      ids.push_back(c.name);
    }
  }
  auto distinct = ctx.binder()->QueryText(
      ctx.WithCtes("SELECT DISTINCT CAST(" + QuoteIdentifier(names[0]) + " AS VARCHAR) AS n FROM " +
                   in.cte + " WHERE " + QuoteIdentifier(names[0]) + " IS NOT NULL ORDER BY n"));
  if (!distinct.ok()) return Attribute(distinct.status(), verb, op.loc);
  Relation like = in;
  like.groups.clear();
  like.ordered = false;
  if (distinct->empty()) {
    if (ids.empty()) return VerbError(verb, op.loc, "no names to pivot and no id columns");
    return ctx.AddCte("SELECT DISTINCT " + QuoteIdentifiers(ids) + " FROM " + in.cte, like, verb,
                      op.loc);
  }
  // DuckDB would quietly rename a new column that clashes with an id column or another new
  // column (names are case-insensitive) to "name_1"; a column the user did not ask for is a
  // mistake to report, as tidyr does.
  std::vector<std::string> taken = ids;
  std::vector<std::string> in_list;
  for (const auto& row : *distinct) {
    in_list.push_back(QuoteString(*row[0]));
    for (const auto& v : values) {
      std::string column = values.size() > 1 ? *row[0] + "_" + v : *row[0];
      for (const auto& t : taken) {
        if (SameColumnName(t, column)) {
          return VerbError(verb, op.loc, "two columns would be named " + QuoteIdentifier(t));
        }
      }
      taken.push_back(column);
    }
  }
  std::vector<std::string> usings;
  usings.reserve(values.size());
  for (const auto& v : values) {
    usings.push_back("first(" + QuoteIdentifier(v) + ")" +
                     (values.size() > 1 ? " AS " + QuoteIdentifier(v) : ""));
  }
  std::string body = "PIVOT " + in.cte + " ON " + QuoteIdentifier(names[0]) + " IN (" +
                     fmt::format("{}", fmt::join(in_list, ", ")) + ") USING " +
                     fmt::format("{}", fmt::join(usings, ", "));
  if (!ids.empty()) body += " GROUP BY " + QuoteIdentifiers(ids);
  return ctx.AddCte(body, like, verb, op.loc);
}

// NULL values are kept (INCLUDE NULLS), as in tidyr's pivot_longer.
Result<Relation> PivotLonger(CompileContext& ctx, const PivotLongerOp& p, const Op& op,
                             const Relation& in) {
  const char* verb = op.Verb();
  if (p.columns.empty()) return VerbError(verb, op.loc, "needs at least one column");
  DUX_ASSIGN_OR_RETURN(auto cols, ResolveColumns(p.columns, in.schema, verb, op.loc));
  if (p.names_to.empty() || p.values_to.empty() || SameColumnName(p.names_to, p.values_to)) {
    return VerbError(verb, op.loc, "names_to and values_to must be two different names");
  }
  // DuckDB would quietly rename a clashing output column to "name_1".
  for (const auto& c : in.schema.columns) {
    if (std::find(cols.begin(), cols.end(), c.name) != cols.end()) continue;
    for (const auto& [option, name] :
         {std::pair{"names_to", &p.names_to}, std::pair{"values_to", &p.values_to}}) {
      if (SameColumnName(c.name, *name)) {
        return VerbError(
            verb, op.loc,
            std::string(option) + " " + QuoteIdentifier(*name) + " is already a column");
      }
    }
  }
  Relation like = in;
  like.groups.clear();
  like.ordered = false;
  return ctx.AddCte("FROM " + in.cte + " UNPIVOT INCLUDE NULLS (" + QuoteIdentifier(p.values_to) +
                        " FOR " + QuoteIdentifier(p.names_to) + " IN (" + QuoteIdentifiers(cols) +
                        "))",
                    like, verb, op.loc);
}

}  // namespace

Result<Relation> CompileReshaping(CompileContext& ctx, const Op& op, const Relation& in) {
  if (auto* w = std::get_if<PivotWiderOp>(&op.body)) return PivotWider(ctx, *w, op, in);
  return PivotLonger(ctx, std::get<PivotLongerOp>(op.body), op, in);
}

}  // namespace dux::sql::internal
