// The parsers of the sources (from_parquet, from_csv, ...): each reads a source's call into
// its SourceBody, and SourceParsers() lists them by name.
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

Result<SourceBody> ParseFromParquet(Parser& p, std::string_view verb, Location loc) {
  ParquetSource source;
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = SoleString(p, verb, &path),
             .options = {
                 {"hive_partitioning", Store(p, &Parser::ReadBool, &source.hive_partitioning)},
                 {"union_by_name", Store(p, &Parser::ReadBool, &source.union_by_name)},
                 {"hive_types", Store(p, &Parser::ReadTypes, &source.hive_types)},
             }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  source.path = std::move(*path);
  return source;
}

Result<SourceBody> ParseFromCsv(Parser& p, std::string_view verb, Location loc) {
  CsvSource csv;
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = SoleString(p, verb, &path),
                         .options = {
                             {"delimiter", Store(p, &Parser::ReadString, &csv.delimiter)},
                             {"header", Store(p, &Parser::ReadBool, &csv.header)},
                             {"skip", Store(p, &Parser::ReadCount, &csv.skip)},
                             {"nullstr", Store(p, &Parser::ReadString, &csv.nullstr)},
                             {"types", Store(p, &Parser::ReadTypes, &csv.types)},
                             {"columns", Store(p, &Parser::ReadNames, &csv.columns)},
                         }}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  csv.path = std::move(*path);
  return csv;
}

Result<SourceBody> ParseFromNdjson(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &path)}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  return NdjsonSource{std::move(*path)};
}

Result<SourceBody> ParseFromArrow(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> path;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &path)}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, path, "a path"));
  return ArrowSource{std::move(*path)};
}

Result<SourceBody> ParseFromQuery(Parser& p, std::string_view verb, Location loc) {
  std::optional<std::string> sql;
  DUX_RETURN_NOT_OK(p.ParseCall(verb, {.positional = SoleString(p, verb, &sql)}));
  DUX_RETURN_NOT_OK(Required(p, verb, loc, sql, "a SQL query"));
  return QuerySource{std::move(*sql)};
}

/// from_attached("alias", "schema.table", partition_by: key, columns: [a, b]).
Result<SourceBody> ParseFromAttached(Parser& p, std::string_view verb, Location loc) {
  AttachedSource source;
  std::vector<std::string> strings;
  auto read_string = [&](int index) -> Status {
    if (index > 1) return p.Unexpected(verb);
    DUX_ASSIGN_OR_RETURN(std::string s, p.ReadString({verb, ""}));
    strings.push_back(std::move(s));
    return Status::OK();
  };
  auto read_key = [&](const Arg& arg) {
    return Assign(p.ReadNameOrString(arg, "a column name"), &source.partition_by);
  };
  DUX_RETURN_NOT_OK(
      p.ParseCall(verb, {.positional = read_string,
                         .options = {
                             {"partition_by", read_key},
                             {"columns", Store(p, &Parser::ReadNames, &source.columns)},
                         }}));
  if (strings.size() != 2) {
    return p.Error(loc, fmt::format("{}: needs an alias and a table name", verb));
  }
  if (strings[0].empty() || strings[1].empty()) {
    return p.Error(loc, fmt::format("{}: needs a non-empty alias and table name", verb));
  }
  source.alias = std::move(strings[0]);
  source.table = std::move(strings[1]);
  return source;
}

/// from_values(col: [literals], ..., types: [col: "TYPE"]): columns are written whole and
/// turned into rows here.
Result<SourceBody> ParseFromValues(Parser& p, std::string_view verb, Location loc) {
  ValuesSource values;
  std::vector<std::vector<Value>> columns;
  std::vector<Location> column_locs;
  std::optional<Location> types_loc;
  auto read_keyword = [&](const Keyword& kw) -> Status {
    // `types:` is the types option when its list holds name: "TYPE" pairs, else a column.
    if (kw.name == "types" && p.LooksAtPairList()) {
      if (types_loc) {
        return p.Error(kw.loc, fmt::format("{}: duplicate option {}", verb, Quote(kw.name)));
      }
      types_loc = kw.loc;
      return Assign(p.ReadTypes({verb, "types"}), &values.types);
    }
    for (const std::string& name : values.columns) {
      if (EqualsIgnoringAsciiCase(name, kw.name)) {
        return p.Error(kw.loc, fmt::format("{}: duplicate column {}", verb, Quote(kw.name)));
      }
    }
    const std::string column_text = fmt::format("column {}", Quote(kw.name));
    std::vector<Value> column;
    auto read_value = [&]() -> Status {
      DUX_ASSIGN_OR_RETURN(Value value, p.ReadLiteral({verb, ""}));
      column.push_back(std::move(value));
      return Status::OK();
    };
    DUX_RETURN_NOT_OK(p.ReadList({verb, column_text}, read_value));
    values.columns.push_back(kw.name);
    columns.push_back(std::move(column));
    column_locs.push_back(kw.loc);
    return Status::OK();
  };
  DUX_RETURN_NOT_OK(p.ParseCall(
      verb, {.positional = OnlyKeywords(p, verb, "name: [values]"), .keyword = read_keyword}));

  if (columns.empty()) return p.Error(loc, fmt::format("{}: needs at least one column", verb));
  const size_t num_rows = columns[0].size();
  for (size_t c = 1; c < columns.size(); ++c) {
    if (columns[c].size() != num_rows) {
      return p.Error(column_locs[c],
                     fmt::format("{}: expected {} values in every column, got {} in column {}",
                                 verb, num_rows, columns[c].size(), Quote(values.columns[c])));
    }
  }
  for (const auto& [name, type] : values.types) {
    const bool known = std::any_of(
        values.columns.begin(), values.columns.end(),
        [&name = name](const std::string& c) { return EqualsIgnoringAsciiCase(c, name); });
    if (!known) {
      return p.Error(*types_loc, fmt::format("{}: unknown column in types {}", verb, Quote(name)));
    }
  }
  values.rows.resize(num_rows);
  for (size_t r = 0; r < num_rows; ++r) {
    for (auto& column : columns) values.rows[r].push_back(std::move(column[r]));
  }
  return values;
}

constexpr Entry<SourceBody> kSources[] = {
    {"from_parquet", ParseFromParquet},   {"from_csv", ParseFromCsv},
    {"from_ndjson", ParseFromNdjson},     {"from_query", ParseFromQuery},
    {"from_values", ParseFromValues},     {"from_arrow", ParseFromArrow},
    {"from_attached", ParseFromAttached},
};

}  // namespace

std::span<const Entry<SourceBody>> SourceParsers() { return kSources; }

}  // namespace dux::pipeline::internal
