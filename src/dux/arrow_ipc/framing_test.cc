// Byte-level checks of what the writer produces: continuation markers, 8-byte alignment of
// messages, bodies and buffers, the end-of-stream marker, the file magic and footer, and the
// legacy framing the reader also accepts.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "dux/arrow_ipc/array_builder_testing.h"
#include "dux/arrow_ipc/format/File_generated.h"
#include "dux/arrow_ipc/format/Message_generated.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/arrow_ipc/ipc_writer.h"

namespace dux::arrow_ipc {
namespace {

namespace fb = flatbuf;
using std::nullopt;
using testing::TestArray;

TestArray SampleBatch(const std::string& dictionary_value) {
  std::vector<TestArray> columns;
  columns.push_back(testing::Primitive<int32_t>("i", {1, nullopt, 3}).Named("a"));
  columns.push_back(testing::Strings("u", {"x", "yy", nullopt}).Named("b"));
  columns.push_back(testing::Dictionary(testing::Primitive<int32_t>("i", {0, 1, 0}),
                                        testing::Strings("u", {dictionary_value, "other"}))
                        .Named("c"));
  return testing::Batch(std::move(columns));
}

std::string Write(const std::vector<TestArray>& batches, WriteOptions options) {
  SchemaOwner schema;
  testing::ExportSchema(batches[0], schema.out());
  StringOutputStream out;
  auto writer = Writer::Open(&out, *schema.get(), options);
  EXPECT_TRUE(writer.ok());
  for (const auto& b : batches) {
    ArrayOwner array;
    testing::ExportArray(b, array.out());
    EXPECT_TRUE((*writer)->WriteBatch(*array.get()).ok());
  }
  EXPECT_TRUE((*writer)->Close().ok());
  return out.bytes();
}

uint32_t U32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

struct Framed {
  size_t offset;           // of the continuation marker
  uint32_t metadata_size;  // flatbuffer plus padding
  fb::MessageHeader type;
  int64_t body_length;
  std::vector<std::pair<int64_t, int64_t>> buffers;
};

// Walks the messages from `at` up to the end-of-stream marker; sets *end past it.
std::vector<Framed> Walk(const std::string& bytes, size_t at, size_t* end) {
  std::vector<Framed> out;
  while (true) {
    EXPECT_EQ(U32(bytes, at), 0xFFFFFFFFu) << "at " << at;
    uint32_t size = U32(bytes, at + 4);
    if (size == 0) {
      *end = at + 8;
      return out;
    }
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data() + at + 8);
    flatbuffers::Verifier verifier(data, size);
    EXPECT_TRUE(fb::VerifyMessageBuffer(verifier));
    const fb::Message* message = fb::GetMessage(data);
    Framed f{at, size, message->header_type(), message->body_length(), {}};
    EXPECT_EQ(message->version(), fb::MetadataVersion::V5);
    const fb::RecordBatch* batch = message->header_as_RecordBatch();
    if (message->header_as_DictionaryBatch()) batch = message->header_as_DictionaryBatch()->data();
    if (batch != nullptr) {
      for (const fb::Buffer* b : *batch->buffers())
        f.buffers.emplace_back(b->offset(), b->length());
    }
    out.push_back(f);
    at += 8 + size + static_cast<size_t>(f.body_length);
  }
}

TEST(FramingTest, StreamMessagesAreAlignedAndEndWithTheMarker) {
  std::string bytes = Write({SampleBatch("red"), SampleBatch("red")}, {});
  size_t end = 0;
  auto messages = Walk(bytes, 0, &end);
  EXPECT_EQ(end, bytes.size());
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0].type, fb::MessageHeader::Schema);
  EXPECT_EQ(messages[0].body_length, 0);
  EXPECT_EQ(messages[1].type, fb::MessageHeader::DictionaryBatch);
  EXPECT_EQ(messages[2].type, fb::MessageHeader::RecordBatch);
  EXPECT_EQ(messages[3].type, fb::MessageHeader::RecordBatch);  // same dictionary: not resent
  for (const Framed& m : messages) {
    EXPECT_EQ(m.offset % 8, 0u);
    EXPECT_EQ((8 + m.metadata_size) % 8, 0u);
    EXPECT_EQ(m.body_length % 8, 0);
    for (auto [offset, length] : m.buffers) {
      EXPECT_EQ(offset % 8, 0);
      EXPECT_LE(offset + length, m.body_length);
    }
  }
  EXPECT_EQ(bytes.substr(bytes.size() - 8), std::string("\xFF\xFF\xFF\xFF\0\0\0\0", 8));
}

TEST(FramingTest, ChangedDictionaryIsResentBeforeItsBatch) {
  std::string bytes = Write({SampleBatch("red"), SampleBatch("blue"), SampleBatch("blue")}, {});
  size_t end = 0;
  auto messages = Walk(bytes, 0, &end);
  std::vector<fb::MessageHeader> types;
  types.reserve(messages.size());
  for (const auto& m : messages) types.push_back(m.type);
  EXPECT_EQ(types, (std::vector<fb::MessageHeader>{
                       fb::MessageHeader::Schema, fb::MessageHeader::DictionaryBatch,
                       fb::MessageHeader::RecordBatch, fb::MessageHeader::DictionaryBatch,
                       fb::MessageHeader::RecordBatch, fb::MessageHeader::RecordBatch}));
}

TEST(FramingTest, FileHasMagicStreamFooterAndTrailer) {
  std::string bytes = Write({SampleBatch("red"), SampleBatch("red")}, {Format::kFile});
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("ARROW1\0\0", 8));
  EXPECT_EQ(bytes.substr(bytes.size() - 6), "ARROW1");
  size_t end = 0;
  auto messages = Walk(bytes, 8, &end);
  ASSERT_EQ(messages.size(), 4u);
  int32_t footer_size;
  std::memcpy(&footer_size, bytes.data() + bytes.size() - 10, 4);
  EXPECT_EQ(end + static_cast<size_t>(footer_size) + 10, bytes.size());
  const auto* footer_data = reinterpret_cast<const uint8_t*>(bytes.data() + end);
  flatbuffers::Verifier verifier(footer_data, static_cast<size_t>(footer_size));
  ASSERT_TRUE(fb::VerifyFooterBuffer(verifier));
  const fb::Footer* footer = fb::GetFooter(footer_data);
  ASSERT_NE(footer->schema(), nullptr);
  EXPECT_EQ(footer->schema()->fields()->size(), 3u);
  ASSERT_EQ(footer->dictionaries()->size(), 1u);
  ASSERT_EQ(footer->record_batches()->size(), 2u);
  const fb::Block* dictionary = footer->dictionaries()->Get(0);
  EXPECT_EQ(static_cast<size_t>(dictionary->offset()), messages[1].offset);
  EXPECT_EQ(dictionary->meta_data_length(), static_cast<int32_t>(8 + messages[1].metadata_size));
  EXPECT_EQ(dictionary->body_length(), messages[1].body_length);
  for (int i = 0; i < 2; ++i) {
    const fb::Block* block = footer->record_batches()->Get(i);
    EXPECT_EQ(static_cast<size_t>(block->offset()), messages[2 + i].offset);
    EXPECT_EQ(block->offset() % 8, 0);
    EXPECT_EQ(block->body_length(), messages[2 + i].body_length);
  }
}

TEST(FramingTest, CompressedBuffersCarryTheirLength) {
  std::vector<std::optional<int64_t>> values(1000, 42);
  std::vector<TestArray> columns;
  columns.push_back(testing::Primitive<int64_t>("l", values).Named("n"));
  std::string bytes =
      Write({testing::Batch(std::move(columns))}, {Format::kStream, Compression::kZstd});
  size_t end = 0;
  auto messages = Walk(bytes, 0, &end);
  ASSERT_EQ(messages.size(), 2u);
  const Framed& batch = messages[1];
  ASSERT_EQ(batch.buffers.size(), 2u);
  EXPECT_EQ(batch.buffers[0].second, 0);  // no nulls: no bitmap, and no length prefix either
  size_t body = batch.offset + 8 + batch.metadata_size;
  int64_t raw;
  std::memcpy(&raw, bytes.data() + body + batch.buffers[1].first, 8);
  EXPECT_EQ(raw, 8000);
  EXPECT_LT(batch.buffers[1].second, 8000);
}

// The pre-1.0 framing: int32 length without the continuation marker, and a 4-byte EOS.
TEST(FramingTest, ReaderAcceptsLegacyFraming) {
  std::vector<TestArray> batches{SampleBatch("red"), SampleBatch("red")};
  std::string bytes = Write(batches, {});
  size_t end = 0;
  auto messages = Walk(bytes, 0, &end);
  std::string legacy;
  for (const Framed& m : messages) {
    legacy += bytes.substr(m.offset + 4, 4 + m.metadata_size + m.body_length);
  }
  legacy += std::string(4, '\0');
  StringInputStream in(legacy);
  auto reader = Reader::Open(&in);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  SchemaOwner schema;
  ASSERT_TRUE((*reader)->ExportSchema(schema.out()).ok());
  for (const auto& b : batches) {
    ArrayOwner got, want;
    testing::ExportArray(b, want.out());
    auto more = (*reader)->Next(got.out());
    ASSERT_TRUE(more.ok() && *more) << more.status().ToString();
    EXPECT_EQ(testing::RenderBatch(*schema.get(), *got.get()),
              testing::RenderBatch(*schema.get(), *want.get()));
  }
  ArrayOwner none;
  EXPECT_FALSE(*(*reader)->Next(none.out()));
}

TEST(FramingTest, StreamWithoutEndMarkerEndsCleanly) {
  std::string bytes = Write({SampleBatch("red")}, {});
  bytes.resize(bytes.size() - 8);
  StringInputStream in(bytes);
  auto reader = Reader::Open(&in);
  ASSERT_TRUE(reader.ok());
  ArrayOwner a, b;
  EXPECT_TRUE(*(*reader)->Next(a.out()));
  auto more = (*reader)->Next(b.out());
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
}

TEST(FramingTest, ReaderReadsTheFileFormatFromAPlainStreamOnlyWhenSeekable) {
  std::string bytes = Write({SampleBatch("red")}, {Format::kFile});
  // A non-seekable wrapper around the same bytes.
  class Plain : public InputStream {
   public:
    explicit Plain(const std::string& s) : in_(s) {}
    Result<size_t> Read(void* data, size_t size) override { return in_.Read(data, size); }

   private:
    StringInputStream in_;
  } plain(bytes);
  auto reader = Reader::Open(&plain);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dux::arrow_ipc
