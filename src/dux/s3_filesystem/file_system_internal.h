// S3FileSystem: DuckDB's FileSystem interface for s3:// paths, on s3::Client. Private to
// s3_filesystem; docs/s3.md, "File system", describes what each call does.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "duckdb/common/file_system.hpp"
#include "duckdb/main/database.hpp"
#include "dux/common/status.h"
#include "dux/s3/client.h"
#include "dux/s3/s3_path.h"
#include "dux/s3_filesystem/s3_filesystem.h"

namespace dux::s3_filesystem {

/// The DuckDB setting (per connection) naming the run its queries belong to (UseS3Run).
inline constexpr const char* kRunOption = "dux_s3_run";
/// Objects are remembered for at most this many runs (the oldest run is forgotten first).
inline constexpr size_t kRememberedRuns = 64;

/// The DuckDB setting (per connection) that holds a connection's per-run S3 settings.
inline constexpr const char* kSettingsOption = "dux_s3_settings";

/// The text of per-run settings, as UseS3Settings stores them; the inverse of ParseSettings.
std::string SettingsText(const s3::ConfigOverrides& overrides);
Result<s3::ConfigOverrides> ParseSettings(const std::string& text);

/// Throws `status` as DuckDB's IOException (its one-line message, nothing added); the
/// boundary where dux's Status becomes the exception DuckDB's interface wants.
[[noreturn]] void ThrowIOException(const Status& status);

/// True for paths DuckDB's allowed_directories check would read as an s3:// URL: "s3://..."
/// itself and relative paths that DuckDB's sanitizer turns into "s3:/..." ("./s3:/b/k",
/// "s3:/b/k"). The latter are claimed so that the local file system never opens them: with
/// `--allow-dir s3://b/`, DuckDB would allow "./s3:/b/k" as if it were inside s3://b/.
bool IsS3PathForDuckDB(const std::string& path);

/// The file system DuckDB's VirtualFileSystem hands every s3:// path to. Owned by that
/// virtual file system, so it lives as long as the database it was registered in.
/// Thread-safe: DuckDB calls it from any of its threads at once; it holds only the client
/// (itself thread-safe), immutable options and atomic counters. Every failure reaches
/// DuckDB as an exception (IOException with dux's one-line message, PermissionException for a
/// confined database's refusals); none escapes as anything else.
class S3FileSystem final : public duckdb::FileSystem {
 public:
  S3FileSystem(duckdb::DatabaseInstance& db, Result<std::shared_ptr<s3::Client>> client,
               S3FileSystemOptions options);

  std::string GetName() const override { return "S3FileSystem"; }
  bool CanHandleFile(const std::string& path) override { return IsS3PathForDuckDB(path); }

  duckdb::vector<duckdb::OpenFileInfo> Glob(const std::string& path,
                                            duckdb::FileOpener* opener) override;

  void Read(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes,
            duckdb::idx_t location) override;
  int64_t Read(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes) override;
  void Write(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes,
             duckdb::idx_t location) override;
  int64_t Write(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes) override;
  int64_t GetFileSize(duckdb::FileHandle& handle) override;
  duckdb::timestamp_t GetLastModifiedTime(duckdb::FileHandle& handle) override;
  std::string GetVersionTag(duckdb::FileHandle& handle) override;
  duckdb::FileType GetFileType(duckdb::FileHandle& handle) override;
  void Truncate(duckdb::FileHandle& handle, int64_t new_size) override;
  void FileSync(duckdb::FileHandle& handle) override;
  void Seek(duckdb::FileHandle& handle, duckdb::idx_t location) override;
  void Reset(duckdb::FileHandle& handle) override;
  duckdb::idx_t SeekPosition(duckdb::FileHandle& handle) override;
  bool CanSeek() override { return true; }
  bool OnDiskFile(duckdb::FileHandle& /*handle*/) override { return false; }

  bool FileExists(const std::string& filename,
                  duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  bool IsPipe(const std::string& /*filename*/,
              duckdb::optional_ptr<duckdb::FileOpener> /*opener*/) override {
    return false;
  }
  void RemoveFile(const std::string& filename,
                  duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  bool TryRemoveFile(const std::string& filename,
                     duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  bool DirectoryExists(const std::string& directory,
                       duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  void CreateDirectory(const std::string& directory,
                       duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  void CreateDirectoriesRecursive(const std::string& path,
                                  duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  void RemoveDirectory(const std::string& directory,
                       duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  void MoveFile(const std::string& source, const std::string& target,
                duckdb::optional_ptr<duckdb::FileOpener> opener) override;

  /// The client of the connection behind `opener`: the process's settings, or that
  /// connection's per-run settings (UseS3Settings), one client per distinct settings. Throws
  /// the error that kept it from being made. Shared with handles, which may outlive a call.
  std::shared_ptr<s3::Client> ClientFor(duckdb::optional_ptr<duckdb::FileOpener> opener) const;
  const S3FileSystemOptions& options() const { return options_; }
  /// The run of the connection behind `opener` (UseS3Run); "" when none.
  static std::string RunOf(duckdb::optional_ptr<duckdb::FileOpener> opener);
  /// What a HEAD or a listing of run `run` said about `url` through `client`; nullopt when
  /// nothing, or `run` is "".
  std::optional<s3::ObjectInfo> Remembered(const std::string& run, const s3::Client& client,
                                           const std::string& url) const;
  void Remember(const std::string& run, const s3::Client& client, const std::string& url,
                const s3::ObjectInfo& info) const;
  /// Forgets `url` (every client): this process wrote or removed it.
  void Forget(const std::string& url) const;
  /// Forgets every URL below the "directory" `directory`.
  void ForgetBelow(const std::string& directory) const;

  /// Adds to a counter when counting was asked for.
  void Count(std::atomic<uint64_t> TransferStats::*counter, uint64_t n = 1) const;

 protected:
  duckdb::unique_ptr<duckdb::FileHandle> OpenFileExtended(
      const duckdb::OpenFileInfo& file, duckdb::FileOpenFlags flags,
      duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  bool SupportsOpenFileExtended() const override { return true; }
  bool ListFilesExtended(const std::string& directory,
                         const std::function<void(duckdb::OpenFileInfo& info)>& callback,
                         duckdb::optional_ptr<duckdb::FileOpener> opener) override;
  bool SupportsListFilesExtended() const override { return true; }

 private:
  /// What a path is used for: an object (or a glob of objects), or a "directory" prefix.
  enum class PathUse { kObject, kDirectory };
  /// Parses an s3:// URL (IOException naming it when it is not one). In a confined database
  /// (external access off) the literal bucket and key must also lie under one of its
  /// allowed "s3:/bucket/prefix/" directories, else PermissionException: DuckDB checked a
  /// copy with "..", "." and empty segments resolved as in a local path, while S3 takes keys
  /// literally ("s3://b/x/../p/k" passes a check for s3://b/p/ and names a key below x/). A
  /// directory may also be the allowed prefix itself.
  s3::S3Path Resolve(const std::string& url, PathUse use = PathUse::kObject) const;
  /// Every object directly under `prefix` (ending in '/') or, with `recursive`, below it.
  s3::Listing ListPrefix(s3::Client& client, const s3::S3Path& directory, bool recursive) const;

  duckdb::DatabaseInstance& db_;
  Result<std::shared_ptr<s3::Client>> client_;
  const S3FileSystemOptions options_;
  mutable std::mutex remembered_mutex_;
  /// By run, then by client (its address) and URL; runs in the order they began.
  mutable std::map<std::string, std::map<std::pair<const s3::Client*, std::string>, s3::ObjectInfo>>
      remembered_;
  mutable std::deque<std::string> runs_;
  /// Per-run settings' clients, by the settings' text.
  mutable std::mutex clients_mutex_;
  mutable std::map<std::string, Result<std::shared_ptr<s3::Client>>> clients_;
};

}  // namespace dux::s3_filesystem
