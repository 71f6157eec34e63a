// Encapsulated IPC messages: the continuation marker, the int32 metadata length, the
// flatbuffer Message padded to 8 bytes and the body; the end-of-stream marker; the file magic.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dux/arrow_ipc/array_data_internal.h"
#include "dux/arrow_ipc/format/Message_generated.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/arrow_ipc/streams.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc::internal {

constexpr uint32_t kContinuation = 0xFFFFFFFFu;
/// "ARROW1" and two bytes of padding open a file; "ARROW1" closes it.
constexpr char kFileMagic[] = "ARROW1";
constexpr int64_t kFileMagicSize = 6;
constexpr int64_t kFileHeaderSize = 8;

inline int64_t PadTo8(int64_t n) { return (n + 7) & ~int64_t{7}; }

/// A contiguous range of bytes that becomes one buffer of a message body.
struct BodyBuffer {
  const uint8_t* data = nullptr;
  int64_t size = 0;
};

/// Reads an InputStream, counting the position, with bytes handed back by Unread first.
class ByteSource {
 public:
  explicit ByteSource(InputStream* in) : in_(in) {}

  /// Reads until `size` bytes or the end of the input; returns how many were read.
  Result<int64_t> Read(void* data, int64_t size);
  /// Exactly `size` bytes in a fresh aligned buffer. The buffer grows as bytes arrive, so a
  /// hostile length on a short input costs no more memory than the input holds (plus 1 MiB).
  /// A short input is DataLoss naming `what`.
  Result<std::unique_ptr<Buffer>> ReadExactly(int64_t size, const char* what);
  /// Puts bytes back in front of the input (only at the start, for the magic sniff).
  void Unread(const void* data, int64_t size);
  /// Jumps to `position` (the input must be a RandomAccessInput).
  Status Seek(int64_t position);
  int64_t position() const { return position_; }
  InputStream* input() const { return in_; }

 private:
  InputStream* in_;
  std::string pending_;
  int64_t position_ = 0;
};

/// One message read from the input; `header` points into `metadata`.
struct Message {
  std::unique_ptr<Buffer> metadata;
  const flatbuf::Message* header = nullptr;
  std::shared_ptr<const Buffer> body;
};

/// The largest flatbuffer (message metadata or footer) the reader accepts.
int64_t MaxMetadataBytes(const ReadLimits& limits);

/// The next message, or nullopt at the end-of-stream marker or a clean end of input. Checks
/// lengths against `limits`, verifies the flatbuffer, and reads the body.
Result<std::optional<Message>> ReadMessage(ByteSource* source, const ReadLimits& limits);

/// Writes one message: prefix, the finished flatbuffer in `builder` padded to 8, then each
/// body buffer padded to 8. Sets `*metadata_length` to the prefix+flatbuffer+padding size.
Status WriteMessage(OutputStream* out, const flatbuffers::FlatBufferBuilder& builder,
                    const std::vector<BodyBuffer>& body, int64_t* metadata_length,
                    int64_t* body_length);

/// Writes the 8-byte end-of-stream marker (continuation, length 0).
Status WriteEndOfStream(OutputStream* out);

/// Verifies flatbuffer bytes as a `Root` with depth and table limits that follow `limits`.
template <typename Root>
bool VerifyFlatbuffer(const uint8_t* data, int64_t size, const ReadLimits& limits) {
  flatbuffers::Verifier::Options options;
  options.max_depth = static_cast<flatbuffers::uoffset_t>(2 * limits.max_nesting_depth + 16);
  options.max_tables = 1u << 20;
  flatbuffers::Verifier verifier(data, static_cast<size_t>(size), options);
  return verifier.VerifyBuffer<Root>(nullptr);
}

/// Whether the structs of a flatbuffer vector (Block, FieldNode, Buffer: int64 fields) sit
/// at their natural alignment. flatbuffers 2.0's verifier does not check it, and a hostile
/// buffer can place them at 4 mod 8, where reading them is undefined behaviour. An absent
/// or empty vector is fine (flatbuffers itself leaves an empty one at 4 mod 8).
template <typename T>
bool StructsAligned(const flatbuffers::Vector<const T*>* v) {
  return v == nullptr || v->size() == 0 || reinterpret_cast<uintptr_t>(v->Data()) % alignof(T) == 0;
}

/// The same for a vector of 8-byte scalars (variadic buffer counts).
inline bool ScalarsAligned(const flatbuffers::Vector<int64_t>* v) {
  return v == nullptr || v->size() == 0 ||
         reinterpret_cast<uintptr_t>(v->Data()) % alignof(int64_t) == 0;
}

}  // namespace dux::arrow_ipc::internal
