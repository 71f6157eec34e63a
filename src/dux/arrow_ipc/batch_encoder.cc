// Encoding of record batches and dictionary batches (batch_encoder_internal.h): arrays
// checked against their fields, flattened into field nodes and buffers, and laid out as a
// body.
#include <cstring>

#include "dux/arrow_ipc/batch_encoder_internal.h"
#include "dux/arrow_ipc/bitmap_internal.h"
#include "dux/arrow_ipc/compression_internal.h"

namespace dux::arrow_ipc::internal {

namespace fb = flatbuf;

namespace {

// Minimum number of C Data buffers an array of `f` carries.
int64_t CDataBufferCount(const Field& f, bool as_values) {
  if (f.dictionary && !as_values) return 2;
  switch (f.layout) {
    case Layout::kNull:
      return 0;
    case Layout::kFixedSizeList:
    case Layout::kStruct:
    case Layout::kSparseUnion:
      return 1;
    case Layout::kBool:
    case Layout::kFixedWidth:
    case Layout::kList:
    case Layout::kLargeList:
    case Layout::kMap:
    case Layout::kDenseUnion:
      return 2;
    case Layout::kBinary:
    case Layout::kLargeBinary:
    case Layout::kBinaryView:
      return 3;
  }
  return 0;
}

Status ShapeError(const Field& f, const std::string& what) {
  return Status::InvalidArgument("ipc: array of column " + Quote(f.name) + " " + what);
}

Status CheckShape(const Field& f, const ArrowArray& a, bool as_values) {
  if (a.release == nullptr) return ShapeError(f, "is released");
  int64_t need = CDataBufferCount(f, as_values);
  if (a.n_buffers < need || (need > 0 && a.buffers == nullptr)) {
    return ShapeError(f, "has " + std::to_string(a.n_buffers) + " buffers, its type needs " +
                             std::to_string(need));
  }
  if (a.length < 0 || a.offset < 0) return ShapeError(f, "has a negative length or offset");
  bool is_indices = f.dictionary && !as_values;
  if (a.length > 0) {
    // Every buffer but the validity bitmap (and a binary data buffer, checked later) must
    // exist; unions have no validity bitmap.
    bool is_union =
        !is_indices && (f.layout == Layout::kSparseUnion || f.layout == Layout::kDenseUnion);
    bool is_binary =
        !is_indices && (f.layout == Layout::kBinary || f.layout == Layout::kLargeBinary);
    for (int64_t i = is_union ? 0 : 1; i < need; ++i) {
      if (is_binary && i == 2) continue;
      if (a.buffers[i] == nullptr) return ShapeError(f, "has a null buffer " + std::to_string(i));
    }
  }
  size_t children = is_indices ? 0 : f.children.size();
  if (!is_indices) {
    if (a.n_children != static_cast<int64_t>(children) || (children > 0 && a.children == nullptr)) {
      return ShapeError(f, "has " + std::to_string(a.n_children) + " children, its type needs " +
                               std::to_string(children));
    }
    for (size_t i = 0; i < children; ++i) {
      if (a.children[i] == nullptr) return ShapeError(f, "has a null child");
    }
  }
  return Status::OK();
}

class Encoder {
 public:
  explicit Encoder(EncodedBatch* out) : out_(out) {}

  // Appends the `length` slots of `a` from logical slot `rel` (not counting a.offset).
  Status Array(const Field& f, const ArrowArray& a, int64_t rel, int64_t length, bool as_values) {
    DUX_RETURN_NOT_OK(CheckShape(f, a, as_values));
    if (rel < 0 || length < 0 || rel > a.length || length > a.length - rel) {
      return ShapeError(f, "is shorter than its parent needs (" + std::to_string(a.length) +
                               " slots, needs " + std::to_string(rel) + "+" +
                               std::to_string(length) + ")");
    }
    int64_t eff = a.offset + rel;
    size_t node = out_->nodes.size();
    out_->nodes.emplace_back(length, 0);
    auto set_nulls = [&](int64_t n) { out_->nodes[node] = fb::FieldNode(length, n); };
    auto buffer = [&](int64_t i) { return static_cast<const uint8_t*>(a.buffers[i]); };

    if (f.dictionary && !as_values) {
      set_nulls(Validity(a, rel, eff, length));
      int64_t w = f.dictionary->index_byte_width;
      Push(Offset(buffer(1), eff * w), length * w);
      return Status::OK();
    }
    switch (f.layout) {
      case Layout::kNull:
        set_nulls(length);
        return Status::OK();
      case Layout::kBool:
        set_nulls(Validity(a, rel, eff, length));
        Bits(buffer(1), eff, length);
        return Status::OK();
      case Layout::kFixedWidth: {
        set_nulls(Validity(a, rel, eff, length));
        int64_t w = f.byte_width;
        Push(Offset(buffer(1), eff * w), length * w);
        return Status::OK();
      }
      case Layout::kBinary:
      case Layout::kLargeBinary: {
        set_nulls(Validity(a, rel, eff, length));
        int64_t start = 0, end = 0;
        if (f.layout == Layout::kBinary) {
          DUX_RETURN_NOT_OK(Offsets<int32_t>(f, buffer(1), eff, length, &start, &end));
        } else {
          DUX_RETURN_NOT_OK(Offsets<int64_t>(f, buffer(1), eff, length, &start, &end));
        }
        if (end > start && buffer(2) == nullptr) return ShapeError(f, "has no data buffer");
        Push(Offset(buffer(2), start), end - start);
        return Status::OK();
      }
      case Layout::kBinaryView: {
        set_nulls(Validity(a, rel, eff, length));
        Push(Offset(buffer(1), eff * 16), length * 16);
        int64_t n_data = a.n_buffers - 3;
        const auto* sizes = reinterpret_cast<const int64_t*>(buffer(a.n_buffers - 1));
        if (n_data > 0 && sizes == nullptr) return ShapeError(f, "has no buffer sizes");
        for (int64_t i = 0; i < n_data; ++i) {
          if (sizes[i] < 0 || (sizes[i] > 0 && buffer(2 + i) == nullptr)) {
            return ShapeError(f, "has an invalid data buffer");
          }
          Push(buffer(2 + i), sizes[i]);
        }
        out_->variadic_counts.push_back(n_data);
        return Status::OK();
      }
      case Layout::kList:
      case Layout::kLargeList:
      case Layout::kMap: {
        set_nulls(Validity(a, rel, eff, length));
        int64_t start = 0, end = 0;
        if (f.layout == Layout::kLargeList) {
          DUX_RETURN_NOT_OK(Offsets<int64_t>(f, buffer(1), eff, length, &start, &end));
        } else {
          DUX_RETURN_NOT_OK(Offsets<int32_t>(f, buffer(1), eff, length, &start, &end));
        }
        return Array(f.children[0], *a.children[0], start, end - start, false);
      }
      case Layout::kFixedSizeList: {
        set_nulls(Validity(a, rel, eff, length));
        int64_t child_rel = 0, child_length = 0;
        if (__builtin_mul_overflow(eff, f.list_size, &child_rel) ||
            __builtin_mul_overflow(length, f.list_size, &child_length)) {
          return ShapeError(f, "is too long for its list size");
        }
        return Array(f.children[0], *a.children[0], child_rel, child_length, false);
      }
      case Layout::kStruct:
        set_nulls(Validity(a, rel, eff, length));
        for (size_t i = 0; i < f.children.size(); ++i) {
          DUX_RETURN_NOT_OK(Array(f.children[i], *a.children[i], eff, length, false));
        }
        return Status::OK();
      case Layout::kSparseUnion:
        Push(Offset(buffer(0), eff), length);
        for (size_t i = 0; i < f.children.size(); ++i) {
          DUX_RETURN_NOT_OK(Array(f.children[i], *a.children[i], eff, length, false));
        }
        return Status::OK();
      case Layout::kDenseUnion:
        // Offsets point anywhere into the children, so the children go whole.
        Push(Offset(buffer(0), eff), length);
        Push(Offset(buffer(1), eff * 4), length * 4);
        for (size_t i = 0; i < f.children.size(); ++i) {
          DUX_RETURN_NOT_OK(Array(f.children[i], *a.children[i], 0, a.children[i]->length, false));
        }
        return Status::OK();
    }
    return Status::Internal("ipc: unknown layout");
  }

 private:
  static const uint8_t* Offset(const uint8_t* p, int64_t bytes) {
    return p == nullptr ? nullptr : p + bytes;
  }

  void Push(const uint8_t* data, int64_t size) {
    out_->buffers.push_back(BodyBuffer{size > 0 ? data : nullptr, size});
  }

  uint8_t* Scratch(int64_t size) {
    out_->scratch.emplace_back(static_cast<size_t>(size), uint8_t{0});
    return out_->scratch.back().data();
  }

  // Pushes the validity bitmap of the slice (nothing when it has no nulls); returns the
  // slice's null count.
  int64_t Validity(const ArrowArray& a, int64_t rel, int64_t eff, int64_t length) {
    const auto* bits = static_cast<const uint8_t*>(a.buffers[0]);
    int64_t nulls = 0;
    if (bits != nullptr && a.null_count != 0 && length > 0) {
      bool whole = rel == 0 && length == a.length && a.null_count > 0;
      nulls = whole ? a.null_count : length - CountSetBits(bits, eff, length);
    }
    if (nulls == 0) {
      Push(nullptr, 0);
      return 0;
    }
    Bits(bits, eff, length);
    return nulls;
  }

  // Pushes `length` bits starting at bit `eff`, shifted to start at bit 0 when needed.
  void Bits(const uint8_t* bits, int64_t eff, int64_t length) {
    int64_t n_bytes = (length + 7) / 8;
    if (length == 0) {
      Push(nullptr, 0);
      return;
    }
    if (eff % 8 == 0) {
      Push(bits + eff / 8, n_bytes);
      return;
    }
    uint8_t* dst = Scratch(n_bytes);
    int shift = static_cast<int>(eff % 8);
    const uint8_t* src = bits + eff / 8;
    int64_t src_bytes = (shift + length + 7) / 8;
    for (int64_t j = 0; j < n_bytes; ++j) {
      auto lo = static_cast<uint8_t>(src[j] >> shift);
      auto hi = static_cast<uint8_t>(j + 1 < src_bytes ? src[j + 1] << (8 - shift) : 0);
      dst[j] = lo | hi;
    }
    if (length % 8 != 0) dst[n_bytes - 1] &= static_cast<uint8_t>((1u << (length % 8)) - 1);
    Push(dst, n_bytes);
  }

  // Pushes the offsets of the slice rebased to start at 0; returns the value range.
  template <typename T>
  Status Offsets(const Field& f, const uint8_t* buffer, int64_t eff, int64_t length, int64_t* start,
                 int64_t* end) {
    if (length == 0) {
      uint8_t* zero = Scratch(sizeof(T));
      Push(zero, sizeof(T));
      *start = *end = 0;
      return Status::OK();
    }
    if (buffer == nullptr) return ShapeError(f, "has no offsets buffer");
    const T* offsets = reinterpret_cast<const T*>(buffer) + eff;
    *start = offsets[0];
    *end = offsets[length];
    if (*start < 0 || *end < *start) return ShapeError(f, "has decreasing offsets");
    auto size = static_cast<int64_t>((length + 1) * sizeof(T));
    if (*start == 0) {
      Push(reinterpret_cast<const uint8_t*>(offsets), size);
      return Status::OK();
    }
    auto* dst = reinterpret_cast<T*>(Scratch(size));
    for (int64_t i = 0; i <= length; ++i) dst[i] = static_cast<T>(offsets[i] - *start);
    Push(reinterpret_cast<const uint8_t*>(dst), size);
    return Status::OK();
  }

  EncodedBatch* out_;
};

Status CollectArray(const Field& f, const ArrowArray& a,
                    std::map<int64_t, const ArrowArray*>* out) {
  DUX_RETURN_NOT_OK(CheckShape(f, a, false));
  if (f.dictionary) {
    if (a.dictionary == nullptr)
      return ShapeError(f, "is dictionary-encoded but has no dictionary");
    (*out)[f.dictionary->id] = a.dictionary;
    return Status::OK();
  }
  for (size_t i = 0; i < f.children.size(); ++i) {
    DUX_RETURN_NOT_OK(CollectArray(f.children[i], *a.children[i], out));
  }
  return Status::OK();
}

Status CheckBatch(const std::vector<Field>& fields, const ArrowArray& batch) {
  if (batch.release == nullptr) return Status::InvalidArgument("ipc: released record batch");
  if (batch.n_children != static_cast<int64_t>(fields.size()) ||
      (batch.n_children > 0 && batch.children == nullptr)) {
    return Status::InvalidArgument("ipc: record batch has " + std::to_string(batch.n_children) +
                                   " columns, the schema has " + std::to_string(fields.size()));
  }
  if (batch.length < 0 || batch.offset < 0) {
    return Status::InvalidArgument("ipc: record batch has a negative length or offset");
  }
  if (batch.null_count > 0) {
    return Status::InvalidArgument("ipc: a record batch cannot have null rows");
  }
  for (int64_t i = 0; i < batch.n_children; ++i) {
    if (batch.children[i] == nullptr) return Status::InvalidArgument("ipc: null column array");
  }
  return Status::OK();
}

}  // namespace

Status EncodeRecordBatch(const std::vector<Field>& fields, const ArrowArray& batch,
                         EncodedBatch* out) {
  DUX_RETURN_NOT_OK(CheckBatch(fields, batch));
  out->length = batch.length;
  Encoder encoder(out);
  for (size_t i = 0; i < fields.size(); ++i) {
    DUX_RETURN_NOT_OK(
        encoder.Array(fields[i], *batch.children[i], batch.offset, batch.length, false));
  }
  return Status::OK();
}

Status EncodeDictionary(const Field& field, const ArrowArray& values, EncodedBatch* out) {
  if (values.release == nullptr || values.length < 0) {
    return Status::InvalidArgument("ipc: invalid dictionary array of column " + Quote(field.name));
  }
  out->length = values.length;
  Encoder encoder(out);
  return encoder.Array(field, values, 0, values.length, true);
}

Status CollectDictionaries(const std::vector<Field>& fields, const ArrowArray& batch,
                           std::map<int64_t, const ArrowArray*>* out) {
  DUX_RETURN_NOT_OK(CheckBatch(fields, batch));
  for (size_t i = 0; i < fields.size(); ++i) {
    DUX_RETURN_NOT_OK(CollectArray(fields[i], *batch.children[i], out));
  }
  return Status::OK();
}

std::string Fingerprint(const EncodedBatch& batch) {
  std::string out;
  auto put = [&out](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  put(&batch.length, 8);
  for (const auto& node : batch.nodes) put(&node, sizeof(node));
  for (int64_t count : batch.variadic_counts) put(&count, 8);
  for (const BodyBuffer& b : batch.buffers) {
    put(&b.size, 8);
    if (b.size > 0) put(b.data, static_cast<size_t>(b.size));
  }
  return out;
}

Status BuildBody(const EncodedBatch& batch, Compression codec, Body* body) {
  int64_t offset = 0;
  for (const BodyBuffer& b : batch.buffers) {
    BodyBuffer piece = b;
    if (codec != Compression::kNone && b.size > 0) {
      std::vector<uint8_t>& s = body->storage.emplace_back(8);
      std::memcpy(s.data(), &b.size, 8);
      DUX_RETURN_NOT_OK(Compress(codec, b.data, b.size, &s));
      if (static_cast<int64_t>(s.size()) - 8 >= b.size) {
        // Not worth it: store the bytes as they are, marked by length -1.
        int64_t raw = -1;
        s.resize(static_cast<size_t>(8 + b.size));
        std::memcpy(s.data(), &raw, 8);
        std::memcpy(s.data() + 8, b.data, static_cast<size_t>(b.size));
      }
      piece = BodyBuffer{s.data(), static_cast<int64_t>(s.size())};
    }
    body->descriptors.emplace_back(offset, piece.size);
    body->pieces.push_back(piece);
    offset += PadTo8(piece.size);
  }
  return Status::OK();
}

flatbuffers::Offset<fb::RecordBatch> BuildRecordBatch(flatbuffers::FlatBufferBuilder* b,
                                                      const EncodedBatch& batch, const Body& body,
                                                      Compression codec) {
  auto nodes = b->CreateVectorOfStructs(batch.nodes);
  auto buffers = b->CreateVectorOfStructs(body.descriptors);
  flatbuffers::Offset<fb::BodyCompression> compression = 0;
  if (codec != Compression::kNone) {
    compression = fb::CreateBodyCompression(*b, codec == Compression::kLz4Frame
                                                    ? fb::CompressionType::LZ4_FRAME
                                                    : fb::CompressionType::ZSTD);
  }
  flatbuffers::Offset<flatbuffers::Vector<int64_t>> variadic = 0;
  if (!batch.variadic_counts.empty()) variadic = b->CreateVector(batch.variadic_counts);
  return fb::CreateRecordBatch(*b, batch.length, nodes, buffers, compression, variadic);
}

}  // namespace dux::arrow_ipc::internal
