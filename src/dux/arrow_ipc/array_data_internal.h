// Decoded arrays held by shared, immutable nodes, and their export as Arrow C Data arrays
// whose release callbacks drop the shared references.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc::internal {

/// Owned heap bytes aligned to 64, with zeroed padding up to the next multiple of 64.
/// Move-only; shared through shared_ptr once filled.
class Buffer {
 public:
  /// Allocates `size` bytes (0 allowed); ResourceExhausted when the allocation fails.
  static Result<std::unique_ptr<Buffer>> Allocate(int64_t size);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  int64_t size() const { return size_; }
  /// Grows or shrinks to `size`, keeping the first min(old, new) bytes.
  Status Resize(int64_t size);

 private:
  Buffer() = default;
  uint8_t* data_ = nullptr;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
};

/// 64 zero bytes with static lifetime: the buffer of every empty buffer we export, and the
/// offsets ([0]) of empty variable-length arrays.
const uint8_t* ZeroBytes();

/// One decoded array: immutable once built, shared by every exported ArrowArray that shows it
/// (dictionaries are shared across batches). Buffers point into memory kept by `owners`.
struct ArrayData {
  int64_t length = 0;
  int64_t null_count = 0;
  int64_t offset = 0;
  std::vector<const void*> buffers;
  std::vector<std::shared_ptr<ArrayData>> children;
  std::shared_ptr<ArrayData> dictionary;
  std::vector<std::shared_ptr<const Buffer>> owners;
};

/// Fills `out` with an ArrowArray that keeps `data` alive until released.
void ExportArray(std::shared_ptr<const ArrayData> data, ArrowArray* out);

}  // namespace dux::arrow_ipc::internal
