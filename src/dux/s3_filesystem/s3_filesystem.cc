#include "dux/s3_filesystem/s3_filesystem.h"

#include <cstring>
#include <exception>

#include "client_context_internal.h"
#include "duckdb/main/capi/capi_internal.hpp"
#include "duckdb/main/config.hpp"
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
    // Per-run settings (UseS3Settings), read by the file system from each call's connection.
    duckdb::DBConfig::GetConfig(instance).AddExtensionOption(
        kSettingsOption, "dux: this connection's per-run S3 settings (UseS3Settings)",
        duckdb::LogicalType::VARCHAR, duckdb::Value(""));
    duckdb::DBConfig::GetConfig(instance).AddExtensionOption(
        kRunOption, "dux: the run this connection's queries belong to (UseS3Run)",
        duckdb::LogicalType::VARCHAR, duckdb::Value(""));
    file_system.RegisterSubSystem(
        duckdb::make_uniq<S3FileSystem>(instance, std::move(client), std::move(options)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("registering the s3 file system: ") + e.what());
  }
  return Status::OK();
}

// One "name=value" line per setting given; values never hold a line break (checked).
std::string SettingsText(const s3::ConfigOverrides& overrides) {
  std::string text;
  auto add = [&](std::string_view name, const std::optional<std::string>& value) {
    if (value) text += std::string(name) + "=" + *value + "\n";
  };
  add("profile", overrides.profile);
  add("region", overrides.region);
  add("endpoint", overrides.endpoint);
  if (overrides.url_style) {
    add("url_style", std::string(s3::UrlStyleName(*overrides.url_style)));
  }
  if (overrides.use_tls) add("tls", *overrides.use_tls ? "true" : "false");
  return text;
}

Result<s3::ConfigOverrides> ParseSettings(const std::string& text) {
  s3::ConfigOverrides overrides;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    size_t equals = line.find('=');
    if (equals == std::string::npos) {
      return Status::InvalidArgument("s3: malformed per-run settings \"" + line + "\"");
    }
    std::string name = line.substr(0, equals), value = line.substr(equals + 1);
    if (name == "profile") {
      overrides.profile = value;
    } else if (name == "region") {
      overrides.region = value;
    } else if (name == "endpoint") {
      overrides.endpoint = value;
    } else if (name == "url_style") {
      DUX_ASSIGN_OR_RETURN(overrides.url_style, s3::ParseUrlStyle(value));
    } else if (name == "tls" && (value == "true" || value == "false")) {
      overrides.use_tls = value == "true";
    } else {
      return Status::InvalidArgument("s3: unknown per-run setting \"" + line + "\"");
    }
  }
  return overrides;
}

namespace {

// As SET SESSION `option` = 'text' on `connection`, without a statement (which costs about
// 0.4 ms, and a run sets these on each of its connections before its first query).
Status SetSessionText(duckdb_connection connection, const char* option, const std::string& text) {
  ClientContextOf context(connection);
  if (!context) return Status::Internal(std::string("s3: no client context to set ") + option);
  context.get().config.set_variables[option] = duckdb::Value(text);
  return Status::OK();
}

}  // namespace

Status UseS3Settings(duckdb_connection connection, const s3::ConfigOverrides& overrides) {
  if (connection == nullptr) return Status::InvalidArgument("UseS3Settings: no connection");
  if (overrides.credentials) {
    return Status::InvalidArgument(
        "s3: credentials are not per-run settings (DuckDB settings can be read by SQL); workers "
        "and sessions take theirs from their AWS environment or profile");
  }
  for (const auto* value : {&overrides.profile, &overrides.region, &overrides.endpoint}) {
    if (value->has_value() && (**value).find_first_of("\n\r") != std::string::npos) {
      return Status::InvalidArgument("s3: a setting holds a line break");
    }
  }
  return SetSessionText(connection, kSettingsOption, SettingsText(overrides));
}

Status UseS3Run(duckdb_connection connection, const std::string& run) {
  if (connection == nullptr) return Status::InvalidArgument("UseS3Run: no connection");
  return SetSessionText(connection, kRunOption, run);
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
