#include "dux/s3_filesystem/s3_filesystem.h"

#include <cstring>
#include <exception>

#include "duckdb/main/capi/capi_internal.hpp"
#include "duckdb/main/database.hpp"
#include "file_system_internal.h"
#include "key_glob_internal.h"

namespace dux::s3_filesystem {

namespace {

constexpr uint64_t kMinPartBytes = uint64_t{5} << 20;  // S3's smallest part but the last

}  // namespace

Status RegisterS3FileSystem(duckdb_database db, Result<std::shared_ptr<s3::Client>> client,
                            S3FileSystemOptions options) {
  if (db == nullptr) return Status::InvalidArgument("RegisterS3FileSystem: no database");
  if (options.part_bytes < kMinPartBytes || options.parts_in_flight < 1 ||
      options.direct_read_bytes == 0) {
    return Status::InvalidArgument(
        "RegisterS3FileSystem: parts must be at least 5 MiB, at least one in flight, and "
        "direct reads at least one byte");
  }
  // dux was compiled against one DuckDB's C++ headers; another libduckdb.so at run time
  // (LD_LIBRARY_PATH) would lay out the same classes differently.
  if (std::strcmp(duckdb::DuckDB::SourceID(), DUX_DUCKDB_HEADERS_SOURCE_ID) != 0) {
    return Status::FailedPrecondition(
        std::string("the loaded libduckdb.so is DuckDB ") + duckdb::DuckDB::LibraryVersion() +
        " (" + duckdb::DuckDB::SourceID() + "), but dux was built against " +
        DUX_DUCKDB_HEADERS_VERSION + " (" + DUX_DUCKDB_HEADERS_SOURCE_ID + ")");
  }
  try {
    // The C handle wraps the C++ database (duckdb/main/capi/capi_internal.hpp).
    auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(db);
    duckdb::DatabaseInstance& instance = *wrapper->database->instance;
    duckdb::FileSystem& file_system = instance.GetFileSystem();
    for (const std::string& name : file_system.ListSubSystems()) {
      if (name == "S3FileSystem") {
        return Status::AlreadyExists("the s3 file system is already registered in this database");
      }
    }
    file_system.RegisterSubSystem(
        duckdb::make_uniq<S3FileSystem>(instance, std::move(client), std::move(options)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("registering the s3 file system: ") + e.what());
  }
  return Status::OK();
}

Result<std::string> S3AllowedDirectory(std::string_view url) {
  DUX_ASSIGN_OR_RETURN(s3::S3Path path, s3::ParseS3Path(url));
  std::string_view key = path.key;
  while (!key.empty() && key.back() == '/') key.remove_suffix(1);
  const std::string what = "--allow-dir " + std::string(url);
  if (HasGlob(key)) return Status::InvalidArgument(what + ": a prefix cannot hold * ? or [");
  size_t start = 0;
  while (!key.empty()) {
    size_t slash = key.find('/', start);
    std::string_view segment = key.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return Status::InvalidArgument(what + ": empty, \".\" and \"..\" segments are not allowed");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return "s3://" + path.bucket + (key.empty() ? "" : "/" + std::string(key));
}

}  // namespace dux::s3_filesystem
