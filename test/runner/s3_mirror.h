// The e2e runner's S3 mode (--s3): copies between a local directory and an S3 prefix, so that
// dux works on S3 while the DuckDB oracle reads a local copy of exactly the same files.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "dux/common/status.h"
#include "dux/s3/client.h"

namespace dux::test {

/// Makes an S3 prefix (`s3://bucket/prefix/`) hold exactly the files of a local directory,
/// or the other way round. A file `dir/a/b.csv` is the object `prefix/a/b.csv`; directories
/// exist only as the files below them (S3 has none). Files are compared by size and MD5
/// (an object's ETag, when S3 made it from one PUT; its bytes otherwise): only what differs
/// is copied. Not thread-safe; the directory and the prefix must not change while a call
/// runs.
class S3Mirror {
 public:
  /// A mirror into `bucket` through a client configured by the process's AWS environment
  /// (what dux's own file system uses).
  static Result<std::unique_ptr<S3Mirror>> Make(std::string bucket);

  /// "s3://bucket/prefix".
  std::string Url(const std::string& prefix) const;
  /// Uploads the new and changed files of `dir` below `prefix/` and deletes the objects
  /// below it that `dir` does not hold.
  Status Up(const std::filesystem::path& dir, const std::string& prefix);
  /// Downloads the new and changed objects below `prefix/` into `dir`, deletes the files of
  /// `dir` that are not objects there, and then the directories left empty (`dir` stays).
  /// An object whose key is no relative file path (empty, `.` or `..` segments, a trailing
  /// `/`) fails the call: no local file can stand for it.
  Status Down(const std::string& prefix, const std::filesystem::path& dir);
  /// Deletes every object below `prefix/`.
  Status Clear(const std::string& prefix);

 private:
  S3Mirror(std::string bucket, std::unique_ptr<s3::Client> client)
      : bucket_(std::move(bucket)), client_(std::move(client)) {}
  std::string bucket_;
  std::unique_ptr<s3::Client> client_;
};

}  // namespace dux::test
