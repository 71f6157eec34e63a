// The declarative end-to-end test format (test/e2e/**/*.test), parsed into records.
//
//   # a comment
//   statement ok                  SQL run on the test's DuckDB (fixtures, tables)
//   COPY (SELECT 1 AS a) TO '__TEST_DIR__/t.parquet'
//
//   pipeline [rowsort|nosort|error]
//   from_parquet("__TEST_DIR__/t.parquet")
//   |> filter(a > 0)
//   ----
//   oracle                        compare with DuckDB running this SQL directly
//   SELECT * FROM '__TEST_DIR__/t.parquet' WHERE a > 0
//
//   pipeline applies partial_aggregate   ... and distributed plans must apply that splitter
//   pipeline skips partial_aggregate     rule (or must not), as explain names it
//
//   query [rowsort|nosort]        plain SQL, expected rows (to check what a sink wrote)
//   SELECT count(*) FROM '__TEST_DIR__/out.parquet'
//   ----
//   1
//
// Records are separated by blank lines. Expected rows have one line per row, cells
// separated by tabs; NULL is `NULL`, the empty string `(empty)`. With `error`, the line after
// `----` is a substring the one-line error message must contain. `__TEST_DIR__` is a fresh
// directory per file, `__DATA_DIR__` is test/e2e/data.
//
// PostgreSQL: `statement ok postgres` runs its SQL on a PostgreSQL database of the test's
// own (a fresh one per executor), `statement ok both` on it and on the test's DuckDB (the
// oracle's copy of the data), and `query ... postgres` checks rows there (PostgreSQL's text
// form: `t`/`f` for booleans). `__PG__` is that database's libpq connection string. A file
// using any of these runs only where a PostgreSQL server can start (test/support/pg_server.h).
//
// S3: in the runner's S3 mode (--s3) pipelines see __TEST_DIR__ and __DATA_DIR__ as s3://
// prefixes, everything else the local directories (runner.h, RunOptions). A file that cannot
// run there says why in a line of its own, which the S3 mode reports as a skip:
//
//   # s3: skip REASON
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dux/common/status.h"

namespace dux::test {

enum class SortMode { kDefault, kRowSort, kNoSort };

/// Where a statement or query runs.
enum class Engine { kDuckDb, kPostgres, kBoth };

struct Record {
  enum class Kind { kStatement, kPipeline, kQuery };
  Kind kind = Kind::kStatement;
  int line = 0;      ///< first line of the record in its file
  std::string text;  ///< the SQL or pipeline text
  SortMode sort = SortMode::kDefault;
  Engine engine = Engine::kDuckDb;  ///< for statements and queries
  bool expect_error = false;
  std::string error;  ///< expected substring, with expect_error
  /// A splitter rule distributed plans must apply (`applies RULE`) or must not (`skips RULE`).
  std::string rule;
  bool rule_applied = true;
  bool oracle = false;
  std::string oracle_sql;
  std::vector<std::string> expected;  ///< expected rows, tab-separated cells
};

/// Parses a test file's text; mistakes in the file are InvalidArgument with the line.
Result<std::vector<Record>> ParseTestFile(const std::string& text);

/// The REASON of a file's `# s3: skip REASON` line; nothing when it has none. A line
/// `# s3: skip` without a reason is a malformed file (InvalidArgument with the line).
Result<std::optional<std::string>> S3SkipReason(const std::string& text);

/// Whether the records need a PostgreSQL database (a postgres record or `__PG__`).
bool UsesPostgres(const std::vector<Record>& records);

}  // namespace dux::test
