// A PushBuckets stream as the worker reads it (worker.proto, BucketChunk): each chunk's head,
// then its data, so that a transport that can hand the data over in place (the result
// channel: straight from the socket into the IPC reader's buffer) does not copy it first.
#pragma once

#include <cstddef>
#include <functional>

#include "dux/common/status.h"
#include "dux/v1/worker.pb.h"

namespace dux::worker {

class BucketChunkSource {
 public:
  virtual ~BucketChunkSource() = default;
  /// The next chunk's head (exchange, bucket, lease, last; its data empty): false at the
  /// stream's end. The previous chunk's data was read to its end first.
  virtual Result<bool> NextHead(v1::BucketChunk* head) = 0;
  /// Up to `size` bytes of the current chunk's data; 0 once all of it was read.
  virtual Result<size_t> ReadData(void* data, size_t size) = 0;
};

/// The chunks of a transport that delivers whole messages (gRPC, in process), from `next`
/// (false at the end); each chunk's data is copied out of its message.
class BucketMessages : public BucketChunkSource {
 public:
  explicit BucketMessages(std::function<Result<bool>(v1::BucketChunk*)> next)
      : next_(std::move(next)) {}
  Result<bool> NextHead(v1::BucketChunk* head) override;
  Result<size_t> ReadData(void* data, size_t size) override;

 private:
  std::function<Result<bool>(v1::BucketChunk*)> next_;
  v1::BucketChunk chunk_;
  size_t offset_ = 0;
};

}  // namespace dux::worker
