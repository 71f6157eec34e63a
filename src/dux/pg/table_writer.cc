#include "dux/pg/table_writer.h"

#include <duckdb.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <regex>

#include "dux/common/ascii.h"
#include "dux/exec/streaming_query.h"
#include "dux/sql/quote.h"

namespace dux::pg {

namespace {

constexpr size_t kSendSize = 1 << 20;  // bytes handed to libpq at a time

// "T[]" or "T[3]" -> "T"; nullopt for a type that is not a list.
std::optional<std::string> ListElement(const std::string& type) {
  if (type.empty() || type.back() != ']') return std::nullopt;
  size_t open = type.rfind('[');
  if (open == std::string::npos) return std::nullopt;
  return type.substr(0, open);
}

// DuckDB text of one scalar `x` of `type`, as PostgreSQL's input function reads it.
std::string ScalarText(const std::string& x, const std::string& type) {
  // DuckDB's text form of a BLOB escapes only non-printable bytes; PostgreSQL's bytea
  // input wants its hex format.
  std::string upper = AsciiUpper(type);
  if (upper == "BLOB") return "('\\x' || hex(" + x + "))";
  // DuckDB writes years before 1 as "0045-03-15 (BC)"; PostgreSQL reads "0045-03-15 BC".
  if (upper == "DATE" || upper.starts_with("TIMESTAMP")) {
    return "replace(CAST(" + x + " AS VARCHAR), ' (BC)', ' BC')";
  }
  return "CAST(" + x + " AS VARCHAR)";
}

enum class Family {
  kBool,
  kNumber,
  kText,
  kBlob,
  kDate,
  kTime,
  kTimestamp,
  kInterval,
  kUuid,
  kJson,
  kList,
  kOther
};

Family DuckDbFamily(const std::string& duckdb_type) {
  if (ListElement(duckdb_type)) return Family::kList;
  std::string t = AsciiUpper(duckdb_type);
  if (t == "BOOLEAN") return Family::kBool;
  static const char* const kNumbers[] = {"TINYINT",  "SMALLINT",  "INTEGER",  "BIGINT",  "HUGEINT",
                                         "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
                                         "FLOAT",    "DOUBLE",    "BIGNUM",   "VARINT"};
  for (const char* n : kNumbers) {
    if (t == n) return Family::kNumber;
  }
  if (t.starts_with("DECIMAL")) return Family::kNumber;
  if (t == "VARCHAR" || t.starts_with("ENUM(")) return Family::kText;
  if (t == "BLOB") return Family::kBlob;
  if (t == "DATE") return Family::kDate;
  if (t.starts_with("TIMESTAMP")) return Family::kTimestamp;
  if (t.starts_with("TIME")) return Family::kTime;
  if (t == "INTERVAL") return Family::kInterval;
  if (t == "UUID") return Family::kUuid;
  if (t == "JSON") return Family::kJson;
  return Family::kOther;
}

Family PgFamily(const ColumnType& type) {
  if (type.is_array) return Family::kList;
  switch (type.kind) {
    case Kind::kBool:
      return Family::kBool;
    case Kind::kInt2:
    case Kind::kInt4:
    case Kind::kInt8:
    case Kind::kOid:
    case Kind::kFloat4:
    case Kind::kFloat8:
    case Kind::kNumeric:
      return Family::kNumber;
    case Kind::kText:
      return Family::kText;
    case Kind::kBytea:
      return Family::kBlob;
    case Kind::kDate:
      return Family::kDate;
    case Kind::kTime:
    case Kind::kTimeTz:
      return Family::kTime;
    case Kind::kTimestamp:
    case Kind::kTimestampTz:
      return Family::kTimestamp;
    case Kind::kInterval:
      return Family::kInterval;
    case Kind::kUuid:
      return Family::kUuid;
    case Kind::kJson:
    case Kind::kJsonb:
      return Family::kJson;
  }
  return Family::kOther;
}

// A name for the staging table, unique across processes and calls.
std::string StagingName() {
  static std::atomic<uint64_t> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return fmt::format("__dux_stage_{:x}_{:x}_{}",
                     std::chrono::duration_cast<std::chrono::microseconds>(now).count(),
                     static_cast<unsigned>(getpid()), counter++);
}

// PostgreSQL's COPY context "COPY t, line 3, column amount: "x"" names the (staging) table
// and counts input lines, which are the result's rows: it becomes "row 3, column amount: "x""
// (the value cut to 60 bytes), and a context quoting the whole line just "row 3".
std::string RowContext(const std::string& message) {
  static const std::regex kContext(R"( \(COPY [^,]*, line (\d+)(, column ([^:]*))?(: (.*))?\)$)");
  std::smatch m;
  if (!std::regex_search(message, m, kContext)) return message;
  std::string context = "row " + m[1].str();
  if (m[2].matched) {
    context += ", column " + m[3].str();
    std::string value = m[5].str();
    if (m[4].matched && value.size() <= 60) context += ": " + value;
  }
  return message.substr(0, m.position(0)) + " (" + context + ")";
}

// Writes the COPY text of every row of `chunk` (all VARCHAR columns) into `buffer`.
void AppendChunk(duckdb_data_chunk chunk, std::string* buffer) {
  idx_t rows = duckdb_data_chunk_get_size(chunk);
  idx_t columns = duckdb_data_chunk_get_column_count(chunk);
  std::vector<duckdb_string_t*> data(columns);
  std::vector<uint64_t*> validity(columns);
  for (idx_t c = 0; c < columns; ++c) {
    duckdb_vector vector = duckdb_data_chunk_get_vector(chunk, c);
    data[c] = static_cast<duckdb_string_t*>(duckdb_vector_get_data(vector));
    validity[c] = duckdb_vector_get_validity(vector);
  }
  for (idx_t r = 0; r < rows; ++r) {
    for (idx_t c = 0; c < columns; ++c) {
      if (c) buffer->push_back('\t');
      if (validity[c] && !duckdb_validity_row_is_valid(validity[c], r)) {
        buffer->append("\\N");
        continue;
      }
      duckdb_string_t* s = &data[c][r];
      AppendCopyText(std::string_view(duckdb_string_t_data(s), duckdb_string_t_length(*s)), buffer);
    }
    buffer->push_back('\n');
  }
}

// CheckInsert's layout and the DuckDB query rendering COPY text.
struct Plan {
  InsertLayout layout;
  std::string select;
};

Result<InsertLayout> MakeLayout(const pipeline::Schema& schema, const InsertTarget& target,
                                const TableDescription* existing) {
  if (schema.columns.empty()) return Status::InvalidArgument("the result has no columns");
  InsertLayout layout;
  layout.table = existing ? existing->name : target.table;
  for (const auto& column : schema.columns) {
    if (existing) {
      int i = existing->Find(column.name);
      if (i < 0) {
        std::string names;
        for (const auto& c : existing->columns) names += (names.empty() ? "" : ", ") + c.name;
        return Status::InvalidArgument(fmt::format("column \"{}\" is not in {} (its columns: {})",
                                                   column.name, target.display_name, names));
      }
      const PgColumn& pg_column = existing->columns[i];
      DUX_RETURN_NOT_OK(CheckAssignable(column.name, column.type, pg_column, target.display_name));
      layout.names.push_back(pg_column.name);
    } else {
      DUX_ASSIGN_OR_RETURN(std::string pg_type, PgTypeFor(column.type, column.name));
      layout.pg_types.push_back(pg_type);
      layout.names.push_back(column.name);
    }
    DUX_RETURN_NOT_OK(CopyTextExpression(sql::QuoteIdentifier(column.name), column.type).status());
  }
  return layout;
}

Result<std::string> CopySelect(const pipeline::Schema& schema, const std::string& select_sql) {
  std::string select;
  for (const auto& column : schema.columns) {
    DUX_ASSIGN_OR_RETURN(std::string text,
                         CopyTextExpression(sql::QuoteIdentifier(column.name), column.type));
    select += (select.empty() ? "" : ", ") + text;
  }
  return "SELECT " + select + " FROM (" + select_sql + "\n)";
}

std::string ColumnList(const std::vector<std::string>& names) {
  return sql::QuoteIdentifiers(names);
}

std::string CreateSql(const TableName& table, const InsertLayout& layout, bool unlogged = false) {
  std::string columns;
  for (size_t i = 0; i < layout.names.size(); ++i) {
    columns += (i ? ", " : "") + QuoteIdentifier(layout.names[i]) + " " + layout.pg_types[i];
  }
  return std::string(unlogged ? "CREATE UNLOGGED TABLE " : "CREATE TABLE ") + table.Quoted() +
         " (" + columns + ")";
}

// The target's description, after the checks that it exists (or not, with `create`).
Result<std::optional<TableDescription>> FindTarget(Connection& pg, const InsertTarget& target) {
  DUX_ASSIGN_OR_RETURN(bool exists, TableExists(pg, target.table));
  if (target.create && exists) {
    return Status::AlreadyExists(
        fmt::format("{} already exists (create: true makes a new table)", target.display_name));
  }
  if (!target.create && !exists) {
    return Status::NotFound(
        fmt::format("no table {} in PostgreSQL (create: true creates it)", target.display_name));
  }
  std::optional<TableDescription> existing;
  if (!target.create) {
    DUX_ASSIGN_OR_RETURN(existing, DescribeTable(pg, target.table));
  }
  return existing;
}

}  // namespace

void AppendCopyText(std::string_view value, std::string* out) {
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    const char* escape = nullptr;
    switch (c) {
      case '\\':
        escape = "\\\\";
        break;
      case '\t':
        escape = "\\t";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      default:
        continue;
    }
    out->append(value.substr(start, i - start));
    out->append(escape);
    start = i + 1;
  }
  out->append(value.substr(start));
}

Result<std::string> CopyTextExpression(const std::string& column, const std::string& duckdb_type) {
  DUX_RETURN_NOT_OK(PgTypeFor(duckdb_type, column).status());
  if (auto element = ListElement(duckdb_type)) {
    // An array literal: every element double-quoted with `"` and `\` escaped, NULL bare.
    std::string text = ScalarText("x", *element);
    std::string quoted =
        "'\"' || replace(replace(" + text + ", '\\', '\\\\'), '\"', '\\\"') || '\"'";
    // array_to_string of an empty list is NULL, hence the coalesce.
    return "CASE WHEN " + column + " IS NULL THEN NULL ELSE '{' || coalesce(array_to_string(" +
           "list_transform(CAST(" + column + " AS " + *element +
           "[]), x -> CASE WHEN x IS NULL THEN 'NULL' ELSE " + quoted +
           " END), ','), '') || '}' END";
  }
  return ScalarText(column, duckdb_type);
}

Status CheckAssignable(const std::string& column, const std::string& duckdb_type,
                       const PgColumn& target, const std::string& table) {
  if (!target.unsupported.empty()) return Status::OK();  // PostgreSQL parses the text
  Family from = DuckDbFamily(duckdb_type);
  Family to = PgFamily(target.type);
  bool ok = from == to || from == Family::kText || from == Family::kOther;
  if (to == Family::kText && from != Family::kBlob && from != Family::kList) ok = true;
  if (to == Family::kJson && (from == Family::kNumber || from == Family::kBool)) ok = true;
  if ((from == Family::kDate && to == Family::kTimestamp) ||
      (from == Family::kTimestamp && to == Family::kDate)) {
    ok = true;
  }
  if (ok) return Status::OK();
  return Status::InvalidArgument(fmt::format("column \"{}\" is {} in the pipeline but {} in {}",
                                             column, duckdb_type, target.catalog.name, table));
}

Result<std::string> ExplainInsert(const pipeline::Schema& schema, const InsertTarget& target) {
  std::string columns;
  for (const auto& c : schema.columns) {
    DUX_RETURN_NOT_OK(CopyTextExpression(sql::QuoteIdentifier(c.name), c.type).status());
    columns += (columns.empty() ? "" : ", ") + QuoteIdentifier(c.name);
  }
  const std::string into = target.table.Quoted();
  const std::string copy = " (" + columns + ") FROM STDIN";
  if (!target.atomic) {
    return std::string("BEGIN; ") + (target.create ? "CREATE TABLE " + into + " (...); " : "") +
           "COPY " + into + copy + "; COMMIT";
  }
  const std::string staging = TableName{target.table.schema, "__dux_stage_<unique>"}.Quoted();
  if (target.create) {
    return "CREATE TABLE " + staging + " (...); COPY " + staging + copy + "; BEGIN; ALTER TABLE " +
           staging + " RENAME TO " + QuoteIdentifier(target.table.name) + "; COMMIT";
  }
  return "CREATE UNLOGGED TABLE " + staging + " AS SELECT " + columns + " FROM " + into +
         " WITH NO DATA; COPY " + staging + copy + "; BEGIN; INSERT INTO " + into + " (" + columns +
         ") SELECT " + columns + " FROM " + staging + "; DROP TABLE " + staging + "; COMMIT";
}

Result<InsertLayout> CheckInsert(Connection& pg, const pipeline::Schema& schema,
                                 const InsertTarget& target) {
  DUX_ASSIGN_OR_RETURN(std::optional<TableDescription> existing, FindTarget(pg, target));
  return MakeLayout(schema, target, existing ? &*existing : nullptr);
}

std::string CreateTableStatement(const TableName& table, const InsertLayout& layout) {
  return CreateSql(table, layout);
}

std::string AttemptStagingName(std::string_view attempt_id) {
  // FNV-1a: stable across processes and versions (std::hash is neither promised).
  uint64_t h = 14695981039346656037ull;
  for (char c : attempt_id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return fmt::format("__dux_stage_{:016x}", h);
}

Result<int64_t> MoveStagedRows(Connection& pg, const InsertTarget& target,
                               const InsertLayout& layout, const std::vector<std::string>& stages) {
  auto fail = [&](const Status& s) {
    (void)pg.Execute("ROLLBACK");
    return Status(s.code(), "cannot insert into " + target.display_name + ": " + s.message() +
                                "; nothing was inserted");
  };
  const std::string names = ColumnList(layout.names);
  std::string select, drop;
  for (const auto& stage : stages) {
    std::string quoted = TableName{layout.table.schema, stage}.Quoted();
    select += (select.empty() ? "SELECT " : " UNION ALL SELECT ") + names + " FROM " + quoted;
    drop += (drop.empty() ? "" : ", ") + quoted;
  }
  DUX_RETURN_NOT_OK(pg.Execute("BEGIN").status());
  if (target.create) {
    Status created = pg.Execute(CreateSql(target.table, layout)).status();
    if (!created.ok()) return fail(created);
  }
  int64_t rows = 0;
  if (!select.empty()) {
    auto moved = pg.Execute("INSERT INTO " + layout.table.Quoted() + " (" + names + ") " + select);
    if (!moved.ok()) return fail(moved.status());
    rows = *moved;
    Status dropped = pg.Execute("DROP TABLE " + drop).status();
    if (!dropped.ok()) return fail(dropped);
  }
  Status committed = pg.Execute("COMMIT").status();
  if (!committed.ok()) return fail(committed);
  return rows;
}

Result<int64_t> InsertQuery(exec::Connection& duck, const std::string& select_sql,
                            const pipeline::Schema& schema, Connection& pg,
                            const InsertTarget& target, WorkerShare* share) {
  int64_t sent = 0;  // rows handed to PostgreSQL
  struct Report {
    WorkerShare* share;
    const int64_t& sent;
    ~Report() {
      if (share) share->rows_sent = sent;
    }
  } report{share, sent};
  const std::string stage = share ? share->stage : std::string();
  auto fail = [&](const Status& s, bool rolled_back) {
    std::string message =
        "cannot insert into " + target.display_name + ": " + RowContext(s.message());
    if (rolled_back && share) {
      // A worker's share: other shares may have gone in.
      message +=
          fmt::format("; this worker's transaction rolled back after it had sent {} rows", sent);
    } else if (rolled_back) {
      message += "; nothing was inserted";
    }
    return Status(s.code(), message);
  };
  DUX_ASSIGN_OR_RETURN(std::optional<TableDescription> existing, FindTarget(pg, target));
  Plan plan;
  DUX_ASSIGN_OR_RETURN(plan.layout, MakeLayout(schema, target, existing ? &*existing : nullptr));
  DUX_ASSIGN_OR_RETURN(plan.select, CopySelect(schema, select_sql));
  const InsertLayout& layout = plan.layout;

  // Streams the DuckDB result as COPY text into `table`; returns the rows PostgreSQL took.
  auto copy = [&](const TableName& table) -> Result<int64_t> {
    return pg.CopyIn("COPY " + table.Quoted() + " (" + ColumnList(layout.names) + ") FROM STDIN",
                     [&](const std::function<Status(std::string_view)>& send) -> Status {
                       std::string buffer;
                       buffer.reserve(kSendSize + (kSendSize >> 2));
                       int64_t pending = 0;  // rows in `buffer`
                       auto flush = [&] {
                         Status s = send(buffer);
                         if (s.ok()) sent += pending;
                         buffer.clear();
                         pending = 0;
                         return s;
                       };
                       auto rows =
                           exec::ForEachChunk(duck, plan.select, [&](duckdb_data_chunk chunk) {
                             AppendChunk(chunk, &buffer);
                             pending += static_cast<int64_t>(duckdb_data_chunk_get_size(chunk));
                             return buffer.size() < kSendSize ? Status::OK() : flush();
                           });
                       if (!rows.ok()) return rows.status();
                       return flush();
                     });
  };

  if (!target.atomic || !stage.empty()) {
    // One transaction: [create the table,] copy, commit. A worker's share of an atomic
    // insert creates its own staging table in it, so a failed attempt leaves none.
    TableName into = target.table;
    std::string create;
    if (!stage.empty()) {
      into = TableName{layout.table.schema, stage};
      create = target.create ? CreateSql(into, layout, /*unlogged=*/true)
                             : "CREATE UNLOGGED TABLE " + into.Quoted() + " AS SELECT " +
                                   ColumnList(layout.names) + " FROM " + existing->name.Quoted() +
                                   " WITH NO DATA";
    } else if (target.create) {
      create = CreateSql(target.table, layout);
    }
    DUX_RETURN_NOT_OK(pg.Execute("BEGIN").status());
    Result<int64_t> rows = create.empty() ? 0 : pg.Execute(create);
    if (rows.ok()) rows = copy(into);
    if (rows.ok()) {
      auto committed = pg.Execute("COMMIT");
      if (!committed.ok()) rows = committed.status();
    }
    if (!rows.ok()) {
      (void)pg.Execute("ROLLBACK");
      return fail(rows.status(), true);
    }
    return rows;
  }

  // Atomic: load a staging table beside the target, then move its rows in one transaction.
  TableName staging{layout.table.schema, StagingName()};
  std::string create_staging = target.create
                                   ? CreateSql(staging, layout)
                                   : "CREATE UNLOGGED TABLE " + staging.Quoted() + " AS SELECT " +
                                         ColumnList(layout.names) + " FROM " +
                                         existing->name.Quoted() + " WITH NO DATA";
  auto drop_staging = [&] { (void)pg.Execute("DROP TABLE IF EXISTS " + staging.Quoted()); };
  DUX_RETURN_NOT_OK(pg.Execute(create_staging).status());
  Result<int64_t> rows = copy(staging);
  if (!rows.ok()) {
    drop_staging();
    return fail(rows.status(), true);
  }
  Status swapped = pg.Execute("BEGIN").status();
  if (swapped.ok()) {
    if (target.create) {
      swapped = pg.Execute("ALTER TABLE " + staging.Quoted() + " RENAME TO " +
                           QuoteIdentifier(target.table.name))
                    .status();
    } else {
      std::string names = ColumnList(layout.names);
      swapped = pg.Execute("INSERT INTO " + existing->name.Quoted() + " (" + names + ") SELECT " +
                           names + " FROM " + staging.Quoted())
                    .status();
      if (swapped.ok()) swapped = pg.Execute("DROP TABLE " + staging.Quoted()).status();
    }
  }
  if (swapped.ok()) swapped = pg.Execute("COMMIT").status();
  if (!swapped.ok()) {
    (void)pg.Execute("ROLLBACK");
    drop_staging();
    return fail(swapped, true);
  }
  return rows;
}

}  // namespace dux::pg
