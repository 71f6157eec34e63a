// The parsers of the verbs between a source and a sink (filter, mutate, join, ...): each
// reads a verb's call into its OpBody, and VerbParsers() lists them by name.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dux/common/ascii.h"
#include "dux/pipeline/parser_internal.h"

namespace dux::pipeline::internal {

namespace {

constexpr int64_t kDefaultHead = 5;

Result<OpBody> ParseFilter(Parser& p, std::string_view verb, Location loc) {
  std::optional<Expr> predicate;
  auto read_predicate = [&](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadExpr(verb), &predicate);
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_predicate}));
  if (!predicate) return p.Error(loc, fmt::format("{}: needs one expression", verb));
  return FilterOp{std::move(*predicate)};
}

/// The `name: expr, ...` arguments of mutate and summarise. A name may repeat only when
/// `allow_repeats` (a later mutate column replaces an earlier one).
Result<std::vector<NamedExpr>> ParseNamedExprs(Parser& p, std::string_view verb, Location loc,
                                               bool allow_repeats) {
  std::vector<NamedExpr> named;
  auto read_named = [&](const Keyword& kw) -> Status {
    const bool repeated = std::any_of(named.begin(), named.end(), [&](const NamedExpr& e) {
      return EqualsIgnoringAsciiCase(e.name, kw.name);
    });
    if (repeated && !allow_repeats) {
      return p.Error(kw.loc, fmt::format("{}: duplicate name {}", verb, Quote(kw.name)));
    }
    DUX_ASSIGN_OR_RETURN(Expr expr, p.ReadExpr(verb));
    named.push_back({kw.name, std::move(expr)});
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = OnlyKeywords(p, verb, "name: expr"), .keyword = read_named}));
  if (named.empty()) {
    return p.Error(loc, fmt::format("{}: needs at least one name: expr argument", verb));
  }
  return named;
}

Result<OpBody> ParseMutate(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(std::vector<NamedExpr> columns,
                       ParseNamedExprs(p, verb, loc, /*allow_repeats=*/true));
  return MutateOp{std::move(columns)};
}

Result<OpBody> ParseSummarise(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(std::vector<NamedExpr> aggregates,
                       ParseNamedExprs(p, verb, loc, /*allow_repeats=*/false));
  return SummariseOp{std::move(aggregates)};
}

/// Positional column names; `required` demands at least one.
Result<std::vector<std::string>> ParseColumns(Parser& p, std::string_view verb, Location loc,
                                              bool required) {
  std::vector<std::string> columns;
  auto read_column = [&](int) -> Status {
    DUX_ASSIGN_OR_RETURN(std::string name, p.ReadName({verb, ""}));
    columns.push_back(std::move(name));
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_column}));
  if (required && columns.empty()) {
    return p.Error(loc, fmt::format("{}: needs at least one column", verb));
  }
  return columns;
}

Result<OpBody> ParseSelect(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/true));
  return SelectOp{std::move(columns)};
}

Result<OpBody> ParseDiscard(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/true));
  return DiscardOp{std::move(columns)};
}

Result<OpBody> ParseGroupBy(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/true));
  return GroupByOp{std::move(columns)};
}

Result<OpBody> ParseDropNil(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/false));
  return DropNilOp{std::move(columns)};
}

Result<OpBody> ParseDistinct(Parser& p, std::string_view verb, Location loc) {
  DUX_ASSIGN_OR_RETURN(auto columns, ParseColumns(p, verb, loc, /*required=*/false));
  return DistinctOp{std::move(columns)};
}

Result<OpBody> ParseUngroup(Parser& p, std::string_view verb, Location) {
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {}));
  return UngroupOp{};
}

Result<OpBody> ParseRename(Parser& p, std::string_view verb, Location loc) {
  RenameOp op;
  auto read_rename = [&](const Keyword& kw) -> Status {
    for (const auto& [old_name, new_name] : op.renames) {
      if (EqualsIgnoringAsciiCase(old_name, kw.name)) {
        return p.Error(kw.loc, fmt::format("{}: duplicate column {}", verb, Quote(kw.name)));
      }
    }
    DUX_ASSIGN_OR_RETURN(std::string new_name, p.ReadName({verb, kw.name}));
    op.renames.emplace_back(kw.name, std::move(new_name));
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = OnlyKeywords(p, verb, "old: new"), .keyword = read_rename}));
  if (op.renames.empty()) {
    return p.Error(loc, fmt::format("{}: needs at least one old: new argument", verb));
  }
  return op;
}

struct SortDirection {
  std::string_view keyword;
  bool descending;
  NullOrder nulls;
};

constexpr SortDirection kSortDirections[] = {
    {"asc", false, NullOrder::kDefault},           {"desc", true, NullOrder::kDefault},
    {"asc_nulls_first", false, NullOrder::kFirst}, {"asc_nulls_last", false, NullOrder::kLast},
    {"desc_nulls_first", true, NullOrder::kFirst}, {"desc_nulls_last", true, NullOrder::kLast},
};

/// sort_by(a, desc: b, ...): the keywords are directions, and may repeat.
Result<OpBody> ParseSortBy(Parser& p, std::string_view verb, Location loc) {
  SortByOp op;
  auto read_key = [&](bool descending, NullOrder nulls) -> Status {
    DUX_ASSIGN_OR_RETURN(Expr expr, p.ReadExpr(verb));
    op.keys.push_back(SortKey{std::move(expr), descending, nulls});
    return Status::OK();
  };
  auto read_ascending = [&](int) { return read_key(false, NullOrder::kDefault); };
  auto read_directed = [&](const Keyword& kw) -> Status {
    for (const SortDirection& direction : kSortDirections) {
      if (kw.name == direction.keyword) return read_key(direction.descending, direction.nulls);
    }
    return p.Error(kw.loc, fmt::format("{}: unknown option {}", verb, Quote(kw.name)));
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_ascending, .keyword = read_directed}));
  if (op.keys.empty()) return p.Error(loc, fmt::format("{}: needs at least one key", verb));
  return op;
}

Result<OpBody> ParseHead(Parser& p, std::string_view verb, Location) {
  std::optional<int64_t> n;
  auto read_n = [&](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadCount({verb, ""}), &n);
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_n}));
  return HeadOp{n.value_or(kDefaultHead)};
}

Result<OpBody> ParseSlice(Parser& p, std::string_view verb, Location loc) {
  std::vector<int64_t> numbers;  // offset, length
  auto read_number = [&](int index) -> Status {
    if (index > 1) return p.Unexpected(verb);
    DUX_ASSIGN_OR_RETURN(int64_t n, p.ReadCount({verb, ""}));
    numbers.push_back(n);
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_number}));
  if (numbers.size() != 2) {
    return p.Error(loc, fmt::format("{}: needs an offset and a length", verb));
  }
  return SliceOp{numbers[0], numbers[1]};
}

/// A positional reader for the pipeline argument of join and asof_join.
PositionalReader SolePipeline(Parser& p, std::string_view verb, PipelinePtr* out) {
  return [&p, verb, out](int index) -> Status {
    if (index > 0) return p.Unexpected(verb);
    return Assign(p.ReadNestedPipeline({verb, ""}), out);
  };
}

constexpr Choices<JoinHow, 8> kJoinHows = {
    {"inner", JoinHow::kInner}, {"left", JoinHow::kLeft},  {"right", JoinHow::kRight},
    {"full", JoinHow::kFull},   {"outer", JoinHow::kFull}, {"cross", JoinHow::kCross},
    {"semi", JoinHow::kSemi},   {"anti", JoinHow::kAnti},
};

constexpr Choices<AsofCompare, 4> kAsofCompares = {
    {">=", AsofCompare::kGreaterEqual},
    {">", AsofCompare::kGreater},
    {"<=", AsofCompare::kLessEqual},
    {"<", AsofCompare::kLess},
};

constexpr Choices<bool, 2> kAsofHows = {{"inner", false}, {"left", true}};

Result<OpBody> ParseJoin(Parser& p, std::string_view verb, Location loc) {
  JoinOp op;
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = SolePipeline(p, verb, &op.right),
                         .options = {
                             {"on", Store(p, &Parser::ReadJoinKeys, &op.on)},
                             {"how", Choose(p, kJoinHows, /*strings_only=*/false, &op.how)},
                             {"suffix", Store(p, &Parser::ReadString, &op.suffix)},
                         }}));
  if (!op.right) return p.Error(loc, fmt::format("{}: needs a pipeline to join", verb));
  return op;
}

Result<OpBody> ParseAsofJoin(Parser& p, std::string_view verb, Location loc) {
  AsofJoinOp op;
  std::optional<JoinKey> by;
  auto read_by = [&](const Arg& arg) -> Status {
    const Location start = p.Here();
    DUX_ASSIGN_OR_RETURN(std::vector<JoinKey> keys, p.ReadJoinKeys(arg));
    if (keys.size() != 1) {
      return p.Error(start,
                     fmt::format("{}: expected exactly one key for by, got {}", verb, keys.size()));
    }
    by = std::move(keys[0]);
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = SolePipeline(p, verb, &op.right),
             .options = {
                 {"by", read_by},
                 {"compare", Choose(p, kAsofCompares, /*strings_only=*/true, &op.compare)},
                 {"on", Store(p, &Parser::ReadJoinKeys, &op.on)},
                 {"how", Choose(p, kAsofHows, /*strings_only=*/false, &op.left)},
                 {"suffix", Store(p, &Parser::ReadString, &op.suffix)},
             }}));
  if (!op.right) return p.Error(loc, fmt::format("{}: needs a pipeline to join", verb));
  if (!by) return p.Error(loc, fmt::format("{}: needs a by key", verb));
  op.by = std::move(*by);
  return op;
}

Result<OpBody> ParseConcatRows(Parser& p, std::string_view verb, Location loc) {
  ConcatRowsOp op;
  auto read_other = [&](int) -> Status {
    DUX_ASSIGN_OR_RETURN(PipelinePtr other, p.ReadNestedPipeline({verb, ""}));
    op.others.push_back(std::move(other));
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_other}));
  if (op.others.empty()) return p.Error(loc, fmt::format("{}: needs at least one pipeline", verb));
  return op;
}

Result<OpBody> ParsePivotWider(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> names_from;
  std::vector<std::string> values_from;
  auto read_names_from = [&](const Arg& arg) { return Assign(p.ReadName(arg), &names_from); };
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.options = {
                             {"names_from", read_names_from},
                             {"values_from", Store(p, &Parser::ReadNames, &values_from)},
                         }}));
  if (!names_from) return p.Error(loc, fmt::format("{}: needs names_from", verb));
  if (values_from.empty()) return p.Error(loc, fmt::format("{}: needs values_from", verb));
  return PivotWiderOp{std::move(*names_from), std::move(values_from)};
}

Result<OpBody> ParsePivotLonger(Parser& p, std::string_view verb, Location loc) {
  PivotLongerOp op;
  auto read_columns = [&](int) -> Status {
    DUX_ASSIGN_OR_RETURN(std::vector<std::string> names, p.ReadNames({verb, ""}));
    op.columns.insert(op.columns.end(), names.begin(), names.end());
    return Status::OK();
  };
  auto read_target = [&p](std::string* out) -> OptionReader {
    return [&p, out](const Arg& arg) { return Assign(p.ReadNameOrString(arg, "a name"), out); };
  };
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = read_columns,
                                       .options = {
                                           {"names_to", read_target(&op.names_to)},
                                           {"values_to", read_target(&op.values_to)},
                                       }}));
  if (op.columns.empty()) return p.Error(loc, fmt::format("{}: needs at least one column", verb));
  return op;
}

constexpr Entry<OpBody> kVerbs[] = {
    {"filter", ParseFilter},
    {"mutate", ParseMutate},
    {"select", ParseSelect},
    {"discard", ParseDiscard},
    {"rename", ParseRename},
    {"drop_nil", ParseDropNil},
    {"group_by", ParseGroupBy},
    {"ungroup", ParseUngroup},
    {"summarise", ParseSummarise},
    {"summarize", ParseSummarise},
    {"sort_by", ParseSortBy},
    {"head", ParseHead},
    {"slice", ParseSlice},
    {"distinct", ParseDistinct},
    {"join", ParseJoin},
    {"asof_join", ParseAsofJoin},
    {"concat_rows", ParseConcatRows},
    {"pivot_wider", ParsePivotWider},
    {"pivot_longer", ParsePivotLonger},
};

}  // namespace

std::span<const Entry<OpBody>> VerbParsers() { return kVerbs; }

}  // namespace dux::pipeline::internal
