// ResultChunk: a piece of Execute's IPC stream on its way to the transport. Small writes are
// copied into it; a batch's large buffers stay where DuckDB's Arrow export put them, held alive
// by the chunk. Their one copy is then made on the sending thread (the kernel's, in a gathered
// send on the result channel; into the message, for gRPC) and not on DuckDB's, whose thread is
// the transfer's critical path (BENCHMARKS.md, "Sending the result from the Arrow batches").
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dux::worker {

class ResultChunk {
 public:
  /// Copies `size` bytes.
  void Append(const char* data, size_t size);
  /// Refers to `size` bytes that stay valid and unchanged while `keep` lives.
  void AppendKept(const char* data, size_t size, const std::shared_ptr<const void>& keep);
  /// Room for `size` copied bytes.
  void Reserve(size_t size) { copied_.reserve(size); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// The bytes in order; the views are valid while the chunk lives unchanged.
  std::vector<std::string_view> Pieces() const;
  /// The bytes in one string: no copy when every byte was copied in.
  std::string Flatten() &&;

 private:
  struct Piece {
    const char* kept;  // null: `size` bytes of copied_ from `offset`
    size_t offset;
    size_t size;
  };
  std::string copied_;
  std::vector<Piece> pieces_;
  std::vector<std::shared_ptr<const void>> keeps_;
  size_t size_ = 0;
};

}  // namespace dux::worker
