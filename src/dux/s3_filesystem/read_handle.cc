#include <algorithm>
#include <cstring>
#include <span>

#include "file_system_internal.h"
#include "read_handle_internal.h"

namespace dux::s3_filesystem {

S3ReadHandle::S3ReadHandle(S3FileSystem& file_system, const std::string& url,
                           duckdb::FileOpenFlags flags, s3::S3Path path, s3::ObjectInfo info,
                           std::shared_ptr<s3::Client> client,
                           std::function<void(uint64_t)> count_read)
    : duckdb::FileHandle(file_system, url, flags),
      s3_file_system_(file_system),
      client_(std::move(client)),
      path_(std::move(path)),
      info_(std::move(info)),
      count_read_(std::move(count_read)) {}

void S3ReadHandle::Fetch(char* out, uint64_t size, uint64_t offset) {
  s3_file_system_.Count(&TransferStats::get_requests);
  Status status =
      client_->ReadRange(path_.bucket, path_.key, offset, std::span<char>(out, size), info_.etag);
  if (!status.ok()) ThrowIOException(status);
  s3_file_system_.Count(&TransferStats::bytes_fetched, size);
  if (count_read_) count_read_(size);
}

void S3ReadHandle::ReadAt(char* out, uint64_t size, uint64_t offset) {
  if (size == 0) return;
  if (offset > info_.size || size > info_.size - offset) {
    ThrowIOException(Status(StatusCode::kOutOfRange,
                            "s3: reading " + std::to_string(size) + " bytes at " +
                                std::to_string(offset) + " of " + path_.ToString() +
                                ", which has " + std::to_string(info_.size) + " bytes"));
  }
  const S3FileSystemOptions& options = s3_file_system_.options();
  if (size >= options.direct_read_bytes) {
    Fetch(out, size, offset);  // large: exactly these bytes, without the buffer's lock
    return;
  }
  std::unique_lock lock(buffer_mutex_);
  if (offset >= buffer_offset_ && offset + size <= buffer_offset_ + buffer_.size()) {
    std::memcpy(out, buffer_.data() + (offset - buffer_offset_), size);
    sequential_end_ = offset + size;
    return;
  }
  if (offset != sequential_end_ && offset != 0) {
    // A small read elsewhere (a footer, one page): exactly its bytes, nothing more. Should
    // the next small read continue from its end, that one reads ahead.
    sequential_end_ = offset + size;
    lock.unlock();
    Fetch(out, size, offset);
    return;
  }
  // Sequential: fetch a window from here and serve the next small reads from it. The lock
  // is held while it is fetched, so a second sequential reader waits for this window.
  uint64_t window = std::min(std::max(size, options.read_ahead_bytes), info_.size - offset);
  std::string fresh(window, '\0');
  Fetch(fresh.data(), window, offset);
  buffer_ = std::move(fresh);
  buffer_offset_ = offset;
  std::memcpy(out, buffer_.data(), size);
  sequential_end_ = offset + size;
}

uint64_t S3ReadHandle::ReadNext(char* out, uint64_t size) {
  if (position_ >= info_.size) return 0;
  uint64_t count = std::min(size, info_.size - position_);
  ReadAt(out, count, position_);
  position_ += count;
  return count;
}

}  // namespace dux::s3_filesystem
