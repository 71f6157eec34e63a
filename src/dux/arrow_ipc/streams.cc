// Byte streams over strings and stdio files.
#include "dux/arrow_ipc/streams.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dux::arrow_ipc {

namespace {

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

Result<size_t> StringInputStream::Read(void* data, size_t size) {
  size_t n = std::min(size, size_ - position_);
  if (n > 0) std::memcpy(data, data_ + position_, n);
  position_ += n;
  return n;
}

Status StringInputStream::Seek(int64_t position) {
  if (position < 0 || static_cast<uint64_t>(position) > size_) {
    return Status::InvalidArgument("ipc: seek past the end of the input (position " +
                                   std::to_string(position) + ", size " + std::to_string(size_) +
                                   ")");
  }
  position_ = static_cast<size_t>(position);
  return Status::OK();
}

Result<std::unique_ptr<FileOutputStream>> FileOutputStream::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return Status::IOError("ipc: cannot open for writing: " + path + ": " + ErrnoText());
  }
  return std::unique_ptr<FileOutputStream>(new FileOutputStream(f, path));
}

FileOutputStream::~FileOutputStream() {
  if (file_ != nullptr) std::fclose(file_);
}

Status FileOutputStream::Write(const void* data, size_t size) {
  if (file_ == nullptr) return Status::FailedPrecondition("ipc: write to a closed file: " + path_);
  if (size > 0 && std::fwrite(data, 1, size, file_) != size) {
    return Status::IOError("ipc: write failed: " + path_ + ": " + ErrnoText());
  }
  return Status::OK();
}

Status FileOutputStream::Flush() {
  if (file_ == nullptr) return Status::OK();
  if (std::fflush(file_) != 0) {
    return Status::IOError("ipc: flush failed: " + path_ + ": " + ErrnoText());
  }
  return Status::OK();
}

Status FileOutputStream::Close() {
  if (file_ == nullptr) return Status::OK();
  std::FILE* f = file_;
  file_ = nullptr;
  bool flushed = std::fflush(f) == 0;
  bool closed = std::fclose(f) == 0;
  if (!flushed || !closed) {
    return Status::IOError("ipc: close failed: " + path_ + ": " + ErrnoText());
  }
  return Status::OK();
}

Result<std::unique_ptr<FileInputStream>> FileInputStream::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return Status::NotFound("ipc: cannot open for reading: " + path + ": " + ErrnoText());
  }
  return std::unique_ptr<FileInputStream>(new FileInputStream(f, path));
}

FileInputStream::~FileInputStream() {
  if (file_ != nullptr) std::fclose(file_);
}

Result<size_t> FileInputStream::Read(void* data, size_t size) {
  size_t n = std::fread(data, 1, size, file_);
  if (n < size && std::ferror(file_)) {
    return Status::IOError("ipc: read failed: " + path_ + ": " + ErrnoText());
  }
  return n;
}

Result<int64_t> FileInputStream::Size() {
  long here = std::ftell(file_);
  if (here < 0 || std::fseek(file_, 0, SEEK_END) != 0) {
    return Status::IOError("ipc: cannot size file: " + path_ + ": " + ErrnoText());
  }
  long end = std::ftell(file_);
  if (end < 0 || std::fseek(file_, here, SEEK_SET) != 0) {
    return Status::IOError("ipc: cannot size file: " + path_ + ": " + ErrnoText());
  }
  return static_cast<int64_t>(end);
}

Status FileInputStream::Seek(int64_t position) {
  if (position < 0 || std::fseek(file_, static_cast<long>(position), SEEK_SET) != 0) {
    return Status::IOError("ipc: seek failed: " + path_ + " (position " + std::to_string(position) +
                           ")");
  }
  return Status::OK();
}

}  // namespace dux::arrow_ipc
