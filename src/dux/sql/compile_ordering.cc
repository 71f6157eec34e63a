// Order and cardinality: sort_by, head, slice, distinct.
#include <fmt/format.h>

#include <algorithm>

#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql::internal {

using namespace pipeline;  // NOLINT: the IR structs

Result<Relation> CompileOrdering(CompileContext& ctx, const Op& op, const Relation& in) {
  const char* verb = op.Verb();
  if (auto* s = std::get_if<SortByOp>(&op.body)) {
    if (s->keys.empty()) return VerbError(verb, op.loc, "needs at least one key");
    std::vector<std::string> keys;
    Relation ungrouped = in;  // sort_by orders the whole relation; groups do not partition it
    ungrouped.groups.clear();
    for (const SortKey& k : s->keys) {
      DUX_ASSIGN_OR_RETURN(std::string e, PrepareExpression(ctx, k.expr, ungrouped, verb));
      e += k.descending ? " DESC" : " ASC";
      if (k.nulls == NullOrder::kFirst) e += " NULLS FIRST";
      if (k.nulls == NullOrder::kLast) e += " NULLS LAST";
      keys.push_back(e);
    }
    std::string query =
        "SELECT * FROM " + in.cte + " ORDER BY " + fmt::format("{}", fmt::join(keys, ", "));
    DUX_ASSIGN_OR_RETURN(Relation out, ctx.AddCte(query, in, verb, op.loc));
    out.ordered = true;
    out.sort_query = std::move(query);
    return out;
  }
  // Right after sort_by, head and slice complete the sort's own SELECT.
  const bool after_sort = !in.sort_query.empty();
  const std::string rows = after_sort ? in.sort_query : "SELECT * FROM " + in.cte;
  auto limited = [&](const std::string& body) -> Result<Relation> {
    DUX_ASSIGN_OR_RETURN(Relation out, after_sort ? ctx.ReplaceLastCte(body, in, verb, op.loc)
                                                  : ctx.AddCte(body, in, verb, op.loc));
    out.limited = true;
    return out;
  };
  if (auto* h = std::get_if<HeadOp>(&op.body)) {
    if (h->n < 0) return VerbError(verb, op.loc, fmt::format("n must be >= 0, got {}", h->n));
    return limited(fmt::format("{} LIMIT {}", rows, h->n));
  }
  if (auto* s = std::get_if<SliceOp>(&op.body)) {
    if (s->offset < 0 || s->length < 0) {
      return VerbError(
          verb, op.loc,
          fmt::format("offset and length must be >= 0, got {} and {}", s->offset, s->length));
    }
    return limited(fmt::format("{} LIMIT {} OFFSET {}", rows, s->length, s->offset));
  }
  const auto& d = std::get<DistinctOp>(op.body);
  std::string select = "*";
  Relation like = in;
  if (!d.columns.empty()) {
    DUX_ASSIGN_OR_RETURN(auto cols, ResolveColumns(d.columns, in.schema, verb, op.loc));
    select = QuoteIdentifiers(cols);
    // As with select: a verb never silently drops a group column.
    for (const auto& g : in.groups) {
      if (std::find(cols.begin(), cols.end(), g) == cols.end()) {
        return VerbError(verb, op.loc,
                         "cannot drop group column " + QuoteIdentifier(g) + "; ungroup first");
      }
    }
  }
  DUX_ASSIGN_OR_RETURN(Relation out, ctx.AddCte("SELECT DISTINCT " + select + " FROM " + in.cte,
                                                like, verb, op.loc));
  out.ordered = false;
  return out;
}

}  // namespace dux::sql::internal
