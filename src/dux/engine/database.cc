#include "dux/engine/database.h"

#include <map>

namespace dux::engine {

namespace {

std::map<std::string, std::string> DatabaseSettings(const DatabaseOptions& options) {
  std::map<std::string, std::string> settings;
  // Arrow leaves DuckDB losslessly: types without an exact Arrow match (HUGEINT beyond
  // decimal128(38), UHUGEINT, TIME WITH TIME ZONE, BIT, ...) travel as "duckdb.*" extension
  // types that DuckDB reads back as themselves and other readers see as their storage type.
  settings["arrow_lossless_conversion"] = "true";
  if (options.threads > 0) settings["threads"] = std::to_string(options.threads);
  if (!options.memory_limit.empty()) settings["memory_limit"] = options.memory_limit;
  if (!options.temp_directory.empty()) settings["temp_directory"] = options.temp_directory;
  return settings;
}

}  // namespace

Result<exec::Database> OpenDatabase(const DatabaseOptions& options) {
  DUX_ASSIGN_OR_RETURN(exec::Database db,
                       exec::Database::Open(options.path, DatabaseSettings(options)));
  // Planning reads the same parquet footers several times (schemas, row groups, sizes) and a
  // worker reads the files of every query sent to it: parsed footers are kept, and DuckDB
  // reads a footer again when its file has changed since. (A global setting the parquet
  // extension adds once loaded, so it cannot go in the open's configuration.)
  DUX_ASSIGN_OR_RETURN(exec::Connection connection, exec::Connection::Open(db));
  DUX_RETURN_NOT_OK(connection.Execute("SET GLOBAL parquet_metadata_cache = true").status());
  return db;
}

}  // namespace dux::engine
