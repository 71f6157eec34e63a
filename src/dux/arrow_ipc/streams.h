// Byte streams the IPC codec reads from and writes to: files, strings, and the interfaces
// other transports (gRPC in rpc/) implement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "dux/common/status.h"

namespace dux::arrow_ipc {

/// Where encoded bytes go. Not thread-safe.
class OutputStream {
 public:
  virtual ~OutputStream() = default;
  virtual Status Write(const void* data, size_t size) = 0;
  virtual Status Flush() { return Status::OK(); }
};

/// Where encoded bytes come from. Not thread-safe.
class InputStream {
 public:
  virtual ~InputStream() = default;
  /// Reads up to `size` bytes; returns how many were read, 0 only at the end.
  virtual Result<size_t> Read(void* data, size_t size) = 0;
};

/// An InputStream that can also jump (files, memory): needed by the IPC file format.
class RandomAccessInput : public InputStream {
 public:
  virtual Result<int64_t> Size() = 0;
  virtual Status Seek(int64_t position) = 0;
};

/// Appends to a string (tests, small messages).
class StringOutputStream : public OutputStream {
 public:
  Status Write(const void* data, size_t size) override {
    bytes_.append(static_cast<const char*>(data), size);
    return Status::OK();
  }
  const std::string& bytes() const { return bytes_; }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

/// Reads a string it does not own; the string must outlive the stream.
class StringInputStream : public RandomAccessInput {
 public:
  explicit StringInputStream(const std::string& bytes) : data_(bytes.data()), size_(bytes.size()) {}
  StringInputStream(const void* data, size_t size)
      : data_(static_cast<const char*>(data)), size_(size) {}
  Result<size_t> Read(void* data, size_t size) override;
  Result<int64_t> Size() override { return static_cast<int64_t>(size_); }
  Status Seek(int64_t position) override;

 private:
  const char* data_;
  size_t size_;
  size_t position_ = 0;
};

/// A file opened for writing (created or truncated); closed on destruction.
class FileOutputStream : public OutputStream {
 public:
  static Result<std::unique_ptr<FileOutputStream>> Open(const std::string& path);
  ~FileOutputStream() override;
  Status Write(const void* data, size_t size) override;
  Status Flush() override;
  /// Flushes and closes, reporting any error (the destructor cannot).
  Status Close();

 private:
  FileOutputStream(std::FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  std::FILE* file_;
  std::string path_;
};

/// A file opened for reading; closed on destruction.
class FileInputStream : public RandomAccessInput {
 public:
  static Result<std::unique_ptr<FileInputStream>> Open(const std::string& path);
  ~FileInputStream() override;
  Result<size_t> Read(void* data, size_t size) override;
  Result<int64_t> Size() override;
  Status Seek(int64_t position) override;

 private:
  FileInputStream(std::FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  std::FILE* file_;
  std::string path_;
};

}  // namespace dux::arrow_ipc
