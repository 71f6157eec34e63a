#include "dux/s3_filesystem/database_files.h"

#include <algorithm>
#include <exception>

#include "duckdb/common/error_data.hpp"
#include "duckdb/common/file_system.hpp"
#include "duckdb/main/attached_database.hpp"
#include "duckdb/main/capi/capi_internal.hpp"
#include "duckdb/main/client_context.hpp"
#include "duckdb/main/connection.hpp"
#include "duckdb/main/database_manager.hpp"
#include "duckdb/storage/buffer_manager.hpp"

namespace dux::s3_filesystem {

namespace {

// DuckDB's exception as a Status: the confinement's refusals are PermissionDenied, the rest
// IO errors, each DuckDB's one-line message.
Status FromException(const std::exception& e) {
  duckdb::ErrorData error(e);
  if (error.Type() == duckdb::ExceptionType::PERMISSION) {
    return Status(StatusCode::kPermissionDenied, error.RawMessage());
  }
  return Status::IOError(error.RawMessage());
}

duckdb::DuckDB& DatabaseOf(duckdb_database db) {
  // The C handle wraps the C++ database (duckdb/main/capi/capi_internal.hpp).
  return *reinterpret_cast<duckdb::DatabaseWrapper*>(db)->database;
}

}  // namespace

struct DatabaseFile::State {
  explicit State(duckdb_database db) : connection(DatabaseOf(db)) {}
  // Declared first, destroyed last: the handle's file system belongs to its context.
  duckdb::Connection connection;
  duckdb::unique_ptr<duckdb::FileHandle> handle;
  bool writing = false;
  bool closed = false;
};

Result<std::vector<std::string>> GlobFiles(duckdb_database db, const std::string& pattern) {
  if (db == nullptr) return Status::InvalidArgument("GlobFiles: no database");
  try {
    duckdb::Connection connection(DatabaseOf(db));
    duckdb::FileSystem& fs = duckdb::FileSystem::GetFileSystem(*connection.context);
    std::vector<std::string> paths;
    for (const duckdb::OpenFileInfo& info : fs.Glob(pattern)) paths.push_back(info.path);
    std::sort(paths.begin(), paths.end());
    return paths;
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status RemoveFile(duckdb_database db, const std::string& path) {
  if (db == nullptr) return Status::InvalidArgument("RemoveFile: no database");
  try {
    duckdb::Connection connection(DatabaseOf(db));
    duckdb::FileSystem::GetFileSystem(*connection.context).RemoveFile(path);
    return Status::OK();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

bool HoldsFilesToClose(duckdb_database db) {
  try {
    duckdb::DatabaseInstance& instance = *DatabaseOf(db).instance;
    if (!duckdb::BufferManager::GetBufferManager(instance).GetTemporaryFiles().empty()) {
      return true;
    }
    // As duckdb_databases() WHERE NOT internal AND path IS NOT NULL.
    for (const auto& attached : duckdb::DatabaseManager::Get(instance).GetDatabases()) {
      if (!attached->IsSystem() && !attached->IsTemporary() && !attached->GetCatalog().InMemory()) {
        return true;
      }
    }
    return false;
  } catch (...) {  // NOLINT(bugprone-empty-catch): not knowing counts as holding files
    return true;
  }
}

DatabaseFile::DatabaseFile(std::unique_ptr<State> state) : state_(std::move(state)) {}

DatabaseFile::~DatabaseFile() {
  if (!state_ || !state_->handle) return;
  try {
    if (state_->writing && !state_->closed) {
      // A write handle dropped unclosed completes its object only when its query is going
      // well (write_handle_internal.h); marking the context interrupted makes it abort.
      state_->connection.context->interrupted = true;
    }
    state_->handle.reset();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor reports nothing
  }
}

Result<std::unique_ptr<DatabaseFile>> DatabaseFile::OpenForReading(duckdb_database db,
                                                                   const std::string& path) {
  if (db == nullptr) return Status::InvalidArgument("DatabaseFile: no database");
  try {
    auto state = std::make_unique<State>(db);
    state->handle = duckdb::FileSystem::GetFileSystem(*state->connection.context)
                        .OpenFile(path, duckdb::FileFlags::FILE_FLAGS_READ);
    return std::unique_ptr<DatabaseFile>(new DatabaseFile(std::move(state)));
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Result<std::unique_ptr<DatabaseFile>> DatabaseFile::OpenForWriting(duckdb_database db,
                                                                   const std::string& path) {
  if (db == nullptr) return Status::InvalidArgument("DatabaseFile: no database");
  try {
    auto state = std::make_unique<State>(db);
    state->writing = true;
    state->handle = duckdb::FileSystem::GetFileSystem(*state->connection.context)
                        .OpenFile(path, duckdb::FileFlags::FILE_FLAGS_WRITE |
                                            duckdb::FileFlags::FILE_FLAGS_FILE_CREATE_NEW);
    return std::unique_ptr<DatabaseFile>(new DatabaseFile(std::move(state)));
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Result<int64_t> DatabaseFile::Size() {
  try {
    return state_->handle->GetFileSize();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status DatabaseFile::Seek(int64_t position) {
  if (position < 0) return Status::InvalidArgument("DatabaseFile: a negative position");
  try {
    state_->handle->Seek(static_cast<duckdb::idx_t>(position));
    return Status::OK();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Result<size_t> DatabaseFile::Read(void* data, size_t size) {
  try {
    int64_t n = state_->handle->Read(data, size);
    if (n < 0) return Status::IOError("cannot read " + state_->handle->GetPath());
    return static_cast<size_t>(n);
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status DatabaseFile::Write(const void* data, size_t size) {
  try {
    // DuckDB's interface takes a non-const buffer; writers never change it.
    state_->handle->Write(const_cast<void*>(data),
                          size);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    return Status::OK();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status DatabaseFile::Close() {
  if (state_->closed) return Status::OK();
  state_->closed = true;
  try {
    state_->handle->Close();
    return Status::OK();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

}  // namespace dux::s3_filesystem
