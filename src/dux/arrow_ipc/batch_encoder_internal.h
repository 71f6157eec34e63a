// Record batches and dictionary batches as written: Arrow C Data arrays flattened into IPC
// field nodes and body buffers, the body laid out (compressed per buffer) and described by
// a RecordBatch table.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/arrow_ipc/format/Message_generated.h"
#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/arrow_ipc/message_internal.h"
#include "dux/arrow_ipc/schema_codec_internal.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc::internal {

/// A batch flattened for the wire, before compression. Buffers point into the caller's
/// arrays (zero copy) or into `scratch` (slices that had to be shifted or rebased).
struct EncodedBatch {
  int64_t length = 0;
  std::vector<flatbuf::FieldNode> nodes;
  std::vector<BodyBuffer> buffers;
  std::vector<int64_t> variadic_counts;
  std::deque<std::vector<uint8_t>> scratch;
};

/// Flattens the columns of `batch` (a struct array whose children match `fields`), honouring
/// every ArrowArray.offset (the output is normalised to offset 0).
Status EncodeRecordBatch(const std::vector<Field>& fields, const ArrowArray& batch,
                         EncodedBatch* out);
/// Flattens the values of the dictionary of `field` (a dictionary-encoded field).
Status EncodeDictionary(const Field& field, const ArrowArray& values, EncodedBatch* out);
/// The dictionary array of every dictionary-encoded field in `batch`, by dictionary id.
Status CollectDictionaries(const std::vector<Field>& fields, const ArrowArray& batch,
                           std::map<int64_t, const ArrowArray*>* out);
/// Bytes that identify the content of an encoded batch (to detect a changed dictionary).
std::string Fingerprint(const EncodedBatch& batch);

/// The body as written: buffers in order (each padded to 8 by WriteMessage) and their
/// flatbuffer descriptors, compressed per buffer when `codec` is not kNone.
struct Body {
  std::vector<BodyBuffer> pieces;
  std::vector<flatbuf::Buffer> descriptors;
  std::deque<std::vector<uint8_t>> storage;
};
Status BuildBody(const EncodedBatch& batch, Compression codec, Body* body);
/// The RecordBatch table for `batch` laid out as `body`.
flatbuffers::Offset<flatbuf::RecordBatch> BuildRecordBatch(flatbuffers::FlatBufferBuilder* b,
                                                           const EncodedBatch& batch,
                                                           const Body& body, Compression codec);

}  // namespace dux::arrow_ipc::internal
