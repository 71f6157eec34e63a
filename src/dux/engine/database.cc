#include "dux/engine/database.h"

#include <map>
#include <memory>

#include "dux/engine/url_files.h"
#include "dux/exec/comoments_aggregate.h"
#include "dux/s3/client.h"
#include "dux/s3/config.h"
#include "dux/s3_filesystem/database_files.h"
#include "dux/s3_filesystem/read_bytes.h"
#include "dux/s3_filesystem/s3_filesystem.h"

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

// The S3 client every s3:// path of this database goes through, from the AWS environment
// variables and files (docs/s3.md, "Configuration"). No settings at all is not an error (the
// requests go unsigned, to AWS); settings that cannot be read are returned as the error,
// which then fails s3:// paths only. Nothing is sent anywhere here.
Result<std::shared_ptr<s3::Client>> S3ClientFromEnvironment(
    const s3::ConfigOverrides& overrides = {}) {
  DUX_ASSIGN_OR_RETURN(s3::Config config, s3::LoadConfig(s3::ProcessEnvironment(), overrides));
  DUX_ASSIGN_OR_RETURN(std::unique_ptr<s3::Client> client, s3::Client::Make(std::move(config)));
  return std::shared_ptr<s3::Client>(std::move(client));
}

}  // namespace

Result<exec::Database> OpenDatabase(const DatabaseOptions& options) {
  DUX_ASSIGN_OR_RETURN(exec::Database db,
                       exec::Database::Open(options.path, DatabaseSettings(options)));
  // s3:// paths, read and written by DuckDB through dux's file system (docs/s3.md, "File
  // system"); before any query, since DuckDB's list of file systems is not synchronised.
  s3_filesystem::S3FileSystemOptions s3_options;
  s3_options.client_for = [](const s3::ConfigOverrides& overrides) {
    return S3ClientFromEnvironment(overrides);
  };
  DUX_RETURN_NOT_OK(s3_filesystem::RegisterS3FileSystem(db.get(), S3ClientFromEnvironment(),
                                                        std::move(s3_options)));
  // The bytes each connection's queries read from files: a worker reports its fragments'.
  DUX_RETURN_NOT_OK(s3_filesystem::CountBytesRead(db.get()));
  // What dux does with URLs itself (directory writes, Arrow IPC objects), through the same.
  db.set_url_files(MakeUrlFiles(db.get()));
  // The partial of the covariance, correlation and regression aggregates, for workers.
  DUX_RETURN_NOT_OK(exec::RegisterComomentsAggregate(db));
  // Planning reads the same parquet footers several times (schemas, row groups, sizes) and a
  // worker reads the files of every query sent to it: parsed footers are kept, and DuckDB
  // reads a footer again when its file has changed since. (A global setting the parquet
  // extension adds once loaded, so it cannot go in the open's configuration.)
  DUX_ASSIGN_OR_RETURN(exec::Connection connection, exec::Connection::Open(db));
  DUX_RETURN_NOT_OK(connection.Execute("SET GLOBAL parquet_metadata_cache = true").status());
  return db;
}

bool HoldsFilesToClose(const exec::Database& db) {
  return s3_filesystem::HoldsFilesToClose(db.get());
}

}  // namespace dux::engine
