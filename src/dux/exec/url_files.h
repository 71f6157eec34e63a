// UrlFiles: what dux itself does with objects behind URLs (s3://bucket/key), beside the reads
// and writes DuckDB's readers and COPY do: a directory write lists and removes its part
// objects, Arrow IPC objects are read and written by dux's codec. exec sees only DuckDB's C
// API, so the engine, which may reach DuckDB's file systems, supplies it with each database
// it opens (engine/url_files.h); the paths go through that database's file system, confined
// as its queries are.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"

namespace dux::exec {

/// An object being written: nothing is visible until Close completes it; destroyed without
/// Close, it is abandoned and nothing is left.
class UrlOutputStream : public arrow_ipc::OutputStream {
 public:
  virtual Status Close() = 0;
};

/// Thread-safe.
class UrlFiles {
 public:
  virtual ~UrlFiles() = default;
  /// Every object below `directory` (a URL, without a trailing '/'), at any depth, sorted.
  virtual Result<std::vector<std::string>> ListBelow(const std::string& directory) const = 0;
  virtual Status Remove(const std::string& url) const = 0;
  virtual Result<std::unique_ptr<arrow_ipc::RandomAccessInput>> OpenForReading(
      const std::string& url) const = 0;
  /// Creates or replaces the object `url`.
  virtual Result<std::unique_ptr<UrlOutputStream>> OpenForWriting(const std::string& url) const = 0;
};

}  // namespace dux::exec
