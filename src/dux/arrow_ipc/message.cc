// Reading and writing encapsulated IPC messages.
#include <algorithm>
#include <cstring>

#include "dux/arrow_ipc/message_internal.h"

namespace dux::arrow_ipc::internal {

namespace {

constexpr int64_t kReadChunk = 1 << 20;
// flatbuffers cannot address 2 GiB (its verifier asserts on it).
constexpr int64_t kMaxFlatbufferBytes = (int64_t{1} << 31) - 8;

Status Truncated(const char* what, int64_t expected, int64_t got) {
  return {StatusCode::kDataLoss, std::string("ipc: truncated ") + what + " (expected " +
                                     std::to_string(expected) + " bytes, got " +
                                     std::to_string(got) + ")"};
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

int64_t MaxMetadataBytes(const ReadLimits& limits) {
  return std::min(limits.max_metadata_bytes, kMaxFlatbufferBytes);
}

Result<int64_t> ByteSource::Read(void* data, int64_t size) {
  auto* out = static_cast<uint8_t*>(data);
  int64_t done = 0;
  if (!pending_.empty() && size > 0) {
    int64_t n = std::min<int64_t>(size, static_cast<int64_t>(pending_.size()));
    std::memcpy(out, pending_.data(), static_cast<size_t>(n));
    pending_.erase(0, static_cast<size_t>(n));
    done = n;
  }
  while (done < size) {
    DUX_ASSIGN_OR_RETURN(size_t n, in_->Read(out + done, static_cast<size_t>(size - done)));
    if (n == 0) break;
    done += static_cast<int64_t>(n);
  }
  position_ += done;
  return done;
}

Result<std::unique_ptr<Buffer>> ByteSource::ReadExactly(int64_t size, const char* what) {
  DUX_ASSIGN_OR_RETURN(auto buffer, Buffer::Allocate(std::min(size, kReadChunk)));
  int64_t done = 0;
  while (done < size) {
    int64_t want = std::min(size - done, std::max(kReadChunk, done));
    if (buffer->size() < done + want) DUX_RETURN_NOT_OK(buffer->Resize(done + want));
    DUX_ASSIGN_OR_RETURN(int64_t n, Read(buffer->data() + done, want));
    done += n;
    if (n < want) return Truncated(what, size, done);
  }
  return buffer;
}

void ByteSource::Unread(const void* data, int64_t size) {
  pending_.insert(0, static_cast<const char*>(data), static_cast<size_t>(size));
  position_ -= size;
}

Status ByteSource::Seek(int64_t position) {
  auto* random = dynamic_cast<RandomAccessInput*>(in_);
  if (random == nullptr) return Status::FailedPrecondition("ipc: input cannot seek");
  DUX_RETURN_NOT_OK(random->Seek(position));
  pending_.clear();
  position_ = position;
  return Status::OK();
}

Result<std::optional<Message>> ReadMessage(ByteSource* source, const ReadLimits& limits) {
  uint8_t prefix[4];
  DUX_ASSIGN_OR_RETURN(int64_t n, source->Read(prefix, 4));
  if (n == 0) return std::optional<Message>();  // end of input at a message boundary
  if (n < 4) return Truncated("message prefix", 4, n);
  uint32_t word = LoadU32(prefix);
  if (word == kContinuation) {
    DUX_ASSIGN_OR_RETURN(n, source->Read(prefix, 4));
    if (n < 4) return Truncated("message length", 4, n);
    word = LoadU32(prefix);
  }
  // Otherwise the legacy form: the first word already is the length.
  int32_t length;
  std::memcpy(&length, &word, 4);
  if (length == 0) return std::optional<Message>();  // end-of-stream marker
  if (length < 0) {
    return Status::InvalidArgument("ipc: negative message metadata length " +
                                   std::to_string(length));
  }
  int64_t max_metadata = MaxMetadataBytes(limits);
  if (length > max_metadata) {
    return Status::InvalidArgument("ipc: message metadata of " + std::to_string(length) +
                                   " bytes exceeds the limit of " + std::to_string(max_metadata));
  }
  Message message;
  DUX_ASSIGN_OR_RETURN(message.metadata, source->ReadExactly(length, "message metadata"));
  if (!VerifyFlatbuffer<flatbuf::Message>(message.metadata->data(), length, limits)) {
    return Status::InvalidArgument("ipc: message metadata is not a valid flatbuffer Message");
  }
  message.header = flatbuf::GetMessage(message.metadata->data());
  auto version = message.header->version();
  if (version < flatbuf::MetadataVersion::V4 || version > flatbuf::MetadataVersion::V5) {
    return Status::Unimplemented("ipc: unsupported metadata version " +
                                 std::to_string(static_cast<int>(version)));
  }
  int64_t body_length = message.header->body_length();
  if (body_length < 0) {
    return Status::InvalidArgument("ipc: negative message body length " +
                                   std::to_string(body_length));
  }
  if (body_length > limits.max_body_bytes) {
    return Status::InvalidArgument("ipc: message body of " + std::to_string(body_length) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(limits.max_body_bytes));
  }
  DUX_ASSIGN_OR_RETURN(auto body, source->ReadExactly(body_length, "message body"));
  message.body = std::move(body);
  return std::optional<Message>(std::move(message));
}

Status WriteMessage(OutputStream* out, const flatbuffers::FlatBufferBuilder& builder,
                    const std::vector<BodyBuffer>& body, int64_t* metadata_length,
                    int64_t* body_length) {
  static const uint8_t kZeros[8] = {};
  auto fb_size = static_cast<int64_t>(builder.GetSize());
  int64_t padded = PadTo8(fb_size + 8) - 8;
  uint32_t prefix[2] = {kContinuation, static_cast<uint32_t>(padded)};
  DUX_RETURN_NOT_OK(out->Write(prefix, 8));
  DUX_RETURN_NOT_OK(out->Write(builder.GetBufferPointer(), static_cast<size_t>(fb_size)));
  DUX_RETURN_NOT_OK(out->Write(kZeros, static_cast<size_t>(padded - fb_size)));
  int64_t written = 0;
  for (const BodyBuffer& b : body) {
    if (b.size > 0) DUX_RETURN_NOT_OK(out->Write(b.data, static_cast<size_t>(b.size)));
    int64_t pad = PadTo8(b.size) - b.size;
    DUX_RETURN_NOT_OK(out->Write(kZeros, static_cast<size_t>(pad)));
    written += b.size + pad;
  }
  *metadata_length = 8 + padded;
  *body_length = written;
  return Status::OK();
}

Status WriteEndOfStream(OutputStream* out) {
  uint32_t marker[2] = {kContinuation, 0};
  return out->Write(marker, 8);
}

}  // namespace dux::arrow_ipc::internal
