#include <chrono>
#include <string_view>
#include <vector>

#include "duckdb/common/exception.hpp"
#include "duckdb/common/file_opener.hpp"
#include "duckdb/common/types/timestamp.hpp"
#include "duckdb/common/types/value.hpp"
#include "duckdb/main/config.hpp"
#include "file_system_internal.h"
#include "key_glob_internal.h"
#include "read_bytes_internal.h"
#include "read_handle_internal.h"
#include "write_handle_internal.h"

namespace dux::s3_filesystem {

namespace {

duckdb::timestamp_t ToTimestamp(std::chrono::system_clock::time_point time) {
  return duckdb::Timestamp::FromEpochMicroSeconds(
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count());
}

std::chrono::system_clock::time_point FromTimestamp(duckdb::timestamp_t time) {
  return std::chrono::system_clock::time_point(
      std::chrono::microseconds(duckdb::Timestamp::GetEpochMicroSeconds(time)));
}

std::string UrlOf(const std::string& bucket, const std::string& key) {
  return "s3://" + bucket + "/" + key;
}

// What DuckDB's own file systems put in an OpenFileInfo, so that opening it later needs no
// HEAD, and the parquet footer cache can tell the object unchanged without opening it.
duckdb::OpenFileInfo ObjectFileInfo(const std::string& url, uint64_t size, const std::string& etag,
                                    std::chrono::system_clock::time_point last_modified) {
  duckdb::OpenFileInfo info(url);
  info.extended_info = duckdb::make_shared_ptr<duckdb::ExtendedOpenFileInfo>();
  auto& options = info.extended_info->options;
  options.emplace("type", duckdb::Value("file"));
  options.emplace("file_size", duckdb::Value::BIGINT(static_cast<int64_t>(size)));
  options.emplace("last_modified", duckdb::Value::TIMESTAMP(ToTimestamp(last_modified)));
  options.emplace("etag", duckdb::Value(etag));
  return info;
}

duckdb::OpenFileInfo DirectoryFileInfo(const std::string& path) {
  duckdb::OpenFileInfo info(path);
  info.extended_info = duckdb::make_shared_ptr<duckdb::ExtendedOpenFileInfo>();
  info.extended_info->options.emplace("type", duckdb::Value("directory"));
  return info;
}

// Size, ETag and time a glob or listing put into `file`, when all three are there.
std::optional<s3::ObjectInfo> ListedInfo(const duckdb::OpenFileInfo& file) {
  if (!file.extended_info) return std::nullopt;
  const auto& options = file.extended_info->options;
  auto size = options.find("file_size");
  auto etag = options.find("etag");
  auto time = options.find("last_modified");
  if (size == options.end() || etag == options.end() || time == options.end()) {
    return std::nullopt;
  }
  s3::ObjectInfo info;
  info.size = static_cast<uint64_t>(size->second.GetValue<int64_t>());
  info.etag = duckdb::StringValue::Get(etag->second);
  info.last_modified = FromTimestamp(time->second.GetValue<duckdb::timestamp_t>());
  return info;
}

// "dir" -> "dir/", "" and "dir/" unchanged: the prefix of a directory's keys.
std::string DirectoryPrefix(std::string key) {
  if (!key.empty() && key.back() != '/') key.push_back('/');
  return key;
}

bool IsObjectKey(const std::string& key) { return !key.empty() && key.back() != '/'; }

S3ReadHandle& AsReadHandle(duckdb::FileHandle& handle, const char* what) {
  auto* read = dynamic_cast<S3ReadHandle*>(&handle);
  if (read == nullptr) {
    ThrowIOException(Status::FailedPrecondition(std::string("s3: ") + what + " " + handle.path +
                                                ", which is open for writing"));
  }
  return *read;
}

S3WriteHandle& AsWriteHandle(duckdb::FileHandle& handle, const char* what) {
  auto* write = dynamic_cast<S3WriteHandle*>(&handle);
  if (write == nullptr) {
    ThrowIOException(Status::FailedPrecondition(std::string("s3: ") + what + " " + handle.path +
                                                ", which is open for reading"));
  }
  return *write;
}

}  // namespace

void ThrowIOException(const Status& status) { throw duckdb::IOException(status.message()); }

bool IsS3PathForDuckDB(const std::string& path) {
  if (path.rfind("s3://", 0) == 0) return true;
  if (path.empty() || path[0] == '/') return false;
  // DuckDB's DBConfig::SanitizeAllowedPath: empty and "." segments dropped, ".." pops.
  std::vector<std::string_view> segments;
  std::string_view rest = path;
  while (true) {
    size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return !segments.empty() && segments.front() == "s3:";
}

S3FileSystem::S3FileSystem(duckdb::DatabaseInstance& db, Result<std::shared_ptr<s3::Client>> client,
                           S3FileSystemOptions options)
    : db_(db), client_(std::move(client)), options_(std::move(options)) {}

std::string S3FileSystem::RunOf(duckdb::optional_ptr<duckdb::FileOpener> opener) {
  duckdb::Value value;
  if (opener && duckdb::FileOpener::TryGetCurrentSetting(opener, kRunOption, value) &&
      !value.IsNull()) {
    return value.ToString();
  }
  return "";
}

std::optional<s3::ObjectInfo> S3FileSystem::Remembered(const std::string& run,
                                                       const s3::Client& client,
                                                       const std::string& url) const {
  if (run.empty()) return std::nullopt;
  std::lock_guard lock(remembered_mutex_);
  auto of_run = remembered_.find(run);
  if (of_run == remembered_.end()) return std::nullopt;
  auto found = of_run->second.find({&client, url});
  if (found == of_run->second.end()) return std::nullopt;
  return found->second;
}

void S3FileSystem::Remember(const std::string& run, const s3::Client& client,
                            const std::string& url, const s3::ObjectInfo& info) const {
  if (run.empty()) return;
  std::lock_guard lock(remembered_mutex_);
  auto [of_run, added] = remembered_.try_emplace(run);
  if (added) {
    runs_.push_back(run);
    if (runs_.size() > kRememberedRuns) {
      remembered_.erase(runs_.front());
      runs_.pop_front();
    }
  }
  of_run->second[{&client, url}] = info;
}

void S3FileSystem::Forget(const std::string& url) const {
  std::lock_guard lock(remembered_mutex_);
  for (auto& [run, objects] : remembered_) {
    std::erase_if(objects, [&](const auto& entry) { return entry.first.second == url; });
  }
}

void S3FileSystem::ForgetBelow(const std::string& directory) const {
  std::string prefix = directory;
  if (prefix.empty() || prefix.back() != '/') prefix += '/';
  std::lock_guard lock(remembered_mutex_);
  for (auto& [run, objects] : remembered_) {
    std::erase_if(objects,
                  [&](const auto& entry) { return entry.first.second.starts_with(prefix); });
  }
}

std::shared_ptr<s3::Client> S3FileSystem::ClientFor(
    duckdb::optional_ptr<duckdb::FileOpener> opener) const {
  std::string text;
  duckdb::Value value;
  if (opener && duckdb::FileOpener::TryGetCurrentSetting(opener, kSettingsOption, value) &&
      !value.IsNull()) {
    text = value.ToString();
  }
  if (text.empty()) {
    if (!client_.ok()) ThrowIOException(client_.status());
    return *client_;
  }
  std::lock_guard lock(clients_mutex_);
  auto found = clients_.find(text);
  if (found == clients_.end()) {
    Result<std::shared_ptr<s3::Client>> made =
        Status::FailedPrecondition("s3: per-run settings are not supported by this database");
    Result<s3::ConfigOverrides> overrides = ParseSettings(text);
    if (!overrides.ok()) {
      made = overrides.status();
    } else if (options_.client_for) {
      made = options_.client_for(*overrides);
    }
    found = clients_.emplace(text, std::move(made)).first;
  }
  if (!found->second.ok()) ThrowIOException(found->second.status());
  return *found->second;
}

void S3FileSystem::Count(std::atomic<uint64_t> TransferStats::*counter, uint64_t n) const {
  if (options_.stats) (options_.stats.get()->*counter) += n;
}

s3::S3Path S3FileSystem::Resolve(const std::string& url, PathUse use) const {
  Result<s3::S3Path> path = s3::ParseS3Path(url);
  if (!path.ok()) ThrowIOException(path.status());
  const duckdb::DBConfigOptions& options = duckdb::DBConfig::GetConfig(db_).options;
  if (!options.enable_external_access) {
    // DuckDB has checked a sanitised copy of the URL ("s3://b/x/../p/k" -> "s3:/b/p/k/");
    // S3 takes the key literally, so check the literal one too. Entries are sanitised:
    // "s3:/bucket/prefix/".
    const std::string literal = path->bucket + "/" + path->key;
    bool allowed = false;
    for (const std::string& directory : options.allowed_directories) {
      if (directory.rfind("s3:/", 0) != 0) continue;
      const std::string prefix = directory.substr(4);  // "bucket/prefix/"
      if (literal.rfind(prefix, 0) == 0 ||
          (use == PathUse::kDirectory && literal + "/" == prefix)) {
        allowed = true;
        break;
      }
    }
    if (!allowed) {
      throw duckdb::PermissionException(
          "s3: " + url +
          " is outside the S3 prefixes this database may access (its key is taken literally: "
          "\"..\" and \".\" are names in S3, not steps)");
    }
  }
  return std::move(path).value();
}

s3::Listing S3FileSystem::ListPrefix(s3::Client& client, const s3::S3Path& directory,
                                     bool recursive) const {
  Count(&TransferStats::list_requests);
  Result<s3::Listing> listing =
      client.List(directory.bucket, DirectoryPrefix(directory.key),
                  recursive ? std::nullopt : std::optional<std::string>("/"));
  if (!listing.ok()) ThrowIOException(listing.status());
  return std::move(listing).value();
}

duckdb::vector<duckdb::OpenFileInfo> S3FileSystem::Glob(const std::string& path,
                                                        duckdb::FileOpener* opener) {
  const s3::S3Path pattern = Resolve(path);
  duckdb::vector<duckdb::OpenFileInfo> result;
  if (!HasGlob(pattern.key)) {
    // DuckDB globs every path, literal ones too: a literal names one object or nothing.
    if (!IsObjectKey(pattern.key)) return result;
    std::shared_ptr<s3::Client> client = ClientFor(opener);
    if (std::optional<s3::ObjectInfo> known = Remembered(RunOf(opener), *client, path)) {
      result.push_back(ObjectFileInfo(path, known->size, known->etag, known->last_modified));
      return result;
    }
    Count(&TransferStats::head_requests);
    Result<s3::ObjectInfo> info = client->Head(pattern.bucket, pattern.key);
    if (info.ok()) {
      Remember(RunOf(opener), *client, path, *info);
      result.push_back(ObjectFileInfo(path, info->size, info->etag, info->last_modified));
      return result;
    }
    if (info.status().code() != StatusCode::kNotFound) ThrowIOException(info.status());
    // A HEAD's 404 has no body: ask a listing whether the bucket itself is missing, so that
    // the error names it instead of DuckDB's "no files found".
    Count(&TransferStats::list_requests);
    Result<s3::Listing> listing =
        ClientFor(opener)->List(pattern.bucket, pattern.key, std::nullopt, 1, 1);
    if (!listing.ok() && listing.status().code() == StatusCode::kNotFound) {
      ThrowIOException(listing.status());
    }
    return result;
  }
  Result<KeyGlob> glob = KeyGlob::Make(pattern.key);
  if (!glob.ok()) ThrowIOException(glob.status().WithPrefix("s3: " + path));
  Count(&TransferStats::list_requests);
  std::shared_ptr<s3::Client> client = ClientFor(opener);
  const std::string run = RunOf(opener);
  Result<s3::Listing> listing =
      client->List(pattern.bucket, glob->list_prefix(),
                   glob->single_level() ? std::optional<std::string>("/") : std::nullopt);
  if (!listing.ok()) ThrowIOException(listing.status());
  std::vector<std::string_view> keys;
  keys.reserve(listing->objects.size());
  for (const s3::ListedObject& object : listing->objects) keys.emplace_back(object.key);
  for (const KeyMatch& match : glob->Match(keys)) {
    if (match.is_directory) {
      result.push_back(DirectoryFileInfo(UrlOf(pattern.bucket, match.key)));
    } else {
      const s3::ListedObject& object = listing->objects[match.index];
      const std::string url = UrlOf(pattern.bucket, object.key);
      // A listing answers what a HEAD would: the objects' later opens by URL (the binds,
      // footers and scans of this query's planning and its workers) need none.
      Remember(run, *client, url, s3::ObjectInfo{object.size, object.etag, object.last_modified});
      result.push_back(ObjectFileInfo(url, object.size, object.etag, object.last_modified));
    }
  }
  return result;
}

duckdb::unique_ptr<duckdb::FileHandle> S3FileSystem::OpenFileExtended(
    const duckdb::OpenFileInfo& file, duckdb::FileOpenFlags flags,
    duckdb::optional_ptr<duckdb::FileOpener> opener) {
  s3::S3Path path = Resolve(file.path);
  if (!IsObjectKey(path.key)) {
    ThrowIOException(Status::InvalidArgument(
        "s3: " + file.path + " names no object (a key is needed, and it cannot end with '/')"));
  }
  if (flags.OpenForWriting()) {
    if (flags.OpenForReading()) {
      ThrowIOException(Status::InvalidArgument("s3: " + file.path +
                                               " cannot be open for reading and writing at once"));
    }
    if (flags.OpenForAppending()) {
      ThrowIOException(Status::InvalidArgument("s3: cannot append to " + file.path +
                                               " (S3 objects are written whole)"));
    }
    if (flags.ReturnNullIfExists() || flags.ExclusiveCreate()) {
      // Not atomic: S3 has no create-if-absent for multipart uploads here.
      if (FileExists(file.path, nullptr)) {
        if (flags.ReturnNullIfExists()) return nullptr;
        ThrowIOException(Status::AlreadyExists("s3: " + file.path + " already exists"));
      }
    }
    duckdb::weak_ptr<duckdb::ClientContext> query;
    if (duckdb::optional_ptr<duckdb::ClientContext> context =
            duckdb::FileOpener::TryGetClientContext(opener)) {
      query = context->shared_from_this();
    }
    Forget(file.path);
    return duckdb::make_uniq<S3WriteHandle>(*this, file.path, flags, std::move(path),
                                            std::move(query), ClientFor(opener));
  }
  std::shared_ptr<s3::Client> client = ClientFor(opener);
  std::optional<s3::ObjectInfo> info = ListedInfo(file);
  if (!info) info = Remembered(RunOf(opener), *client, file.path);
  if (!info) {
    Count(&TransferStats::head_requests);
    Result<s3::ObjectInfo> head = client->Head(path.bucket, path.key);
    if (!head.ok()) {
      if (head.status().code() == StatusCode::kNotFound && flags.ReturnNullIfNotExists()) {
        return nullptr;
      }
      ThrowIOException(head.status());
    }
    info = std::move(head).value();
    Remember(RunOf(opener), *client, file.path, *info);
  }
  return duckdb::make_uniq<S3ReadHandle>(*this, file.path, flags, std::move(path), std::move(*info),
                                         std::move(client), BytesReadCounter(opener));
}

void S3FileSystem::Read(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes,
                        duckdb::idx_t location) {
  if (nr_bytes < 0) ThrowIOException(Status::InvalidArgument("s3: a negative read size"));
  AsReadHandle(handle, "reading")
      .ReadAt(static_cast<char*>(buffer), static_cast<uint64_t>(nr_bytes), location);
}

int64_t S3FileSystem::Read(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes) {
  if (nr_bytes < 0) ThrowIOException(Status::InvalidArgument("s3: a negative read size"));
  return static_cast<int64_t>(
      AsReadHandle(handle, "reading")
          .ReadNext(static_cast<char*>(buffer), static_cast<uint64_t>(nr_bytes)));
}

void S3FileSystem::Write(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes,
                         duckdb::idx_t location) {
  S3WriteHandle& write = AsWriteHandle(handle, "writing");
  if (location != write.size()) {
    ThrowIOException(Status::InvalidArgument(
        "s3: " + handle.path + " is written from start to end: a write at byte " +
        std::to_string(location) + " after " + std::to_string(write.size()) + " bytes"));
  }
  Write(handle, buffer, nr_bytes);
}

int64_t S3FileSystem::Write(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes) {
  if (nr_bytes < 0) ThrowIOException(Status::InvalidArgument("s3: a negative write size"));
  AsWriteHandle(handle, "writing")
      .Append(static_cast<const char*>(buffer), static_cast<uint64_t>(nr_bytes));
  return nr_bytes;
}

int64_t S3FileSystem::GetFileSize(duckdb::FileHandle& handle) {
  if (auto* write = dynamic_cast<S3WriteHandle*>(&handle)) {
    return static_cast<int64_t>(write->size());
  }
  return static_cast<int64_t>(AsReadHandle(handle, "sizing").info().size);
}

duckdb::timestamp_t S3FileSystem::GetLastModifiedTime(duckdb::FileHandle& handle) {
  if (dynamic_cast<S3WriteHandle*>(&handle) != nullptr) {
    return ToTimestamp(std::chrono::system_clock::now());
  }
  return ToTimestamp(AsReadHandle(handle, "dating").info().last_modified);
}

std::string S3FileSystem::GetVersionTag(duckdb::FileHandle& handle) {
  if (dynamic_cast<S3WriteHandle*>(&handle) != nullptr) return "";
  return AsReadHandle(handle, "versioning").info().etag;
}

duckdb::FileType S3FileSystem::GetFileType(duckdb::FileHandle& /*handle*/) {
  return duckdb::FileType::FILE_TYPE_REGULAR;
}

void S3FileSystem::Truncate(duckdb::FileHandle& handle, int64_t new_size) {
  auto* write = dynamic_cast<S3WriteHandle*>(&handle);
  if (write != nullptr && new_size >= 0 && static_cast<uint64_t>(new_size) == write->size()) {
    return;
  }
  ThrowIOException(Status::InvalidArgument("s3: " + handle.path + " cannot be truncated"));
}

void S3FileSystem::FileSync(duckdb::FileHandle& handle) {
  if (auto* write = dynamic_cast<S3WriteHandle*>(&handle)) write->Finish();
}

void S3FileSystem::Seek(duckdb::FileHandle& handle, duckdb::idx_t location) {
  if (auto* write = dynamic_cast<S3WriteHandle*>(&handle)) {
    if (location == write->size()) return;
    ThrowIOException(Status::InvalidArgument("s3: " + handle.path +
                                             " is written from start to end: no seeking"));
  }
  AsReadHandle(handle, "seeking in").Seek(location);
}

void S3FileSystem::Reset(duckdb::FileHandle& handle) { Seek(handle, 0); }

duckdb::idx_t S3FileSystem::SeekPosition(duckdb::FileHandle& handle) {
  if (auto* write = dynamic_cast<S3WriteHandle*>(&handle)) return write->size();
  return AsReadHandle(handle, "seeking in").position();
}

bool S3FileSystem::FileExists(const std::string& filename,
                              duckdb::optional_ptr<duckdb::FileOpener> opener) {
  s3::S3Path path = Resolve(filename);
  if (!IsObjectKey(path.key)) return false;
  Count(&TransferStats::head_requests);
  Result<s3::ObjectInfo> info = ClientFor(opener)->Head(path.bucket, path.key);
  if (info.ok()) return true;
  if (info.status().code() == StatusCode::kNotFound) return false;
  ThrowIOException(info.status());
}

void S3FileSystem::RemoveFile(const std::string& filename,
                              duckdb::optional_ptr<duckdb::FileOpener> opener) {
  s3::S3Path path = Resolve(filename);
  Forget(filename);
  Status status = ClientFor(opener)->Delete(path.bucket, path.key);
  if (!status.ok()) ThrowIOException(status);
}

bool S3FileSystem::TryRemoveFile(const std::string& filename,
                                 duckdb::optional_ptr<duckdb::FileOpener> opener) {
  s3::S3Path path = Resolve(filename);
  Forget(filename);
  return ClientFor(opener)->Delete(path.bucket, path.key).ok();
}

bool S3FileSystem::DirectoryExists(const std::string& directory,
                                   duckdb::optional_ptr<duckdb::FileOpener> opener) {
  s3::S3Path path = Resolve(directory, PathUse::kDirectory);
  Count(&TransferStats::list_requests);
  Result<s3::Listing> listing =
      ClientFor(opener)->List(path.bucket, DirectoryPrefix(path.key), std::nullopt, 1, 1);
  if (!listing.ok()) {
    if (listing.status().code() == StatusCode::kNotFound) return false;  // no such bucket
    ThrowIOException(listing.status());
  }
  // A bucket is a directory; a prefix is one when some key is below it.
  return path.key.empty() || !listing->objects.empty();
}

void S3FileSystem::CreateDirectory(const std::string& /*directory*/,
                                   duckdb::optional_ptr<duckdb::FileOpener> /*opener*/) {
  // S3 has no directories: a "directory" exists once an object is written below it.
}

void S3FileSystem::CreateDirectoriesRecursive(const std::string& /*path*/,
                                              duckdb::optional_ptr<duckdb::FileOpener> /*opener*/) {
}

void S3FileSystem::RemoveDirectory(const std::string& directory,
                                   duckdb::optional_ptr<duckdb::FileOpener> opener) {
  s3::S3Path path = Resolve(directory, PathUse::kDirectory);
  if (path.key.empty()) {
    ThrowIOException(
        Status::InvalidArgument("s3: refusing to empty the whole bucket " + directory));
  }
  ForgetBelow(directory);
  s3::Listing listing = ListPrefix(*ClientFor(opener), path, true);
  std::vector<std::string> keys;
  keys.reserve(listing.objects.size());
  for (s3::ListedObject& object : listing.objects) keys.push_back(std::move(object.key));
  Status status = ClientFor(opener)->DeleteObjects(path.bucket, keys);
  if (!status.ok()) ThrowIOException(status);
}

bool S3FileSystem::ListFilesExtended(
    const std::string& directory, const std::function<void(duckdb::OpenFileInfo& info)>& callback,
    duckdb::optional_ptr<duckdb::FileOpener> opener) {
  s3::S3Path path = Resolve(directory, PathUse::kDirectory);
  const std::string prefix = DirectoryPrefix(path.key);
  s3::Listing listing = ListPrefix(*ClientFor(opener), path, false);
  // Names relative to the directory, as DuckDB's local file system gives them.
  for (const s3::ListedObject& object : listing.objects) {
    if (object.key.size() <= prefix.size()) continue;  // the directory's own marker
    duckdb::OpenFileInfo info = ObjectFileInfo(object.key.substr(prefix.size()), object.size,
                                               object.etag, object.last_modified);
    callback(info);
  }
  for (const std::string& common : listing.common_prefixes) {
    std::string name = common.substr(prefix.size());
    if (!name.empty() && name.back() == '/') name.pop_back();
    if (name.empty()) continue;
    duckdb::OpenFileInfo info = DirectoryFileInfo(name);
    callback(info);
  }
  return !listing.objects.empty() || !listing.common_prefixes.empty();
}

void S3FileSystem::MoveFile(const std::string& source, const std::string& target,
                            duckdb::optional_ptr<duckdb::FileOpener> /*opener*/) {
  ThrowIOException(Status::Unimplemented("s3: cannot move " + source + " to " + target +
                                         ": S3 has no rename, and dux does not copy objects yet"));
}

}  // namespace dux::s3_filesystem
