// Aligned buffers and the export of decoded arrays as Arrow C Data.
#include <cstdlib>
#include <cstring>
#include <string>

#include "dux/arrow_ipc/array_data_internal.h"
#include "dux/common/library_callback.h"

namespace dux::arrow_ipc::internal {

namespace {

constexpr int64_t kAlignment = 64;

int64_t RoundUp(int64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

alignas(64) const uint8_t kZeroBytes[64] = {};

// What an exported ArrowArray's private_data points to: the shared node and the arrays of
// pointers the C struct refers to.
struct ExportedArray {
  std::shared_ptr<const ArrayData> data;
  std::vector<const void*> buffers;
  std::vector<ArrowArray> children;
  std::vector<ArrowArray*> child_pointers;
  ArrowArray dictionary{};
};

void ReleaseExported(ArrowArray* array) {
  if (array == nullptr || array->release == nullptr) return;
  auto* exported = static_cast<ExportedArray*>(array->private_data);
  for (ArrowArray& child : exported->children) {
    if (child.release != nullptr) child.release(&child);
  }
  if (exported->dictionary.release != nullptr) exported->dictionary.release(&exported->dictionary);
  delete exported;
  array->release = nullptr;
  array->private_data = nullptr;
}

}  // namespace

Result<std::unique_ptr<Buffer>> Buffer::Allocate(int64_t size) {
  std::unique_ptr<Buffer> buffer(new Buffer());
  DUX_RETURN_NOT_OK(buffer->Resize(size));
  return buffer;
}

Buffer::~Buffer() { std::free(data_); }

Status Buffer::Resize(int64_t size) {
  if (size < 0) return Status::Internal("ipc: negative buffer size");
  int64_t capacity = RoundUp(size == 0 ? 1 : size);
  if (capacity <= capacity_) {
    // Keep the padding past the end zeroed.
    if (size < size_) std::memset(data_ + size, 0, static_cast<size_t>(size_ - size));
    size_ = size;
    return Status::OK();
  }
  void* fresh = nullptr;
  if (size > (int64_t{1} << 46) ||
      posix_memalign(&fresh, kAlignment, static_cast<size_t>(capacity)) != 0) {
    return {StatusCode::kResourceExhausted,
            "ipc: cannot allocate a buffer of " + std::to_string(size) + " bytes"};
  }
  auto* bytes = static_cast<uint8_t*>(fresh);
  if (size_ > 0) std::memcpy(bytes, data_, static_cast<size_t>(size_));
  std::memset(bytes + size_, 0, static_cast<size_t>(capacity - size_));
  std::free(data_);
  data_ = bytes;
  capacity_ = capacity;
  size_ = size;
  return Status::OK();
}

const uint8_t* ZeroBytes() { return kZeroBytes; }

void ExportArray(std::shared_ptr<const ArrayData> data, ArrowArray* out) {
  auto* exported = new ExportedArray();
  exported->data = data;
  exported->buffers = data->buffers;
  exported->children.resize(data->children.size());
  exported->child_pointers.resize(data->children.size());
  for (size_t i = 0; i < data->children.size(); ++i) {
    ExportArray(data->children[i], &exported->children[i]);
    exported->child_pointers[i] = &exported->children[i];
  }
  if (data->dictionary) ExportArray(data->dictionary, &exported->dictionary);

  out->length = data->length;
  out->null_count = data->null_count;
  out->offset = data->offset;
  out->n_buffers = static_cast<int64_t>(exported->buffers.size());
  out->n_children = static_cast<int64_t>(exported->children.size());
  out->buffers = exported->buffers.empty() ? nullptr : exported->buffers.data();
  out->children = exported->child_pointers.empty() ? nullptr : exported->child_pointers.data();
  out->dictionary = data->dictionary ? &exported->dictionary : nullptr;
  out->release = LibraryCallback<ReleaseExported>::Call;
  out->private_data = exported;
}

}  // namespace dux::arrow_ipc::internal
