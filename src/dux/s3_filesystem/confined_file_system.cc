#include "dux/s3_filesystem/confined_file_system.h"

#include <cstring>
#include <exception>
#include <filesystem>

#include "duckdb/common/exception.hpp"
#include "duckdb/common/file_system.hpp"
#include "duckdb/main/capi/capi_internal.hpp"
#include "duckdb/main/database.hpp"

namespace dux::s3_filesystem {

namespace {

namespace fs = std::filesystem;

constexpr const char* kName = "DuxConfinedLocalFileSystem";
constexpr const char* kFileScheme = "file://";

bool StartsWith(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

// A path DuckDB's local file system would take: no scheme but file://.
bool IsLocal(const std::string& path) {
  return StartsWith(path, kFileScheme) || path.find("://") == std::string::npos;
}

// Thread-safe: DuckDB calls it from any thread; it holds only immutable state and the local
// file system (itself thread-safe). Handles are the local file system's: their reads and
// writes go there directly (FileHandle::file_system), the overrides below forward any that
// come here.
class ConfinedFileSystem final : public duckdb::FileSystem {
 public:
  explicit ConfinedFileSystem(std::vector<std::string> directories)
      : directories_(std::move(directories)), local_(duckdb::FileSystem::CreateLocal()) {}

  using duckdb::FileSystem::ListFiles;
  using duckdb::FileSystem::OpenFile;

  std::string GetName() const override { return kName; }
  bool CanHandleFile(const std::string& path) override { return IsLocal(path); }

  duckdb::unique_ptr<duckdb::FileHandle> OpenFile(
      const std::string& path, duckdb::FileOpenFlags flags,
      duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    return local_->OpenFile(path, flags, opener);
  }
  duckdb::vector<duckdb::OpenFileInfo> Glob(const std::string& path,
                                            duckdb::FileOpener* opener) override {
    Check(path);
    auto matches = local_->Glob(path, opener);
    for (const auto& match : matches) Check(match.path);
    return matches;
  }
  bool FileExists(const std::string& path,
                  duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    return local_->FileExists(path, opener);
  }
  bool IsPipe(const std::string& path, duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    return local_->IsPipe(path, opener);
  }
  void RemoveFile(const std::string& path,
                  duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    local_->RemoveFile(path, opener);
  }
  bool TryRemoveFile(const std::string& path,
                     duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    return local_->TryRemoveFile(path, opener);
  }
  bool DirectoryExists(const std::string& path,
                       duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    return local_->DirectoryExists(path, opener);
  }
  void CreateDirectory(const std::string& path,
                       duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    local_->CreateDirectory(path, opener);
  }
  void CreateDirectoriesRecursive(const std::string& path,
                                  duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    local_->CreateDirectoriesRecursive(path, opener);
  }
  void RemoveDirectory(const std::string& path,
                       duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(path);
    local_->RemoveDirectory(path, opener);
  }
  void MoveFile(const std::string& source, const std::string& target,
                duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    Check(source);
    Check(target);
    local_->MoveFile(source, target, opener);
  }
  bool ListFiles(const std::string& directory,
                 const std::function<void(const std::string&, bool)>& callback,
                 duckdb::FileOpener* opener) override {
    Check(directory);
    return local_->ListFiles(directory, callback, opener);
  }
  std::string PathSeparator(const std::string& path) override {
    return local_->PathSeparator(path);
  }

  // Handle operations: the local file system's own.
  void Read(duckdb::FileHandle& h, void* buffer, int64_t n, duckdb::idx_t at) override {
    local_->Read(h, buffer, n, at);
  }
  int64_t Read(duckdb::FileHandle& h, void* buffer, int64_t n) override {
    return local_->Read(h, buffer, n);
  }
  void Write(duckdb::FileHandle& h, void* buffer, int64_t n, duckdb::idx_t at) override {
    local_->Write(h, buffer, n, at);
  }
  int64_t Write(duckdb::FileHandle& h, void* buffer, int64_t n) override {
    return local_->Write(h, buffer, n);
  }
  bool Trim(duckdb::FileHandle& h, duckdb::idx_t offset, duckdb::idx_t n) override {
    return local_->Trim(h, offset, n);
  }
  int64_t GetFileSize(duckdb::FileHandle& h) override { return local_->GetFileSize(h); }
  duckdb::timestamp_t GetLastModifiedTime(duckdb::FileHandle& h) override {
    return local_->GetLastModifiedTime(h);
  }
  std::string GetVersionTag(duckdb::FileHandle& h) override { return local_->GetVersionTag(h); }
  duckdb::FileType GetFileType(duckdb::FileHandle& h) override { return local_->GetFileType(h); }
  void Truncate(duckdb::FileHandle& h, int64_t size) override { local_->Truncate(h, size); }
  void FileSync(duckdb::FileHandle& h) override { local_->FileSync(h); }
  void Seek(duckdb::FileHandle& h, duckdb::idx_t at) override { local_->Seek(h, at); }
  void Reset(duckdb::FileHandle& h) override { local_->Reset(h); }
  duckdb::idx_t SeekPosition(duckdb::FileHandle& h) override { return local_->SeekPosition(h); }
  bool CanSeek() override { return local_->CanSeek(); }
  bool OnDiskFile(duckdb::FileHandle& h) override { return local_->OnDiskFile(h); }

 private:
  // Throws PermissionException unless `path` really lies inside a directory.
  void Check(const std::string& path) const {
    std::string local =
        StartsWith(path, kFileScheme) ? path.substr(std::strlen(kFileScheme)) : path;
    // An empty path names nothing; "file://host/...": no host but this one is ours to read.
    if (path.empty()) return;
    if (local.empty() || (local.size() < path.size() && local[0] != '/')) Refuse(path);
    std::error_code ec;
    fs::path absolute = fs::absolute(local, ec);
    fs::path real;
    if (!ec) real = fs::weakly_canonical(absolute, ec);
    // A symlink that points nowhere: weakly_canonical keeps it as written, a write would
    // follow it.
    std::error_code missing;  // a path that does not exist yet is no error
    bool dangling =
        !ec && fs::is_symlink(fs::symlink_status(absolute, missing)) && !fs::exists(real, missing);
    if (!ec && !dangling) {
      const std::string text = real.string();
      for (const auto& dir : directories_) {
        if (text == dir || StartsWith(text, (dir + "/").c_str())) return;
      }
    }
    Refuse(path);
  }
  [[noreturn]] static void Refuse(const std::string& path) {
    throw duckdb::PermissionException("\"" + path +
                                      "\" is outside the directories this worker may access");
  }

  const std::vector<std::string> directories_;
  const duckdb::unique_ptr<duckdb::FileSystem> local_;
};

}  // namespace

Status ConfineLocalFiles(duckdb_database db, std::vector<std::string> directories) {
  if (db == nullptr) return Status::InvalidArgument("ConfineLocalFiles: no database");
  if (std::strcmp(duckdb::DuckDB::SourceID(), DUX_DUCKDB_HEADERS_SOURCE_ID) != 0) {
    return Status::FailedPrecondition(std::string("the loaded libduckdb.so is DuckDB ") +
                                      duckdb::DuckDB::LibraryVersion() +
                                      ", but dux was built against " + DUX_DUCKDB_HEADERS_VERSION);
  }
  try {
    auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(db);
    duckdb::FileSystem& file_system = wrapper->database->instance->GetFileSystem();
    for (const std::string& name : file_system.ListSubSystems()) {
      if (name == kName) return Status::AlreadyExists("this database's files are confined already");
    }
    file_system.RegisterSubSystem(duckdb::make_uniq<ConfinedFileSystem>(std::move(directories)));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("confining the database's files: ") + e.what());
  }
  return Status::OK();
}

}  // namespace dux::s3_filesystem
