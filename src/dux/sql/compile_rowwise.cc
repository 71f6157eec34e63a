// Row-wise verbs: filter, mutate, select, discard, rename, drop_nil.
#include <fmt/format.h>

#include <algorithm>

#include "dux/sql/compiler_internal.h"
#include "dux/sql/quote.h"

namespace dux::sql::internal {

using namespace pipeline;  // NOLINT: the IR structs

namespace {

std::string Join(const std::vector<std::string>& parts, const char* sep = ", ") {
  return fmt::format("{}", fmt::join(parts, sep));
}

// A relation's group columns must survive verbs that drop or rename columns.
Status CheckGroupsKept(const Relation& in, const std::vector<std::string>& dropped, const Op& op) {
  for (const auto& g : in.groups) {
    for (const auto& d : dropped) {
      if (g == d) {
        return VerbError(op.Verb(), op.loc,
                         "cannot drop group column " + QuoteIdentifier(g) + "; ungroup first");
      }
    }
  }
  return Status::OK();
}

Result<Relation> Filter(CompileContext& ctx, const FilterOp& f, const Op& op, const Relation& in) {
  bool window = false;
  DUX_ASSIGN_OR_RETURN(std::string predicate,
                       PrepareExpression(ctx, f.predicate, in, op.Verb(), &window));
  // Window values cannot be tested in WHERE; QUALIFY sees them (and reorders rows).
  std::string body = "SELECT * FROM " + in.cte + (window ? " QUALIFY " : " WHERE ") + predicate;
  DUX_ASSIGN_OR_RETURN(Relation out, ctx.AddCte(body, in, op.Verb(), f.predicate.loc));
  if (window) out.ordered = false;
  return out;
}

// One CTE per assignment, so later assignments see earlier ones, as in dplyr.
Result<Relation> Mutate(CompileContext& ctx, const MutateOp& m, const Op& op, const Relation& in) {
  if (m.columns.empty()) return VerbError(op.Verb(), op.loc, "needs at least one column");
  Relation relation = in;
  for (const NamedExpr& assignment : m.columns) {
    bool window = false;
    DUX_ASSIGN_OR_RETURN(std::string value,
                         PrepareExpression(ctx, assignment.expr, relation, op.Verb(), &window));
    auto existing = relation.schema.Find(assignment.name);
    std::string body;
    if (existing) {  // replace in place, keeping the column's position
      body = "SELECT * REPLACE (" + value + " AS " +
             QuoteIdentifier(relation.schema.columns[*existing].name) + ") FROM " + relation.cte;
    } else {
      body = "SELECT *, " + value + " AS " + QuoteIdentifier(assignment.name) + " FROM " +
             relation.cte;
    }
    DUX_ASSIGN_OR_RETURN(relation, ctx.AddCte(body, relation, op.Verb(), assignment.expr.loc));
    if (window) relation.ordered = false;
  }
  return relation;
}

}  // namespace

Result<Relation> CompileRowwise(CompileContext& ctx, const Op& op, const Relation& in) {
  const char* verb = op.Verb();
  if (auto* f = std::get_if<FilterOp>(&op.body)) return Filter(ctx, *f, op, in);
  if (auto* m = std::get_if<MutateOp>(&op.body)) return Mutate(ctx, *m, op, in);

  if (auto* s = std::get_if<SelectOp>(&op.body)) {
    if (s->columns.empty()) return VerbError(verb, op.loc, "needs at least one column");
    DUX_ASSIGN_OR_RETURN(auto cols, ResolveColumns(s->columns, in.schema, verb, op.loc));
    std::vector<std::string> dropped;
    for (const auto& c : in.schema.columns) {
      if (std::find(cols.begin(), cols.end(), c.name) == cols.end()) dropped.push_back(c.name);
    }
    DUX_RETURN_NOT_OK(CheckGroupsKept(in, dropped, op));
    return ctx.AddCte("SELECT " + QuoteIdentifiers(cols) + " FROM " + in.cte, in, verb, op.loc);
  }
  if (auto* d = std::get_if<DiscardOp>(&op.body)) {
    if (d->columns.empty()) return in;
    DUX_ASSIGN_OR_RETURN(auto cols, ResolveColumns(d->columns, in.schema, verb, op.loc));
    DUX_RETURN_NOT_OK(CheckGroupsKept(in, cols, op));
    if (cols.size() == in.schema.columns.size()) {
      return VerbError(verb, op.loc, "cannot discard every column");
    }
    return ctx.AddCte("SELECT * EXCLUDE (" + QuoteIdentifiers(cols) + ") FROM " + in.cte, in, verb,
                      op.loc);
  }
  if (auto* r = std::get_if<RenameOp>(&op.body)) {
    if (r->renames.empty()) return VerbError(verb, op.loc, "needs at least one old: new pair");
    std::vector<std::string> olds;
    for (const auto& [old_name, new_name] : r->renames) olds.push_back(old_name);
    DUX_ASSIGN_OR_RETURN(auto resolved, ResolveColumns(olds, in.schema, verb, op.loc));
    std::vector<std::string> names;
    for (const auto& c : in.schema.columns) names.push_back(c.name);
    Relation like = in;
    // Every rename looks up the original names, so renames apply at once and can swap
    // names (a: b, b: a); renaming one after the other would fold both onto one name.
    for (size_t i = 0; i < resolved.size(); ++i) {
      const std::string& new_name = r->renames[i].second;
      if (new_name.empty()) return VerbError(verb, op.loc, "a new name cannot be empty");
      for (size_t c = 0; c < names.size(); ++c) {
        if (in.schema.columns[c].name == resolved[i]) names[c] = new_name;
      }
      for (size_t g = 0; g < like.groups.size(); ++g) {
        if (in.groups[g] == resolved[i]) like.groups[g] = new_name;
      }
    }
    std::vector<std::string> select;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& old_name = in.schema.columns[i].name;
      select.push_back(QuoteIdentifier(old_name) +
                       (names[i] == old_name ? "" : " AS " + QuoteIdentifier(names[i])));
      for (size_t j = 0; j < i; ++j) {
        if (SameColumnName(names[j], names[i])) {
          return VerbError(verb, op.loc, "two columns would be named " + QuoteIdentifier(names[i]));
        }
      }
    }
    return ctx.AddCte("SELECT " + Join(select) + " FROM " + in.cte, like, verb, op.loc);
  }
  const auto& drop = std::get<DropNilOp>(op.body);
  std::vector<std::string> cols;
  if (drop.columns.empty()) {
    for (const auto& c : in.schema.columns) cols.push_back(c.name);
  } else {
    DUX_ASSIGN_OR_RETURN(cols, ResolveColumns(drop.columns, in.schema, verb, op.loc));
  }
  std::vector<std::string> tests;
  tests.reserve(cols.size());
  for (const auto& c : cols) tests.push_back(QuoteIdentifier(c) + " IS NOT NULL");
  return ctx.AddCte("SELECT * FROM " + in.cte + " WHERE " + Join(tests, " AND "), in, verb, op.loc);
}

}  // namespace dux::sql::internal
