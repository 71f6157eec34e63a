#include "dux/engine/attached_tables.h"

#include <fmt/format.h>

#include <chrono>
#include <map>

#include "dux/pg/catalog.h"
#include "dux/pg/pushdown.h"
#include "dux/pg/slice.h"
#include "dux/pg/table_reader.h"
#include "dux/sql/compiler.h"
#include "dux/sql/quote.h"

namespace dux::engine {

namespace {

using pipeline::AttachedSource;
using pipeline::Pipeline;

// One distinct (alias, table, columns), with every place it is read from.
struct Use {
  const AttachedSource* source = nullptr;
  pipeline::Location loc;  ///< where it is first written
  int count = 0;
  std::vector<std::string> filters;  ///< the leading filters of its only use
};

Status SourceError(const Status& s, const pipeline::Location& loc) {
  return Status(s.code(), "from_attached: " + s.message() + loc.Suffix());
}

// The column indices `names` select (all when empty), or the error naming the unknown one.
Result<std::vector<size_t>> ResolveColumns(const std::vector<std::string>& names,
                                           const pg::TableDescription& table,
                                           const std::string& shown) {
  std::vector<size_t> out;
  for (const auto& name : names) {
    int i = table.Find(name);
    if (i < 0) {
      return Status::InvalidArgument(fmt::format("unknown column \"{}\" in {}", name, shown));
    }
    for (size_t j : out) {
      if (j == static_cast<size_t>(i)) {
        return Status::InvalidArgument(fmt::format("column \"{}\" is listed twice", name));
      }
    }
    out.push_back(static_cast<size_t>(i));
  }
  return out;
}

}  // namespace

pg::SliceMethod SliceMethodOf(const pipeline::AttachedSlice& slice) {
  switch (slice.method) {
    case pipeline::AttachedSlice::Method::kModulus:
      return pg::SliceMethod::kModulus;
    case pipeline::AttachedSlice::Method::kHash:
      return pg::SliceMethod::kHash;
    case pipeline::AttachedSlice::Method::kRange:
      return pg::SliceMethod::kRange;
  }
  return pg::SliceMethod::kModulus;
}

std::optional<pg::KeyRange> KeyRangeOf(const pipeline::AttachedSlice& slice) {
  if (!slice.range) return std::nullopt;
  return pg::KeyRange{slice.range->first, slice.range->second};
}

Result<std::unique_ptr<AttachedTables>> AttachedTables::Load(exec::Connection& connection,
                                                             const Pipeline& pipeline,
                                                             const Finder& find, Mode mode,
                                                             const Telemetry* telemetry) {
  std::map<std::string, Use> uses;  // by table name, in name order (deterministic)
  pipeline::ForEachPipeline(pipeline, [&](const Pipeline& p) {
    auto* source = std::get_if<AttachedSource>(&p.source().body);
    if (!source) return;
    Use& use = uses[sql::AttachedTableName(*source)];
    if (use.count++ == 0) {
      use.source = source;
      use.loc = p.source().loc;
      for (const auto& op : p.ops()) {
        auto* filter = std::get_if<pipeline::FilterOp>(&op.body);
        if (!filter) break;
        use.filters.push_back(filter->predicate.sql);
      }
    }
  });
  auto tables = std::unique_ptr<AttachedTables>(new AttachedTables(connection));
  for (const auto& [name, use] : uses) {
    const AttachedSource& s = *use.source;
    const AttachedDatabase* database = find(s.alias);
    if (database == nullptr) {
      return SourceError(Status::InvalidArgument(fmt::format(
                             "no attached database \"{}\" (attach it first: attach(\"{}\", ...))",
                             s.alias, s.alias)),
                         use.loc);
    }
    const std::string quoted = sql::QuoteIdentifier(name);
    connection.DropTemporaryTable(name);
    (void)connection.Execute("DROP VIEW IF EXISTS temp." + quoted);
    if (database->postgres == nullptr) {
      // A DuckDB file: a view over the attached table, which DuckDB reads itself.
      DUX_ASSIGN_OR_RETURN(pg::TableName table, pg::ParseTableName(s.table));
      std::string from = sql::QuoteIdentifier(s.alias) + "." +
                         (table.schema.empty() ? "" : sql::QuoteIdentifier(table.schema) + ".") +
                         sql::QuoteIdentifier(table.name);
      std::string columns = s.columns.empty() ? "*" : sql::QuoteIdentifiers(s.columns);
      auto made = connection.Execute("CREATE TEMPORARY VIEW " + quoted + " AS SELECT " + columns +
                                     " FROM " + from);
      if (!made.ok()) return SourceError(made.status(), use.loc);
      tables->views_.push_back(name);
      continue;
    }
    pg::Connection& pg = *database->postgres;
    const std::string shown = s.alias + "." + s.table;
    auto table_name = pg::ParseTableName(s.table);
    if (!table_name.ok()) return SourceError(table_name.status(), use.loc);
    auto description = pg::DescribeTable(pg, *table_name);
    if (!description.ok()) {
      Status st = description.status();
      if (st.code() == StatusCode::kNotFound) {
        st = Status::NotFound(
            fmt::format("no table \"{}\" in the PostgreSQL database \"{}\"", s.table, s.alias));
      }
      return SourceError(st, use.loc);
    }
    pg::ReadSpec spec;
    auto columns = ResolveColumns(s.columns, *description, shown);
    if (!columns.ok()) return SourceError(columns.status(), use.loc);
    spec.columns = std::move(columns).value();
    if (!s.partition_by.empty()) {
      // Checked here too, so that a pipeline fails the same way locally and distributed.
      int key = description->Find(s.partition_by);
      if (key < 0) {
        return SourceError(Status::InvalidArgument(fmt::format("unknown partition_by column "
                                                               "\"{}\" in {}",
                                                               s.partition_by, shown)),
                           use.loc);
      }
      const pg::PgColumn& column = description->columns[key];
      if (!column.unsupported.empty()) {
        return SourceError(Status::InvalidArgument(column.unsupported), use.loc);
      }
      auto method = pg::DefaultSliceMethod(column.type, column.name);
      if (!method.ok()) return SourceError(method.status(), use.loc);
      if (s.slice) {
        // A worker's share of a distributed read: PostgreSQL selects the slice.
        auto predicate = pg::SlicePredicate(column.name, SliceMethodOf(*s.slice), s.slice->index,
                                            s.slice->count, KeyRangeOf(*s.slice));
        if (!predicate.ok()) return SourceError(predicate.status(), use.loc);
        if (!predicate->empty()) spec.predicates.push_back(std::move(predicate).value());
      }
    }
    if (use.count == 1) {
      for (const auto& filter : use.filters) {
        for (auto& p : pg::PushableConjuncts(&connection, filter, *description)) {
          spec.predicates.push_back(std::move(p));
        }
      }
    }
    auto create = pg::CreateTableSql(*description, spec, name);
    if (!create.ok()) return SourceError(create.status(), use.loc);
    auto made = connection.Execute(*create);
    if (!made.ok()) return SourceError(made.status(), use.loc);
    tables->tables_.push_back(name);
    tables->explain_ += fmt::format(
        "-- from_attached(\"{}\", \"{}\"): PostgreSQL ({}) runs COPY ({}) TO STDOUT (FORMAT "
        "binary) into temp.{}\n",
        s.alias, s.table, pg.redacted(), pg::SelectSql(*description, spec), quoted);
    if (mode == Mode::kSchemaOnly) continue;
    auto start = std::chrono::steady_clock::now();
    auto rows = pg::ReadInto(pg, connection, *description, spec, name);
    if (!rows.ok()) return SourceError(rows.status(), use.loc);
    if (telemetry) {
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      telemetry->Emit({"postgres.read.stop",
                       {{"rows", static_cast<double>(*rows)}, {"duration", seconds}},
                       {{"alias", s.alias}, {"table", s.table}, {"conninfo", pg.redacted()}}});
    }
  }
  return tables;
}

AttachedTables::~AttachedTables() {
  for (const auto& t : tables_) {
    connection_.DropTemporaryTable(t);
  }
  for (const auto& v : views_) {
    (void)connection_.Execute("DROP VIEW IF EXISTS temp." + sql::QuoteIdentifier(v));
  }
}

}  // namespace dux::engine
