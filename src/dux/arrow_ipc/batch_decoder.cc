// Decoding of record batches and dictionary batches (batch_decoder_internal.h): field nodes
// and buffers checked against the schema and the body, and turned into shared arrays.
#include <array>
#include <cstring>

#include "dux/arrow_ipc/batch_decoder_internal.h"
#include "dux/arrow_ipc/bitmap_internal.h"
#include "dux/arrow_ipc/compression_internal.h"
#include "dux/arrow_ipc/message_internal.h"

namespace dux::arrow_ipc::internal {

namespace fb = flatbuf;

namespace {

void CountLayout(const Field& f, bool v4_unions, int64_t* nodes, int64_t* buffers, int64_t* views) {
  ++*nodes;
  if (f.dictionary) {
    *buffers += 2;
    return;
  }
  *buffers += IpcBufferCount(f.layout);
  if (v4_unions && (f.layout == Layout::kSparseUnion || f.layout == Layout::kDenseUnion)) {
    ++*buffers;
  }
  if (f.layout == Layout::kBinaryView) ++*views;
  for (const Field& child : f.children) CountLayout(child, v4_unions, nodes, buffers, views);
}

class Decoder {
 public:
  Decoder(const fb::RecordBatch* batch, const std::shared_ptr<const Buffer>& body,
          const DictionaryMap& dictionaries, const ReadLimits& limits, bool v4_unions)
      : batch_(batch),
        body_(body),
        dictionaries_(dictionaries),
        limits_(limits),
        v4_unions_(v4_unions) {}

  Status Init(const std::vector<Field>& fields) {
    int64_t nodes = 0, buffers = 0, views = 0;
    for (const Field& f : fields) CountLayout(f, v4_unions_, &nodes, &buffers, &views);
    if (!StructsAligned(batch_->nodes()) || !StructsAligned(batch_->buffers()) ||
        !ScalarsAligned(batch_->variadic_buffer_counts())) {
      return Status::InvalidArgument("ipc: record batch metadata vectors are misaligned");
    }
    int64_t have_nodes = batch_->nodes() ? batch_->nodes()->size() : 0;
    if (have_nodes != nodes) {
      return Status::InvalidArgument("ipc: record batch has " + std::to_string(have_nodes) +
                                     " field nodes, the schema needs " + std::to_string(nodes));
    }
    int64_t have_buffers = batch_->buffers() ? batch_->buffers()->size() : 0;
    const auto* counts = batch_->variadic_buffer_counts();
    int64_t have_views = counts ? counts->size() : 0;
    if (have_views != views) {
      return Status::InvalidArgument("ipc: record batch has " + std::to_string(have_views) +
                                     " variadic buffer counts, the schema needs " +
                                     std::to_string(views));
    }
    for (int64_t i = 0; i < have_views; ++i) {
      int64_t n = counts->Get(static_cast<flatbuffers::uoffset_t>(i));
      if (n < 0 || n > have_buffers) {
        return Status::InvalidArgument("ipc: variadic buffer count " + std::to_string(n) +
                                       " out of range");
      }
      buffers += n;
    }
    if (have_buffers != buffers) {
      return Status::InvalidArgument("ipc: record batch has " + std::to_string(have_buffers) +
                                     " buffers, the schema needs " + std::to_string(buffers));
    }
    if (batch_->length() < 0) {
      return Status::InvalidArgument("ipc: negative record batch length " +
                                     std::to_string(batch_->length()));
    }
    if (const fb::BodyCompression* c = batch_->compression()) {
      if (c->method() != fb::BodyCompressionMethod::BUFFER) {
        return Status::Unimplemented("ipc: unknown body compression method");
      }
      switch (c->codec()) {
        case fb::CompressionType::LZ4_FRAME:
          codec_ = Compression::kLz4Frame;
          break;
        case fb::CompressionType::ZSTD:
          codec_ = Compression::kZstd;
          break;
        default:
          return Status::Unimplemented("ipc: unknown body compression codec");
      }
    }
    return Status::OK();
  }

  Result<std::shared_ptr<ArrayData>> Array(const Field& f) {
    if (next_node_ >= batch_->nodes()->size()) return Status::Internal("ipc: node count");
    const fb::FieldNode* node = batch_->nodes()->Get(next_node_++);
    int64_t length = node->length();
    int64_t nulls = node->null_count();
    if (length < 0) {
      return Status::InvalidArgument("ipc: negative length " + std::to_string(length) +
                                     " in field " + Quote(f.name));
    }
    if (nulls < 0 || nulls > length) {
      return Status::InvalidArgument("ipc: null count " + std::to_string(nulls) +
                                     " out of range for length " + std::to_string(length) +
                                     " in field " + Quote(f.name));
    }
    auto d = std::make_shared<ArrayData>();
    d->length = length;
    d->null_count = nulls;

    if (f.dictionary) {
      DUX_RETURN_NOT_OK(Validity(f, d.get()));
      DUX_RETURN_NOT_OK(Values(f, d.get(), f.dictionary->index_byte_width));
      auto it = dictionaries_.find(f.dictionary->id);
      if (it == dictionaries_.end()) {
        return Status::InvalidArgument(
            "ipc: no dictionary with id " + std::to_string(f.dictionary->id) +
            " precedes the batch that uses it (field " + Quote(f.name) + ")");
      }
      d->dictionary = std::const_pointer_cast<ArrayData>(it->second);
      DUX_RETURN_NOT_OK(CheckIndices(f, *d));
      return d;
    }

    switch (f.layout) {
      case Layout::kNull:
        d->null_count = length;
        return d;
      case Layout::kBool: {
        DUX_RETURN_NOT_OK(Validity(f, d.get()));
        DUX_ASSIGN_OR_RETURN(Slice values, NextBuffer(f));
        DUX_RETURN_NOT_OK(NeedSize(f, values, BitmapBytes(length), "values"));
        Keep(d.get(), values);
        return d;
      }
      case Layout::kFixedWidth:
        DUX_RETURN_NOT_OK(Validity(f, d.get()));
        DUX_RETURN_NOT_OK(Values(f, d.get(), f.byte_width));
        return d;
      case Layout::kBinary:
      case Layout::kLargeBinary: {
        DUX_RETURN_NOT_OK(Validity(f, d.get()));
        bool large = f.layout == Layout::kLargeBinary;
        DUX_ASSIGN_OR_RETURN(Slice offsets, OffsetsBuffer(f, length, large));
        DUX_ASSIGN_OR_RETURN(Slice data, NextBuffer(f));
        DUX_RETURN_NOT_OK(large ? CheckOffsets<int64_t>(f, offsets, length, data.size)
                                : CheckOffsets<int32_t>(f, offsets, length, data.size));
        Keep(d.get(), offsets);
        Keep(d.get(), data);
        return d;
      }
      case Layout::kBinaryView:
        DUX_RETURN_NOT_OK(Validity(f, d.get()));
        DUX_RETURN_NOT_OK(Views(f, d.get()));
        return d;
      case Layout::kList:
      case Layout::kLargeList:
      case Layout::kMap: {
        DUX_RETURN_NOT_OK(Validity(f, d.get()));
        bool large = f.layout == Layout::kLargeList;
        DUX_ASSIGN_OR_RETURN(Slice offsets, OffsetsBuffer(f, length, large));
        Keep(d.get(), offsets);
        DUX_ASSIGN_OR_RETURN(auto child, Array(f.children[0]));
        DUX_RETURN_NOT_OK(large ? CheckOffsets<int64_t>(f, offsets, length, child->length)
                                : CheckOffsets<int32_t>(f, offsets, length, child->length));
        d->children.push_back(std::move(child));
        return d;
      }
      case Layout::kFixedSizeList: {
        DUX_RETURN_NOT_OK(Validity(f, d.get()));
        DUX_ASSIGN_OR_RETURN(auto child, Array(f.children[0]));
        int64_t need = 0;
        if (__builtin_mul_overflow(length, f.list_size, &need) || child->length < need) {
          return Status::InvalidArgument("ipc: fixed-size list " + Quote(f.name) + " of " +
                                         std::to_string(length) + " lists of " +
                                         std::to_string(f.list_size) + " has only " +
                                         std::to_string(child->length) + " child values");
        }
        d->children.push_back(std::move(child));
        return d;
      }
      case Layout::kStruct:
        DUX_RETURN_NOT_OK(Validity(f, d.get()));
        for (const Field& child_field : f.children) {
          DUX_ASSIGN_OR_RETURN(auto child, Array(child_field));
          DUX_RETURN_NOT_OK(ChildLength(f, *child, length));
          d->children.push_back(std::move(child));
        }
        return d;
      case Layout::kSparseUnion:
      case Layout::kDenseUnion:
        DUX_RETURN_NOT_OK(Union(f, d.get()));
        return d;
    }
    return Status::Internal("ipc: unknown layout");
  }

  Status Finish() {
    if (next_buffer_ != (batch_->buffers() ? batch_->buffers()->size() : 0)) {
      return Status::Internal("ipc: buffers left over after decoding");
    }
    return Status::OK();
  }

 private:
  struct Slice {
    const uint8_t* data = nullptr;
    int64_t size = 0;
    std::shared_ptr<const Buffer> owner;
  };

  static void Keep(ArrayData* d, const Slice& s) {
    d->buffers.push_back(s.data);
    if (s.owner) d->owners.push_back(s.owner);
  }

  Status NeedSize(const Field& f, const Slice& s, int64_t need, const char* what) {
    if (s.size < need) {
      return Status::InvalidArgument("ipc: " + std::string(what) + " buffer of field " +
                                     Quote(f.name) + " too short (needs " + std::to_string(need) +
                                     " bytes, has " + std::to_string(s.size) + ")");
    }
    return Status::OK();
  }

  Status ChildLength(const Field& f, const ArrayData& child, int64_t need) {
    if (child.length < need) {
      return Status::InvalidArgument("ipc: child of field " + Quote(f.name) + " has " +
                                     std::to_string(child.length) + " values, needs " +
                                     std::to_string(need));
    }
    return Status::OK();
  }

  Result<Slice> Copy(const uint8_t* data, int64_t size) {
    DUX_ASSIGN_OR_RETURN(std::shared_ptr<Buffer> copy, Buffer::Allocate(size));
    std::memcpy(copy->data(), data, static_cast<size_t>(size));
    return Slice{copy->data(), size, std::move(copy)};
  }

  // Zero copy when 8-byte aligned inside the body; a copy otherwise.
  Result<Slice> BodyRange(int64_t offset, int64_t size) {
    if (size == 0) return Slice{ZeroBytes(), 0, nullptr};
    if (offset % 8 == 0) return Slice{body_->data() + offset, size, body_};
    return Copy(body_->data() + offset, size);
  }

  Result<Slice> NextBuffer(const Field& f) {
    if (next_buffer_ >= batch_->buffers()->size()) return Status::Internal("ipc: buffer count");
    flatbuffers::uoffset_t index = next_buffer_++;
    const fb::Buffer* b = batch_->buffers()->Get(index);
    int64_t offset = b->offset(), size = b->length();
    int64_t body_size = body_->size();
    if (offset < 0 || size < 0 || offset > body_size || size > body_size - offset) {
      return Status::InvalidArgument(
          "ipc: buffer " + std::to_string(index) + " of field " + Quote(f.name) + " (offset " +
          std::to_string(offset) + ", length " + std::to_string(size) +
          ") lies outside the message body (" + std::to_string(body_size) + " bytes)");
    }
    if (codec_ == Compression::kNone || size == 0) return BodyRange(offset, size);
    if (size < 8) {
      return Status::InvalidArgument("ipc: compressed buffer " + std::to_string(index) +
                                     " is shorter than its length prefix");
    }
    int64_t raw_size;
    std::memcpy(&raw_size, body_->data() + offset, 8);
    if (raw_size == -1) return BodyRange(offset + 8, size - 8);  // stored uncompressed
    if (raw_size < 0) {
      return Status::InvalidArgument("ipc: negative uncompressed length " +
                                     std::to_string(raw_size) + " of buffer " +
                                     std::to_string(index));
    }
    if (raw_size > limits_.max_body_bytes - decompressed_) {
      return Status::InvalidArgument("ipc: decompressed buffers exceed the body limit of " +
                                     std::to_string(limits_.max_body_bytes) + " bytes");
    }
    DUX_RETURN_NOT_OK(CheckDeclaredLength(codec_, body_->data() + offset + 8, size - 8, raw_size));
    decompressed_ += raw_size;
    DUX_ASSIGN_OR_RETURN(std::shared_ptr<Buffer> out, Buffer::Allocate(raw_size));
    DUX_RETURN_NOT_OK(
        Decompress(codec_, body_->data() + offset + 8, size - 8, out->data(), raw_size));
    if (raw_size == 0) return Slice{ZeroBytes(), 0, nullptr};
    return Slice{out->data(), raw_size, std::move(out)};
  }

  Status Validity(const Field& f, ArrayData* d) {
    DUX_ASSIGN_OR_RETURN(Slice bits, NextBuffer(f));
    if (bits.size == 0) {
      if (d->null_count != 0) {
        return Status::InvalidArgument("ipc: field " + Quote(f.name) + " has " +
                                       std::to_string(d->null_count) +
                                       " nulls but no validity bitmap");
      }
      d->buffers.push_back(nullptr);
      return Status::OK();
    }
    DUX_RETURN_NOT_OK(NeedSize(f, bits, BitmapBytes(d->length), "validity"));
    // Consumers (DuckDB among them) trust null_count, e.g. to skip the bitmap when it is 0,
    // so a count that disagrees with the bitmap would turn garbage slots into values.
    int64_t nulls = d->length - CountSetBits(bits.data, 0, d->length);
    if (nulls != d->null_count) {
      return Status::InvalidArgument("ipc: field " + Quote(f.name) + " declares " +
                                     std::to_string(d->null_count) +
                                     " nulls but its validity bitmap has " + std::to_string(nulls));
    }
    Keep(d, bits);
    return Status::OK();
  }

  Status Values(const Field& f, ArrayData* d, int64_t width) {
    DUX_ASSIGN_OR_RETURN(Slice values, NextBuffer(f));
    int64_t need = 0;
    if (__builtin_mul_overflow(d->length, width, &need)) {
      return Status::InvalidArgument("ipc: size overflow in field " + Quote(f.name));
    }
    DUX_RETURN_NOT_OK(NeedSize(f, values, need, "values"));
    Keep(d, values);
    return Status::OK();
  }

  Result<Slice> OffsetsBuffer(const Field& f, int64_t length, bool large) {
    DUX_ASSIGN_OR_RETURN(Slice offsets, NextBuffer(f));
    if (length == 0 && offsets.size == 0) return Slice{ZeroBytes(), 8, nullptr};
    int64_t need = 0;
    if (length == INT64_MAX || __builtin_mul_overflow(length + 1, large ? 8 : 4, &need)) {
      return Status::InvalidArgument("ipc: size overflow in field " + Quote(f.name));
    }
    DUX_RETURN_NOT_OK(NeedSize(f, offsets, need, "offsets"));
    return offsets;
  }

  template <typename T>
  Status CheckOffsets(const Field& f, const Slice& s, int64_t length, int64_t limit) {
    const T* offsets = reinterpret_cast<const T*>(s.data);
    if (offsets[0] < 0) {
      return Status::InvalidArgument("ipc: negative first offset in field " + Quote(f.name));
    }
    for (int64_t i = 0; i < length; ++i) {
      if (offsets[i + 1] < offsets[i]) {
        return Status::InvalidArgument("ipc: offsets of field " + Quote(f.name) +
                                       " decrease at slot " + std::to_string(i));
      }
    }
    if (static_cast<int64_t>(offsets[length]) > limit) {
      return Status::InvalidArgument("ipc: offsets of field " + Quote(f.name) + " end at " +
                                     std::to_string(offsets[length]) + ", past the " +
                                     std::to_string(limit) + " values they index");
    }
    return Status::OK();
  }

  static bool IsValid(const ArrayData& d, int64_t i) {
    const auto* bits = static_cast<const uint8_t*>(d.buffers[0]);
    return bits == nullptr || GetBit(bits, i);
  }

  Status Views(const Field& f, ArrayData* d) {
    DUX_ASSIGN_OR_RETURN(Slice views, NextBuffer(f));
    int64_t need = 0;
    if (__builtin_mul_overflow(d->length, 16, &need)) {
      return Status::InvalidArgument("ipc: size overflow in field " + Quote(f.name));
    }
    DUX_RETURN_NOT_OK(NeedSize(f, views, need, "views"));
    Keep(d, views);
    int64_t n = batch_->variadic_buffer_counts()->Get(next_view_++);
    DUX_ASSIGN_OR_RETURN(std::shared_ptr<Buffer> sizes, Buffer::Allocate(n * 8));
    std::vector<int64_t> data_sizes;
    for (int64_t i = 0; i < n; ++i) {
      DUX_ASSIGN_OR_RETURN(Slice data, NextBuffer(f));
      Keep(d, data);
      data_sizes.push_back(data.size);
      std::memcpy(sizes->data() + i * 8, &data.size, 8);
    }
    for (int64_t i = 0; i < d->length; ++i) {
      if (!IsValid(*d, i)) continue;
      const uint8_t* view = views.data + i * 16;
      int32_t size, index, offset;
      std::memcpy(&size, view, 4);
      std::memcpy(&index, view + 8, 4);
      std::memcpy(&offset, view + 12, 4);
      if (size < 0) {
        return Status::InvalidArgument("ipc: negative view length in field " + Quote(f.name));
      }
      if (size <= 12) continue;
      if (index < 0 || index >= n || offset < 0 ||
          int64_t{offset} + size > data_sizes[static_cast<size_t>(index)]) {
        return Status::InvalidArgument("ipc: view " + std::to_string(i) + " of field " +
                                       Quote(f.name) + " points outside its data buffers");
      }
    }
    d->buffers.push_back(n > 0 ? sizes->data() : ZeroBytes());
    d->owners.push_back(std::move(sizes));
    return Status::OK();
  }

  Status Union(const Field& f, ArrayData* d) {
    int64_t length = d->length;
    d->null_count = 0;
    if (v4_unions_) DUX_RETURN_NOT_OK(NextBuffer(f).status());  // legacy validity, unused
    DUX_ASSIGN_OR_RETURN(Slice type_ids, NextBuffer(f));
    DUX_RETURN_NOT_OK(NeedSize(f, type_ids, length, "type ids"));
    Keep(d, type_ids);
    Slice offsets;
    int64_t need = 0;
    bool dense = f.layout == Layout::kDenseUnion;
    if (dense) {
      DUX_ASSIGN_OR_RETURN(offsets, NextBuffer(f));
      if (__builtin_mul_overflow(length, 4, &need)) {
        return Status::InvalidArgument("ipc: size overflow in field " + Quote(f.name));
      }
      DUX_RETURN_NOT_OK(NeedSize(f, offsets, need, "offsets"));
      Keep(d, offsets);
    }
    for (const Field& child_field : f.children) {
      DUX_ASSIGN_OR_RETURN(auto child, Array(child_field));
      if (!dense) DUX_RETURN_NOT_OK(ChildLength(f, *child, length));
      d->children.push_back(std::move(child));
    }
    std::array<int, 128> child_of{};
    child_of.fill(-1);
    for (size_t i = 0; i < f.type_ids.size(); ++i) child_of[f.type_ids[i]] = static_cast<int>(i);
    for (int64_t i = 0; i < length; ++i) {
      auto id = static_cast<int8_t>(type_ids.data[i]);
      if (id < 0 || child_of[id] < 0) {
        return Status::InvalidArgument("ipc: union type id " + std::to_string(id) +
                                       " is not declared by field " + Quote(f.name));
      }
      if (dense) {
        int32_t offset;
        std::memcpy(&offset, offsets.data + i * 4, 4);
        if (offset < 0 || offset >= d->children[static_cast<size_t>(child_of[id])]->length) {
          return Status::InvalidArgument("ipc: dense union offset " + std::to_string(offset) +
                                         " out of range in field " + Quote(f.name));
        }
      }
    }
    return Status::OK();
  }

  Status CheckIndices(const Field& f, const ArrayData& d) {
    const uint8_t* values = static_cast<const uint8_t*>(d.buffers[1]);
    auto size = static_cast<uint64_t>(d.dictionary->length);
    char c = f.dictionary->index_format[0];
    for (int64_t i = 0; i < d.length; ++i) {
      if (!IsValid(d, i)) continue;
      bool ok = true;
      uint64_t u = 0;
      switch (c) {
        case 'c': {
          int8_t v;
          std::memcpy(&v, values + i, 1);
          ok = v >= 0;
          u = static_cast<uint64_t>(static_cast<int64_t>(v));
          break;
        }
        case 'C': {
          uint8_t v;
          std::memcpy(&v, values + i, 1);
          u = v;
          break;
        }
        case 's': {
          int16_t v;
          std::memcpy(&v, values + i * 2, 2);
          ok = v >= 0;
          u = static_cast<uint64_t>(v);
          break;
        }
        case 'S': {
          uint16_t v;
          std::memcpy(&v, values + i * 2, 2);
          u = v;
          break;
        }
        case 'i': {
          int32_t v;
          std::memcpy(&v, values + i * 4, 4);
          ok = v >= 0;
          u = static_cast<uint64_t>(v);
          break;
        }
        case 'I': {
          uint32_t v;
          std::memcpy(&v, values + i * 4, 4);
          u = v;
          break;
        }
        case 'l': {
          int64_t v;
          std::memcpy(&v, values + i * 8, 8);
          ok = v >= 0;
          u = static_cast<uint64_t>(v);
          break;
        }
        default: {
          std::memcpy(&u, values + i * 8, 8);
          break;
        }
      }
      if (!ok || u >= size) {
        return Status::InvalidArgument("ipc: dictionary index out of range at slot " +
                                       std::to_string(i) + " of field " + Quote(f.name) +
                                       " (dictionary has " + std::to_string(size) + " values)");
      }
    }
    return Status::OK();
  }

  const fb::RecordBatch* batch_;
  std::shared_ptr<const Buffer> body_;
  const DictionaryMap& dictionaries_;
  const ReadLimits& limits_;
  bool v4_unions_;
  Compression codec_ = Compression::kNone;
  flatbuffers::uoffset_t next_node_ = 0;
  flatbuffers::uoffset_t next_buffer_ = 0;
  flatbuffers::uoffset_t next_view_ = 0;
  int64_t decompressed_ = 0;
};

}  // namespace

Result<std::shared_ptr<ArrayData>> DecodeRecordBatch(const std::vector<Field>& fields,
                                                     const fb::RecordBatch* batch,
                                                     const std::shared_ptr<const Buffer>& body,
                                                     const DictionaryMap& dictionaries,
                                                     const ReadLimits& limits, bool v4_unions) {
  if (batch == nullptr) return Status::InvalidArgument("ipc: message without a record batch");
  Decoder decoder(batch, body, dictionaries, limits, v4_unions);
  DUX_RETURN_NOT_OK(decoder.Init(fields));
  auto out = std::make_shared<ArrayData>();
  out->length = batch->length();
  out->buffers.push_back(nullptr);
  for (const Field& f : fields) {
    DUX_ASSIGN_OR_RETURN(auto column, decoder.Array(f));
    if (column->length != out->length) {
      return Status::InvalidArgument("ipc: column " + Quote(f.name) + " has " +
                                     std::to_string(column->length) +
                                     " rows, the record batch has " + std::to_string(out->length));
    }
    out->children.push_back(std::move(column));
  }
  DUX_RETURN_NOT_OK(decoder.Finish());
  return out;
}

}  // namespace dux::arrow_ipc::internal