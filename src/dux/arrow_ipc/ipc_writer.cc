// The IPC stream and file writers.
#include "dux/arrow_ipc/ipc_writer.h"

#include <map>
#include <string>
#include <vector>

#include "dux/arrow_ipc/batch_encoder_internal.h"
#include "dux/arrow_ipc/format/File_generated.h"
#include "dux/arrow_ipc/message_internal.h"
#include "dux/arrow_ipc/schema_codec_internal.h"

namespace dux::arrow_ipc {

namespace {

namespace fb = ::dux::arrow_ipc::flatbuf;
using internal::Body;
using internal::EncodedBatch;
using internal::Field;
using internal::Schema;

// Counts what passes through, for the file footer's block offsets.
class CountingOutput : public OutputStream {
 public:
  explicit CountingOutput(OutputStream* out) : out_(out) {}
  Status Write(const void* data, size_t size) override {
    DUX_RETURN_NOT_OK(out_->Write(data, size));
    count_ += static_cast<int64_t>(size);
    return Status::OK();
  }
  Status Flush() override { return out_->Flush(); }
  int64_t count() const { return count_; }

 private:
  OutputStream* out_;
  int64_t count_ = 0;
};

void IndexDictionaryFields(const std::vector<Field>& fields, std::map<int64_t, const Field*>* out) {
  for (const Field& f : fields) {
    if (f.dictionary) (*out)[f.dictionary->id] = &f;
    IndexDictionaryFields(f.children, out);
  }
}

class IpcWriter final : public Writer {
 public:
  IpcWriter(OutputStream* out, Schema schema, const WriteOptions& options)
      : out_(out), schema_(std::move(schema)), options_(options) {
    IndexDictionaryFields(schema_.fields, &dictionary_fields_);
  }

  Status Start() {
    if (options_.format == Format::kFile) {
      static const char kHeader[internal::kFileHeaderSize] = {'A', 'R', 'R', 'O', 'W', '1', 0, 0};
      DUX_RETURN_NOT_OK(out_.Write(kHeader, sizeof(kHeader)));
    }
    flatbuffers::FlatBufferBuilder builder;
    auto schema = internal::BuildSchema(&builder, schema_);
    builder.Finish(fb::CreateMessage(builder, fb::MetadataVersion::V5, fb::MessageHeader::Schema,
                                     schema.Union(), 0));
    int64_t metadata_length = 0, body_length = 0;
    return internal::WriteMessage(&out_, builder, {}, &metadata_length, &body_length);
  }

  Status WriteBatch(const ArrowArray& batch) override {
    if (closed_) return Status::FailedPrecondition("ipc: write to a closed writer");
    if (!output_error_.ok()) return output_error_;
    // Encode everything first so that a bad batch leaves the output untouched.
    std::map<int64_t, const ArrowArray*> dictionaries;
    DUX_RETURN_NOT_OK(internal::CollectDictionaries(schema_.fields, batch, &dictionaries));
    std::vector<std::pair<int64_t, EncodedBatch>> changed;
    std::vector<std::string> fingerprints;
    for (const auto& [id, values] : dictionaries) {
      const Field& field = *dictionary_fields_.at(id);
      EncodedBatch encoded;
      DUX_RETURN_NOT_OK(internal::EncodeDictionary(field, *values, &encoded));
      std::string fingerprint = internal::Fingerprint(encoded);
      auto seen = written_dictionaries_.find(id);
      if (seen != written_dictionaries_.end()) {
        if (seen->second == fingerprint) continue;
        if (options_.format == Format::kFile) {
          return Status::InvalidArgument("ipc: the dictionary of column \"" + field.name +
                                         "\" changed; the file format cannot replace "
                                         "dictionaries (use the stream format)");
        }
      }
      changed.emplace_back(id, std::move(encoded));
      fingerprints.push_back(std::move(fingerprint));
    }
    EncodedBatch encoded;
    DUX_RETURN_NOT_OK(internal::EncodeRecordBatch(schema_.fields, batch, &encoded));

    // From here on a failure leaves a partial message in the output: the writer refuses
    // further batches.
    for (size_t i = 0; i < changed.size(); ++i) {
      DUX_RETURN_NOT_OK(Sticky(WriteDictionary(changed[i].first, changed[i].second)));
      written_dictionaries_[changed[i].first] = std::move(fingerprints[i]);
    }
    DUX_RETURN_NOT_OK(Sticky(WriteRecordBatch(encoded)));
    rows_ += batch.length;
    return Status::OK();
  }

  Status Close() override {
    if (closed_) return Status::OK();
    closed_ = true;
    if (!output_error_.ok()) return output_error_;
    DUX_RETURN_NOT_OK(internal::WriteEndOfStream(&out_));
    if (options_.format == Format::kFile) {
      flatbuffers::FlatBufferBuilder builder;
      auto schema = internal::BuildSchema(&builder, schema_);
      auto dictionaries = builder.CreateVectorOfStructs(dictionary_blocks_);
      auto batches = builder.CreateVectorOfStructs(batch_blocks_);
      builder.Finish(
          fb::CreateFooter(builder, fb::MetadataVersion::V5, schema, dictionaries, batches));
      auto size = static_cast<int32_t>(builder.GetSize());
      DUX_RETURN_NOT_OK(out_.Write(builder.GetBufferPointer(), builder.GetSize()));
      DUX_RETURN_NOT_OK(out_.Write(&size, 4));
      DUX_RETURN_NOT_OK(out_.Write(internal::kFileMagic, internal::kFileMagicSize));
    }
    return out_.Flush();
  }

  int64_t bytes_written() const override { return out_.count(); }
  int64_t rows_written() const override { return rows_; }

 private:
  Status Sticky(Status status) {
    if (!status.ok()) output_error_ = status;
    return status;
  }

  Status WriteDictionary(int64_t id, const EncodedBatch& encoded) {
    Body body;
    DUX_RETURN_NOT_OK(internal::BuildBody(encoded, options_.compression, &body));
    flatbuffers::FlatBufferBuilder builder;
    auto batch = internal::BuildRecordBatch(&builder, encoded, body, options_.compression);
    auto dictionary = fb::CreateDictionaryBatch(builder, id, batch, false);
    return Emit(&builder, fb::MessageHeader::DictionaryBatch, dictionary.Union(), body,
                &dictionary_blocks_);
  }

  Status WriteRecordBatch(const EncodedBatch& encoded) {
    Body body;
    DUX_RETURN_NOT_OK(internal::BuildBody(encoded, options_.compression, &body));
    flatbuffers::FlatBufferBuilder builder;
    auto batch = internal::BuildRecordBatch(&builder, encoded, body, options_.compression);
    return Emit(&builder, fb::MessageHeader::RecordBatch, batch.Union(), body, &batch_blocks_);
  }

  Status Emit(flatbuffers::FlatBufferBuilder* builder, fb::MessageHeader type,
              flatbuffers::Offset<void> header, const Body& body, std::vector<fb::Block>* blocks) {
    int64_t body_length = 0;
    for (const auto& piece : body.pieces) body_length += internal::PadTo8(piece.size);
    builder->Finish(
        fb::CreateMessage(*builder, fb::MetadataVersion::V5, type, header, body_length));
    int64_t offset = out_.count();
    int64_t metadata_length = 0, written = 0;
    DUX_RETURN_NOT_OK(
        internal::WriteMessage(&out_, *builder, body.pieces, &metadata_length, &written));
    blocks->emplace_back(offset, static_cast<int32_t>(metadata_length), written);
    return Status::OK();
  }

  CountingOutput out_;
  Schema schema_;
  WriteOptions options_;
  std::map<int64_t, const Field*> dictionary_fields_;
  std::map<int64_t, std::string> written_dictionaries_;
  std::vector<fb::Block> dictionary_blocks_;
  std::vector<fb::Block> batch_blocks_;
  int64_t rows_ = 0;
  bool closed_ = false;
  Status output_error_;
};

}  // namespace

Result<std::unique_ptr<Writer>> Writer::Open(OutputStream* out, const ArrowSchema& schema,
                                             const WriteOptions& options) {
  if (out == nullptr) return Status::InvalidArgument("ipc: null output stream");
  DUX_ASSIGN_OR_RETURN(Schema imported,
                       internal::ImportSchema(schema, ReadLimits{}.max_nesting_depth));
  internal::AssignDictionaryIds(&imported);
  auto writer = std::make_unique<IpcWriter>(out, std::move(imported), options);
  DUX_RETURN_NOT_OK(writer->Start());
  return std::unique_ptr<Writer>(std::move(writer));
}

}  // namespace dux::arrow_ipc
