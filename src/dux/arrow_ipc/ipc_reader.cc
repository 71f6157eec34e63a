// The IPC stream and file readers.
#include "dux/arrow_ipc/ipc_reader.h"

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dux/arrow_ipc/batch_decoder_internal.h"
#include "dux/arrow_ipc/format/File_generated.h"
#include "dux/arrow_ipc/message_internal.h"
#include "dux/arrow_ipc/schema_codec_internal.h"

namespace dux::arrow_ipc {

namespace {

namespace fb = ::dux::arrow_ipc::flatbuf;
using internal::ArrayData;
using internal::ByteSource;
using internal::Field;
using internal::Message;
using internal::Schema;

Status CollectDictionaryFields(const std::vector<Field>& fields, std::map<int64_t, Field>* out) {
  for (const Field& f : fields) {
    if (f.dictionary) {
      Field values = f;
      values.dictionary.reset();
      if (!out->emplace(f.dictionary->id, std::move(values)).second) {
        return Status::InvalidArgument("ipc: dictionary id " + std::to_string(f.dictionary->id) +
                                       " is used by two fields");
      }
    }
    DUX_RETURN_NOT_OK(CollectDictionaryFields(f.children, out));
  }
  return Status::OK();
}

class IpcReader final : public Reader {
 public:
  IpcReader(InputStream* in, const ReadLimits& limits) : source_(in), limits_(limits) {}

  Status Start() {
    uint8_t head[internal::kFileHeaderSize];
    DUX_ASSIGN_OR_RETURN(int64_t n, source_.Read(head, sizeof(head)));
    if (n == 0) return Status::InvalidArgument("ipc: empty input");
    if (n >= internal::kFileMagicSize &&
        std::memcmp(head, internal::kFileMagic, internal::kFileMagicSize) == 0) {
      auto* random = dynamic_cast<RandomAccessInput*>(source_.input());
      if (random == nullptr) {
        return Status::FailedPrecondition("ipc: the file format needs a seekable input");
      }
      return StartFile(random);
    }
    source_.Unread(head, n);
    DUX_ASSIGN_OR_RETURN(std::optional<Message> message, internal::ReadMessage(&source_, limits_));
    if (!message || message->header->header_type() != fb::MessageHeader::Schema) {
      return Status::InvalidArgument("ipc: the stream does not start with a schema message");
    }
    return SetSchema(message->header->header_as_Schema());
  }

  Status ExportSchema(ArrowSchema* out) const override {
    if (out == nullptr) return Status::InvalidArgument("ipc: null ArrowSchema");
    internal::ExportSchema(schema_, out);
    return Status::OK();
  }

  Result<bool> Next(ArrowArray* out) override {
    if (out == nullptr) return Status::InvalidArgument("ipc: null ArrowArray");
    if (!error_.ok()) return error_;
    if (done_) return false;
    auto batch = is_file_ ? NextFromFile() : NextFromStream();
    if (!batch.ok()) {
      error_ = batch.status();
      return error_;
    }
    if (*batch == nullptr) {
      done_ = true;
      return false;
    }
    internal::ExportArray(std::move(batch).value(), out);
    return true;
  }

 private:
  Status SetSchema(const fb::Schema* schema) {
    DUX_ASSIGN_OR_RETURN(schema_, internal::ReadSchema(schema, limits_.max_nesting_depth));
    return CollectDictionaryFields(schema_.fields, &dictionary_fields_);
  }

  Status StartFile(RandomAccessInput* file) {
    is_file_ = true;
    DUX_ASSIGN_OR_RETURN(file_size_, file->Size());
    constexpr int64_t kTrailer = 4 + internal::kFileMagicSize;
    if (file_size_ < internal::kFileHeaderSize + kTrailer) {
      return {StatusCode::kDataLoss,
              "ipc: truncated file (" + std::to_string(file_size_) + " bytes)"};
    }
    DUX_RETURN_NOT_OK(source_.Seek(file_size_ - kTrailer));
    uint8_t trailer[kTrailer];
    DUX_ASSIGN_OR_RETURN(int64_t n, source_.Read(trailer, kTrailer));
    if (n != kTrailer) return {StatusCode::kDataLoss, "ipc: truncated file trailer"};
    if (std::memcmp(trailer + 4, internal::kFileMagic, internal::kFileMagicSize) != 0) {
      return Status::InvalidArgument("ipc: the file does not end with the ARROW1 magic");
    }
    int32_t footer_length;
    std::memcpy(&footer_length, trailer, 4);
    if (footer_length <= 0 || footer_length > file_size_ - internal::kFileHeaderSize - kTrailer ||
        footer_length > internal::MaxMetadataBytes(limits_)) {
      return Status::InvalidArgument("ipc: footer length " + std::to_string(footer_length) +
                                     " out of range for a file of " + std::to_string(file_size_) +
                                     " bytes");
    }
    DUX_RETURN_NOT_OK(source_.Seek(file_size_ - kTrailer - footer_length));
    DUX_ASSIGN_OR_RETURN(footer_, source_.ReadExactly(footer_length, "file footer"));
    if (!internal::VerifyFlatbuffer<fb::Footer>(footer_->data(), footer_length, limits_)) {
      return Status::InvalidArgument("ipc: the file footer is not a valid flatbuffer Footer");
    }
    const fb::Footer* footer = fb::GetFooter(footer_->data());
    if (!internal::StructsAligned(footer->dictionaries()) ||
        !internal::StructsAligned(footer->record_batches())) {
      return Status::InvalidArgument("ipc: the file footer's blocks are misaligned");
    }
    DUX_RETURN_NOT_OK(SetSchema(footer->schema()));
    if (footer->dictionaries() != nullptr) {
      for (const fb::Block* block : *footer->dictionaries()) {
        DUX_ASSIGN_OR_RETURN(Message message, ReadBlock(*block));
        if (message.header->header_type() != fb::MessageHeader::DictionaryBatch) {
          return Status::InvalidArgument("ipc: a dictionary block holds no dictionary batch");
        }
        DUX_RETURN_NOT_OK(ReadDictionary(message));
      }
    }
    if (footer->record_batches() != nullptr) {
      for (const fb::Block* block : *footer->record_batches()) batch_blocks_.push_back(*block);
    }
    return Status::OK();
  }

  Result<Message> ReadBlock(const fb::Block& block) {
    int64_t offset = block.offset(), body = block.body_length();
    int64_t metadata = block.meta_data_length();
    if (offset < internal::kFileHeaderSize || offset >= file_size_ || metadata <= 0 || body < 0 ||
        metadata > file_size_ - offset || body > file_size_ - offset - metadata) {
      return Status::InvalidArgument("ipc: file block (offset " + std::to_string(offset) +
                                     ", metadata " + std::to_string(metadata) + ", body " +
                                     std::to_string(body) + ") lies outside the file of " +
                                     std::to_string(file_size_) + " bytes");
    }
    DUX_RETURN_NOT_OK(source_.Seek(offset));
    DUX_ASSIGN_OR_RETURN(std::optional<Message> message, internal::ReadMessage(&source_, limits_));
    if (!message) {
      return Status::InvalidArgument("ipc: no message at file offset " + std::to_string(offset));
    }
    if (message->body->size() != body) {
      return Status::InvalidArgument("ipc: file block body length " + std::to_string(body) +
                                     " disagrees with its message (" +
                                     std::to_string(message->body->size()) + ")");
    }
    return std::move(*message);
  }

  Status ReadDictionary(const Message& message) {
    const fb::DictionaryBatch* batch = message.header->header_as_DictionaryBatch();
    if (batch == nullptr) return Status::InvalidArgument("ipc: empty dictionary batch message");
    auto field = dictionary_fields_.find(batch->id());
    if (field == dictionary_fields_.end()) {
      return Status::InvalidArgument("ipc: dictionary batch for unknown id " +
                                     std::to_string(batch->id()));
    }
    if (batch->is_delta()) {
      return Status::Unimplemented("ipc: dictionary deltas are not supported (id " +
                                   std::to_string(batch->id()) + ")");
    }
    if (is_file_ && dictionaries_.count(batch->id()) > 0) {
      return Status::InvalidArgument("ipc: the file replaces dictionary " +
                                     std::to_string(batch->id()) +
                                     ", which the file format does not allow");
    }
    DUX_ASSIGN_OR_RETURN(auto values,
                         internal::DecodeRecordBatch({field->second}, batch->data(), message.body,
                                                     dictionaries_, limits_, IsV4(message)));
    dictionaries_[batch->id()] = values->children[0];
    return Status::OK();
  }

  static bool IsV4(const Message& message) {
    return message.header->version() == fb::MetadataVersion::V4;
  }

  Result<std::shared_ptr<const ArrayData>> DecodeBatch(const Message& message) {
    DUX_ASSIGN_OR_RETURN(auto batch, internal::DecodeRecordBatch(
                                         schema_.fields, message.header->header_as_RecordBatch(),
                                         message.body, dictionaries_, limits_, IsV4(message)));
    return std::shared_ptr<const ArrayData>(std::move(batch));
  }

  // The next batch, or null at the end.
  Result<std::shared_ptr<const ArrayData>> NextFromStream() {
    while (true) {
      DUX_ASSIGN_OR_RETURN(std::optional<Message> message,
                           internal::ReadMessage(&source_, limits_));
      if (!message) return std::shared_ptr<const ArrayData>();
      switch (message->header->header_type()) {
        case fb::MessageHeader::DictionaryBatch:
          DUX_RETURN_NOT_OK(ReadDictionary(*message));
          continue;
        case fb::MessageHeader::RecordBatch:
          return DecodeBatch(*message);
        case fb::MessageHeader::Schema:
          return Status::InvalidArgument("ipc: a second schema message in the stream");
        default:
          return Status::Unimplemented(
              "ipc: unsupported message type " +
              std::string(fb::EnumNameMessageHeader(message->header->header_type())));
      }
    }
  }

  Result<std::shared_ptr<const ArrayData>> NextFromFile() {
    if (next_block_ >= batch_blocks_.size()) return std::shared_ptr<const ArrayData>();
    DUX_ASSIGN_OR_RETURN(Message message, ReadBlock(batch_blocks_[next_block_++]));
    if (message.header->header_type() != fb::MessageHeader::RecordBatch) {
      return Status::InvalidArgument("ipc: a record batch block holds no record batch");
    }
    return DecodeBatch(message);
  }

  ByteSource source_;
  ReadLimits limits_;
  Schema schema_;
  std::map<int64_t, Field> dictionary_fields_;
  internal::DictionaryMap dictionaries_;
  bool is_file_ = false;
  int64_t file_size_ = 0;
  std::unique_ptr<internal::Buffer> footer_;
  std::vector<fb::Block> batch_blocks_;
  size_t next_block_ = 0;
  bool done_ = false;
  Status error_;
};

}  // namespace

Result<std::unique_ptr<Reader>> Reader::Open(InputStream* in, const ReadLimits& limits) {
  if (in == nullptr) return Status::InvalidArgument("ipc: null input stream");
  auto reader = std::make_unique<IpcReader>(in, limits);
  DUX_RETURN_NOT_OK(reader->Start());
  return std::unique_ptr<Reader>(std::move(reader));
}

}  // namespace dux::arrow_ipc
