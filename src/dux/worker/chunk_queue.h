// ChunkQueue: a bounded hand-over of Execute's messages (IPC chunks and reports) from the
// producing threads (DuckDB's, and a fragment's monitor) to one consuming thread. A full queue
// blocks the producer, so a slow consumer slows the query down (the same back-pressure gRPC flow
// control gives). Both transports use it: the in-process stream between the worker and the reader,
// the gRPC service between DuckDB and the sender.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "dux/v1/worker.pb.h"

namespace dux::worker {

class ChunkQueue {
 public:
  explicit ChunkQueue(size_t capacity) : capacity_(capacity) {}

  /// Blocks while the queue is full; false once it is cancelled (the chunk is dropped).
  bool Push(v1::IpcChunk chunk) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return chunks_.size() < capacity_ || cancelled_; });
    if (cancelled_) return false;
    chunks_.push_back(std::move(chunk));
    cv_.notify_all();
    return true;
  }

  /// The next chunk, blocking until one comes; nothing once the queue is closed and drained,
  /// or cancelled.
  std::optional<v1::IpcChunk> Pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !chunks_.empty() || closed_ || cancelled_; });
    if (cancelled_ || chunks_.empty()) return std::nullopt;
    v1::IpcChunk chunk = std::move(chunks_.front());
    chunks_.pop_front();
    cv_.notify_all();
    return chunk;
  }

  /// The producer's end: no more chunks will come.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

  /// Stops both sides. Returns whether the queue was still open (neither closed nor
  /// cancelled before).
  bool Cancel() {
    std::lock_guard lock(mu_);
    bool open = !closed_ && !cancelled_;
    cancelled_ = true;
    cv_.notify_all();
    return open;
  }

  bool cancelled() {
    std::lock_guard lock(mu_);
    return cancelled_;
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::IpcChunk> chunks_;
  bool closed_ = false;
  bool cancelled_ = false;
};

}  // namespace dux::worker
