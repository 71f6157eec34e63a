// The reader against hostile input: every truncation, random bit flips, and hand-made
// corruptions of lengths, offsets, counts and ids. Each must be an error or a valid result,
// never a crash or an out-of-bounds read (run under ASan+UBSan too).
#include "dux/arrow_ipc/ipc_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dux/arrow_ipc/array_builder_testing.h"
#include "dux/arrow_ipc/format/File_generated.h"
#include "dux/arrow_ipc/format/Message_generated.h"
#include "dux/arrow_ipc/ipc_writer.h"

namespace dux::arrow_ipc {
namespace {

namespace fb = flatbuf;
using std::nullopt;
using testing::TestArray;

TestArray RichBatch(const std::string& dictionary_value) {
  using testing::Primitive;
  std::vector<TestArray> columns;
  columns.push_back(Primitive<int32_t>("i", {1, nullopt, 3, 4}).Named("i"));
  columns.push_back(testing::Bools({true, nullopt, false, true}).Named("b"));
  columns.push_back(testing::Strings("u", {"x", "a longer string", nullopt, ""}).Named("s"));
  columns.push_back(
      testing::Views("vu", {"x", "a longer string here", nullopt, "another long one"}).Named("v"));
  std::vector<TestArray> fields;
  fields.push_back(Primitive<int64_t>("l", {1, nullopt, 3, 4, 5, 6}).Named("x"));
  fields.push_back(
      testing::List("+l", testing::Strings("u", {"a", "b", "c"}), {1, 0, nullopt, 2, 0, 0})
          .Named("y"));
  columns.push_back(
      testing::List("+l", testing::Struct(std::move(fields)), {2, nullopt, 1, 3}).Named("deep"));
  columns.push_back(testing::FixedSizeList(2, Primitive<int16_t>("s", {1, 2, 3, 4, 5, 6, 7, 8}),
                                           {true, false, true, true})
                        .Named("fsl"));
  std::vector<TestArray> dense;
  dense.push_back(Primitive<double>("g", {1.5, nullopt}).Named("d"));
  dense.push_back(testing::Bools({true, false}).Named("b"));
  columns.push_back(
      testing::DenseUnion({2, 5}, std::move(dense), {2, 5, 5, 2}, {0, 0, 1, 1}).Named("du"));
  std::vector<TestArray> sparse;
  sparse.push_back(Primitive<int8_t>("c", {1, 2, 3, 4}).Named("p"));
  columns.push_back(testing::SparseUnion({0}, std::move(sparse), {0, 0, 0, 0}).Named("su"));
  columns.push_back(testing::Dictionary(Primitive<int16_t>("s", {1, 0, nullopt, 1}),
                                        testing::Strings("u", {dictionary_value, "two"}))
                        .Named("dict"));
  return testing::Batch(std::move(columns));
}

std::string Write(const std::vector<TestArray>& batches, WriteOptions options = {}) {
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

// Reads everything; renders each batch (touching every value) and returns the first error.
Status ReadAll(const std::string& bytes, int* batches = nullptr, ReadLimits limits = {}) {
  StringInputStream in(bytes);
  DUX_ASSIGN_OR_RETURN(auto reader, Reader::Open(&in, limits));
  SchemaOwner schema;
  DUX_RETURN_NOT_OK(reader->ExportSchema(schema.out()));
  int n = 0;
  while (true) {
    ArrayOwner batch;
    DUX_ASSIGN_OR_RETURN(bool more, reader->Next(batch.out()));
    if (!more) break;
    ++n;
    std::string text = testing::RenderBatch(*schema.get(), *batch.get());
    if (text.size() == 1234567) return Status::Internal("unreachable");  // keep the read
  }
  if (batches != nullptr) *batches = n;
  return Status::OK();
}

// Message boundaries of a stream (offsets where a message or the EOS marker starts).
std::set<size_t> Boundaries(const std::string& bytes, size_t at) {
  std::set<size_t> out;
  while (at + 8 <= bytes.size()) {
    out.insert(at);
    uint32_t size;
    std::memcpy(&size, bytes.data() + at + 4, 4);
    if (size == 0) break;
    const fb::Message* m = fb::GetMessage(bytes.data() + at + 8);
    at += 8 + size + static_cast<size_t>(m->body_length());
  }
  out.insert(bytes.size());
  return out;
}

void ExpectError(const Status& st, const std::string& fragment) {
  EXPECT_FALSE(st.ok()) << "expected an error containing: " << fragment;
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
}

// Frames a finished flatbuffer Message and a body as one stream message.
std::string Frame(const flatbuffers::FlatBufferBuilder& b, const std::string& body) {
  std::string out("\xFF\xFF\xFF\xFF", 4);
  size_t size = b.GetSize();
  size_t padded = (size + 8 + 7) / 8 * 8 - 8;
  auto length = static_cast<int32_t>(padded);
  out.append(reinterpret_cast<const char*>(&length), 4);
  out.append(reinterpret_cast<const char*>(b.GetBufferPointer()), size);
  out.append(padded - size, '\0');
  return out + body;
}

// The schema message of `batch` (a stream with no batches, without its EOS).
std::string SchemaMessage(const TestArray& batch) {
  SchemaOwner schema;
  testing::ExportSchema(batch, schema.out());
  StringOutputStream out;
  auto writer = Writer::Open(&out, *schema.get());
  EXPECT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->Close().ok());
  return out.bytes().substr(0, out.bytes().size() - 8);
}

std::string RecordBatchMessage(int64_t length, const std::vector<fb::FieldNode>& nodes,
                               const std::vector<fb::Buffer>& buffers, const std::string& body,
                               int64_t body_length = -1, bool compressed = false,
                               const std::vector<int64_t>* variadic = nullptr,
                               int64_t dictionary_id = -1) {
  flatbuffers::FlatBufferBuilder b;
  auto n = b.CreateVectorOfStructs(nodes);
  auto bufs = b.CreateVectorOfStructs(buffers);
  flatbuffers::Offset<fb::BodyCompression> c = 0;
  if (compressed) c = fb::CreateBodyCompression(b, fb::CompressionType::ZSTD);
  flatbuffers::Offset<flatbuffers::Vector<int64_t>> v = 0;
  if (variadic != nullptr) v = b.CreateVector(*variadic);
  auto batch = fb::CreateRecordBatch(b, length, n, bufs, c, v);
  int64_t declared = body_length >= 0 ? body_length : static_cast<int64_t>(body.size());
  if (dictionary_id >= 0) {
    auto d = fb::CreateDictionaryBatch(b, dictionary_id, batch);
    b.Finish(fb::CreateMessage(b, fb::MetadataVersion::V5, fb::MessageHeader::DictionaryBatch,
                               d.Union(), declared));
  } else {
    b.Finish(fb::CreateMessage(b, fb::MetadataVersion::V5, fb::MessageHeader::RecordBatch,
                               batch.Union(), declared));
  }
  return Frame(b, body);
}

template <typename T>
std::string Raw(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  out.resize((out.size() + 7) / 8 * 8, '\0');
  return out;
}

TestArray OneColumn(TestArray column) {
  std::vector<TestArray> columns;
  columns.push_back(std::move(column).Named("c"));
  return testing::Batch(std::move(columns));
}

TEST(ReaderTest, ValidInputsRead) {
  int n = 0;
  ASSERT_TRUE(ReadAll(Write({RichBatch("one"), RichBatch("uno")}), &n).ok());
  EXPECT_EQ(n, 2);
  ASSERT_TRUE(ReadAll(Write({RichBatch("one")}, {Format::kFile, Compression::kLz4Frame}), &n).ok());
  EXPECT_EQ(n, 1);
}

TEST(ReaderTest, EveryTruncationOfAStreamIsAnErrorOrACleanEnd) {
  for (Compression c : {Compression::kNone, Compression::kLz4Frame, Compression::kZstd}) {
    std::string bytes = Write({RichBatch("one"), RichBatch("uno")}, {Format::kStream, c});
    std::set<size_t> boundaries = Boundaries(bytes, 0);
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      Status st = ReadAll(bytes.substr(0, cut));
      // Past the schema, a cut at a message boundary is a shorter stream; anywhere else the
      // input is damaged.
      bool boundary = boundaries.count(cut) > 0 && cut >= *std::next(boundaries.begin());
      if (boundary) {
        EXPECT_TRUE(st.ok()) << "cut " << cut << ": " << st.ToString();
      } else {
        EXPECT_FALSE(st.ok()) << "cut " << cut;
      }
    }
  }
}

TEST(ReaderTest, EveryTruncationOfAFileIsAnError) {
  std::string bytes = Write({RichBatch("one"), RichBatch("one")}, {Format::kFile});
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(ReadAll(bytes.substr(0, cut)).ok()) << "cut " << cut;
  }
}

TEST(ReaderTest, TruncatedBodyNamesBothLengths) {
  std::string bytes = Write({RichBatch("one")});
  std::set<size_t> b = Boundaries(bytes, 0);
  // The last message before the EOS is the record batch: cut 100 bytes into its body.
  size_t batch_start = *std::prev(std::prev(b.end()), 2);
  uint32_t size;
  std::memcpy(&size, bytes.data() + batch_start + 4, 4);
  const fb::Message* m = fb::GetMessage(bytes.data() + batch_start + 8);
  std::string cut = bytes.substr(0, batch_start + 8 + size + 100);
  ExpectError(ReadAll(cut), "ipc: truncated message body (expected " +
                                std::to_string(m->body_length()) + " bytes, got 100)");
  EXPECT_EQ(ReadAll(cut).code(), StatusCode::kDataLoss);
}

TEST(ReaderTest, RandomBitFlipsNeverCrash) {
  std::mt19937_64 rng(20240531);
  std::vector<std::string> inputs{
      Write({RichBatch("one"), RichBatch("uno")}),
      Write({RichBatch("one"), RichBatch("uno")}, {Format::kStream, Compression::kLz4Frame}),
      Write({RichBatch("one"), RichBatch("one")}, {Format::kFile, Compression::kZstd}),
  };
  int errors = 0, successes = 0;
  for (const std::string& input : inputs) {
    for (int round = 0; round < 1500; ++round) {
      std::string bytes = input;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        size_t at = rng() % bytes.size();
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
      }
      (ReadAll(bytes).ok() ? successes : errors)++;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(successes, 0);  // flips in values and padding are harmless
}

TEST(ReaderTest, EmptyAndNonArrowInput) {
  ExpectError(ReadAll(""), "ipc: empty input");
  EXPECT_FALSE(ReadAll("hello world, this is not arrow").ok());
  std::string garbage("\xFF\xFF\xFF\xFF\x10\0\0\0", 8);
  garbage += std::string(16, 'x');
  ExpectError(ReadAll(garbage), "not a valid flatbuffer Message");
}

TEST(ReaderTest, MetadataLengths) {
  ExpectError(ReadAll(std::string("\xFF\xFF\xFF\xFF\xF0\xFF\xFF\x7F", 8)), "exceeds the limit");
  ExpectError(ReadAll(std::string("\xFF\xFF\xFF\xFF\x00\x00\x00\x80", 8)),
              "negative message metadata length");
  ExpectError(ReadAll(std::string("\xFF\xFF\xFF\xFF\x00\x01\x00\x00", 8) + "abc"),
              "truncated message metadata (expected 256 bytes, got 3)");
  ReadLimits small;
  small.max_metadata_bytes = 16;
  ExpectError(ReadAll(Write({RichBatch("x")}), nullptr, small), "exceeds the limit of 16");
}

TEST(ReaderTest, HugeBodyLengthIsRejectedBeforeAllocation) {
  TestArray batch = OneColumn(testing::Primitive<int32_t>("i", {1, 2}));
  std::string bytes =
      SchemaMessage(batch) +
      RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 8}}, Raw<int32_t>({1, 2}), int64_t{1} << 60);
  ExpectError(ReadAll(bytes), "exceeds the limit");
  // Below the limit but far beyond the input: a truncation, not a giant allocation.
  bytes = SchemaMessage(batch) +
          RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 8}}, Raw<int32_t>({1, 2}), 4096);
  ExpectError(ReadAll(bytes), "ipc: truncated message body (expected 4096 bytes, got 8)");
}

TEST(ReaderTest, BufferOutsideTheBody) {
  TestArray batch = OneColumn(testing::Primitive<int32_t>("i", {1, 2}));
  std::string schema = SchemaMessage(batch);
  ExpectError(
      ReadAll(schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {8, 8}}, Raw<int32_t>({1, 2}))),
      "lies outside the message body");
  ExpectError(
      ReadAll(schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {-8, 8}}, Raw<int32_t>({1, 2}))),
      "lies outside the message body");
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, INT64_MAX}},
                                                  Raw<int32_t>({1, 2}))),
              "lies outside the message body");
  ExpectError(
      ReadAll(schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 4}}, Raw<int32_t>({1, 2}))),
      "values buffer of field \"c\" too short");
}

TEST(ReaderTest, NodeAndBufferCounts) {
  TestArray batch = OneColumn(testing::Primitive<int32_t>("i", {1, 2}));
  std::string schema = SchemaMessage(batch);
  std::string body = Raw<int32_t>({1, 2});
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}}, body)),
              "has 1 buffers, the schema needs 2");
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 8}, {0, 8}}, body)),
              "has 3 buffers, the schema needs 2");
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{2, 0}, {2, 0}}, {{0, 0}, {0, 8}}, body)),
              "has 2 field nodes, the schema needs 1");
  ExpectError(ReadAll(schema + RecordBatchMessage(3, {{3, 0}}, {{0, 0}, {0, 8}}, body)),
              "too short");
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{1, 0}}, {{0, 0}, {0, 8}}, body)),
              "has 1 rows, the record batch has 2");
}

TEST(ReaderTest, NodeLengthsAndNullCounts) {
  TestArray batch = OneColumn(testing::Primitive<int32_t>("i", {1, 2}));
  std::string schema = SchemaMessage(batch);
  std::string body = Raw<int32_t>({1, 2});
  ExpectError(ReadAll(schema + RecordBatchMessage(-1, {{-1, 0}}, {{0, 0}, {0, 8}}, body)),
              "negative record batch length");
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{-2, 0}}, {{0, 0}, {0, 8}}, body)),
              "negative length -2");
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{2, 3}}, {{0, 0}, {0, 8}}, body)),
              "null count 3 out of range");
  ExpectError(ReadAll(schema + RecordBatchMessage(2, {{2, 1}}, {{0, 0}, {0, 8}}, body)),
              "has 1 nulls but no validity bitmap");
  ExpectError(
      ReadAll(schema + RecordBatchMessage(INT64_MAX, {{INT64_MAX, 0}}, {{0, 0}, {0, 8}}, body)),
      "size overflow");
}

TEST(ReaderTest, Offsets) {
  TestArray batch = OneColumn(testing::Strings("u", {"ab", "c"}));
  std::string schema = SchemaMessage(batch);
  auto message = [&](const std::vector<int32_t>& offsets) {
    std::string body = Raw(offsets) + Raw<char>({'a', 'b', 'c'});
    return schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 12}, {16, 3}}, body);
  };
  EXPECT_TRUE(ReadAll(message({0, 2, 3})).ok());
  ExpectError(ReadAll(message({0, 2, 1})), "decrease at slot 1");
  ExpectError(ReadAll(message({0, 2, 4})), "end at 4, past the 3 values");
  ExpectError(ReadAll(message({-1, 2, 3})), "negative first offset");

  TestArray lists = OneColumn(testing::List("+l", testing::Primitive<int8_t>("c", {1, 2}), {1, 1}));
  std::string list_schema = SchemaMessage(lists);
  std::string body = Raw<int32_t>({0, 1, 5}) + Raw<int8_t>({1, 2});
  ExpectError(ReadAll(list_schema + RecordBatchMessage(2, {{2, 0}, {2, 0}},
                                                       {{0, 0}, {0, 12}, {0, 0}, {16, 2}}, body)),
              "end at 5, past the 2 values");
}

TEST(ReaderTest, FixedSizeListChildTooShort) {
  TestArray batch = OneColumn(
      testing::FixedSizeList(3, testing::Primitive<int8_t>("c", {1, 2, 3, 4, 5, 6}), {true, true}));
  std::string body = Raw<int8_t>({1, 2, 3, 4, 5});
  ExpectError(ReadAll(SchemaMessage(batch) +
                      RecordBatchMessage(2, {{2, 0}, {5, 0}}, {{0, 0}, {0, 0}, {0, 5}}, body)),
              "has only 5 child values");
}

TEST(ReaderTest, UnionTypeIdsAndOffsets) {
  std::vector<TestArray> children;
  children.push_back(testing::Primitive<int8_t>("c", {1, 2}).Named("a"));
  TestArray batch = OneColumn(testing::DenseUnion({4}, std::move(children), {4, 4}, {0, 1}));
  std::string schema = SchemaMessage(batch);
  auto message = [&](const std::vector<int8_t>& ids, const std::vector<int32_t>& offsets) {
    std::string body = Raw(ids) + Raw(offsets) + Raw<int8_t>({1, 2});
    return schema +
           RecordBatchMessage(2, {{2, 0}, {2, 0}}, {{0, 2}, {8, 8}, {0, 0}, {16, 2}}, body);
  };
  EXPECT_TRUE(ReadAll(message({4, 4}, {0, 1})).ok());
  ExpectError(ReadAll(message({4, 3}, {0, 1})), "union type id 3 is not declared");
  ExpectError(ReadAll(message({4, -1}, {0, 1})), "union type id -1 is not declared");
  ExpectError(ReadAll(message({4, 4}, {0, 2})), "dense union offset 2 out of range");
}

TEST(ReaderTest, Dictionaries) {
  TestArray batch = OneColumn(testing::Dictionary(testing::Primitive<int8_t>("c", {0, 1}),
                                                  testing::Strings("u", {"a", "b"})));
  std::string schema = SchemaMessage(batch);
  std::string dictionary_body = Raw<int32_t>({0, 1, 2}) + Raw<char>({'a', 'b'});
  std::string dictionary =
      RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 12}, {16, 2}}, dictionary_body, -1, false,
                         nullptr, /*dictionary_id=*/0);
  auto indices = [](const std::vector<int8_t>& values) {
    return RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 2}}, Raw(values));
  };
  EXPECT_TRUE(ReadAll(schema + dictionary + indices({1, 0})).ok());
  ExpectError(ReadAll(schema + indices({1, 0})), "no dictionary with id 0 precedes the batch");
  ExpectError(ReadAll(schema + dictionary + indices({1, 2})),
              "dictionary index out of range at slot 1");
  ExpectError(ReadAll(schema + dictionary + indices({-1, 0})),
              "dictionary index out of range at slot 0");
  std::string unknown = RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 12}, {16, 2}}, dictionary_body,
                                           -1, false, nullptr, 7);
  ExpectError(ReadAll(schema + unknown + indices({1, 0})), "dictionary batch for unknown id 7");
}

TEST(ReaderTest, Views) {
  TestArray batch = OneColumn(testing::Views("vu", {"short", "a long string value"}));
  std::string schema = SchemaMessage(batch);
  auto message = [&](int32_t length, int32_t index, int32_t offset, std::vector<int64_t> counts) {
    std::string views(32, '\0');
    int32_t five = 5;
    std::memcpy(views.data(), &five, 4);
    std::memcpy(views.data() + 16, &length, 4);
    std::memcpy(views.data() + 24, &index, 4);
    std::memcpy(views.data() + 28, &offset, 4);
    std::string data = Raw<char>(std::vector<char>(19, 'z'));
    std::vector<fb::Buffer> buffers{{0, 0}, {0, 32}};
    for (int64_t i = 0; i < counts[0]; ++i) buffers.emplace_back(32, 19);
    return schema + RecordBatchMessage(2, {{2, 0}}, buffers, views + data, -1, false, &counts);
  };
  EXPECT_TRUE(ReadAll(message(19, 0, 0, {1})).ok());
  ExpectError(ReadAll(message(19, 1, 0, {1})), "points outside its data buffers");
  ExpectError(ReadAll(message(19, 0, 1, {1})), "points outside its data buffers");
  ExpectError(ReadAll(message(-3, 0, 0, {1})), "negative view length");
  ExpectError(ReadAll(message(19, 0, 0, {-1})), "variadic buffer count -1 out of range");
}

TEST(ReaderTest, Compression) {
  TestArray batch = OneColumn(testing::Primitive<int32_t>("i", {1, 2}));
  std::string schema = SchemaMessage(batch);
  auto message = [&](int64_t declared, const std::string& payload) {
    std::string body(8, '\0');
    std::memcpy(body.data(), &declared, 8);
    body += payload;
    auto size = static_cast<int64_t>(body.size());
    body.resize((body.size() + 7) / 8 * 8, '\0');
    return schema + RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, size}}, body, -1, true);
  };
  std::string raw("\x01\0\0\0\x02\0\0\0", 8);
  EXPECT_TRUE(ReadAll(message(-1, raw)).ok());  // stored uncompressed
  ExpectError(ReadAll(message(-2, raw)), "negative uncompressed length -2");
  ExpectError(ReadAll(message(int64_t{1} << 50, raw)), "exceed the body limit");
  ExpectError(ReadAll(message(8, "definitely not zstd")), "corrupt zstd frame");
  // A real frame of 4000 bytes declared as 4008, then as 3992.
  TestArray big =
      OneColumn(testing::Primitive<int32_t>("i", std::vector<std::optional<int32_t>>(1000, 7)));
  std::string good = Write({big}, {Format::kStream, Compression::kZstd});
  EXPECT_TRUE(ReadAll(good).ok());
  size_t at = good.find(std::string("\xA0\x0F\0\0\0\0\0\0", 8), SchemaMessage(big).size());
  ASSERT_NE(at, std::string::npos);
  std::string bigger = good, smaller = good;
  bigger[at] = static_cast<char>(0xA8);
  smaller[at] = static_cast<char>(0x98);
  EXPECT_EQ(ReadAll(bigger).code(), StatusCode::kDataLoss);
  EXPECT_EQ(ReadAll(smaller).code(), StatusCode::kDataLoss);
}

TEST(ReaderTest, NestingDepthLimit) {
  TestArray column = testing::Primitive<int8_t>("c", {});
  for (int i = 0; i < 70; ++i) column = testing::List("+l", std::move(column), {});
  TestArray batch = OneColumn(std::move(column));
  SchemaOwner schema;
  testing::ExportSchema(batch, schema.out());
  StringOutputStream out;
  EXPECT_FALSE(Writer::Open(&out, *schema.get()).ok());  // the writer has the same limit
  // Build the schema message by hand, 200 levels deep.
  flatbuffers::FlatBufferBuilder b;
  auto type = fb::CreateInt(b, 8, true).Union();
  auto field = fb::CreateField(b, b.CreateString("leaf"), true, fb::Type::Int, type);
  for (int i = 0; i < 200; ++i) {
    std::vector<flatbuffers::Offset<fb::Field>> children{field};
    auto list = fb::CreateList(b).Union();
    field = fb::CreateField(b, b.CreateString("l"), true, fb::Type::List, list, 0,
                            b.CreateVector(children));
  }
  std::vector<flatbuffers::Offset<fb::Field>> fields{field};
  auto s = fb::CreateSchema(b, fb::Endianness::Little, b.CreateVector(fields));
  b.Finish(fb::CreateMessage(b, fb::MetadataVersion::V5, fb::MessageHeader::Schema, s.Union()));
  Status st = ReadAll(Frame(b, ""));
  EXPECT_FALSE(st.ok());
  ReadLimits deep;
  deep.max_nesting_depth = 300;
  Status deeper = ReadAll(Frame(b, ""), nullptr, deep);
  EXPECT_TRUE(deeper.ok()) << deeper.ToString();
  ExpectError(ReadAll(Frame(b, ""), nullptr, ReadLimits{150, 64 << 20, 1 << 20}),
              "nesting deeper than 150");
}

TEST(ReaderTest, SchemaRules) {
  // A record batch first.
  TestArray batch = OneColumn(testing::Primitive<int32_t>("i", {1, 2}));
  ExpectError(ReadAll(RecordBatchMessage(2, {{2, 0}}, {{0, 0}, {0, 8}}, Raw<int32_t>({1, 2}))),
              "does not start with a schema message");
  // A second schema.
  std::string schema = SchemaMessage(batch);
  ExpectError(ReadAll(schema + schema), "a second schema message");
  // Bad type parameters.
  auto one_field = [](fb::Type type,
                      flatbuffers::Offset<void> (*make)(flatbuffers::FlatBufferBuilder&)) {
    flatbuffers::FlatBufferBuilder b;
    auto t = make(b);
    std::vector<flatbuffers::Offset<fb::Field>> fields{
        fb::CreateField(b, b.CreateString("f"), true, type, t)};
    auto s = fb::CreateSchema(b, fb::Endianness::Little, b.CreateVector(fields));
    b.Finish(fb::CreateMessage(b, fb::MetadataVersion::V5, fb::MessageHeader::Schema, s.Union()));
    return Frame(b, "");
  };
  ExpectError(ReadAll(one_field(fb::Type::Decimal,
                                [](flatbuffers::FlatBufferBuilder& b) {
                                  return fb::CreateDecimal(b, 10, 2, 100).Union();
                                })),
              "unsupported decimal bit width 100");
  ExpectError(ReadAll(one_field(fb::Type::Int,
                                [](flatbuffers::FlatBufferBuilder& b) {
                                  return fb::CreateInt(b, 12, true).Union();
                                })),
              "unsupported integer bit width 12");
  ExpectError(ReadAll(one_field(fb::Type::Time,
                                [](flatbuffers::FlatBufferBuilder& b) {
                                  return fb::CreateTime(b, fb::TimeUnit::NANOSECOND, 32).Union();
                                })),
              "does not match its unit");
  ExpectError(ReadAll(one_field(fb::Type::FixedSizeBinary,
                                [](flatbuffers::FlatBufferBuilder& b) {
                                  return fb::CreateFixedSizeBinary(b, -4).Union();
                                })),
              "negative fixed-size binary width");
  ExpectError(ReadAll(one_field(
                  fb::Type::List,
                  [](flatbuffers::FlatBufferBuilder& b) { return fb::CreateList(b).Union(); })),
              "needs 1 children, has 0");
  ExpectError(ReadAll(one_field(fb::Type::RunEndEncoded,
                                [](flatbuffers::FlatBufferBuilder& b) {
                                  return fb::CreateRunEndEncoded(b).Union();
                                })),
              "unsupported type RunEndEncoded");
}

TEST(ReaderTest, FileFooterAndBlocks) {
  std::string bytes = Write({RichBatch("one")}, {Format::kFile});
  ASSERT_TRUE(ReadAll(bytes).ok());
  std::string bad_magic = bytes;
  bad_magic[bad_magic.size() - 1] = 'X';
  ExpectError(ReadAll(bad_magic), "does not end with the ARROW1 magic");
  std::string bad_length = bytes;
  int32_t huge = 1 << 30;
  std::memcpy(bad_length.data() + bad_length.size() - 10, &huge, 4);
  ExpectError(ReadAll(bad_length), "footer length 1073741824 out of range");
  int32_t negative = -5;
  std::memcpy(bad_length.data() + bad_length.size() - 10, &negative, 4);
  ExpectError(ReadAll(bad_length), "footer length -5 out of range");
  // Point the record batch block past the end of the file: the block's offset is the
  // little-endian position of the batch message, found in the footer.
  int32_t footer_size;
  std::memcpy(&footer_size, bytes.data() + bytes.size() - 10, 4);
  size_t footer_at = bytes.size() - 10 - static_cast<size_t>(footer_size);
  const auto* footer = flatbuffers::GetRoot<fb::Footer>(bytes.data() + footer_at);
  int64_t offset = footer->record_batches()->Get(0)->offset();
  std::string needle(reinterpret_cast<const char*>(&offset), 8);
  size_t at = bytes.rfind(needle);
  ASSERT_NE(at, std::string::npos);
  ASSERT_GT(at, footer_at);
  std::string moved = bytes;
  int64_t past = static_cast<int64_t>(bytes.size()) + 64;
  std::memcpy(moved.data() + at, &past, 8);
  ExpectError(ReadAll(moved), "lies outside the file");
  int64_t misplaced = offset + 8;
  std::memcpy(moved.data() + at, &misplaced, 8);
  EXPECT_FALSE(ReadAll(moved).ok());
}

TEST(ReaderTest, ErrorsAreSticky) {
  std::string bytes = Write({RichBatch("one"), RichBatch("two")});
  std::set<size_t> b = Boundaries(bytes, 0);
  std::string cut = bytes.substr(0, *std::prev(b.end(), 2) - 3);
  StringInputStream in(cut);
  auto reader = Reader::Open(&in);
  ASSERT_TRUE(reader.ok());
  ArrayOwner a;
  Status first;
  while (true) {
    auto more = (*reader)->Next(a.out());
    if (!more.ok()) {
      first = more.status();
      break;
    }
    ASSERT_TRUE(*more);
  }
  auto again = (*reader)->Next(a.out());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), first.message());
}

}  // namespace
}  // namespace dux::arrow_ipc
