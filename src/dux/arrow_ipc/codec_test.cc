// Round trips of every supported type through the writer and the reader, in both formats
// and with every compression.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "dux/arrow_ipc/array_builder_testing.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/arrow_ipc/ipc_writer.h"

namespace dux::arrow_ipc {
namespace {

using std::nullopt;
using testing::Batch;
using testing::TestArray;

std::string Bytes16(uint8_t seed) {
  std::string s(16, '\0');
  for (int i = 0; i < 16; ++i) s[i] = static_cast<char>(seed + i);
  return s;
}

// Writes `batches` (all with the schema of the first) and returns the encoded bytes.
std::string Encode(const std::vector<TestArray>& batches, const WriteOptions& options) {
  SchemaOwner schema;
  testing::ExportSchema(batches.at(0), schema.out());
  StringOutputStream out;
  auto writer = Writer::Open(&out, *schema.get(), options);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  if (!writer.ok()) return "";
  for (const TestArray& b : batches) {
    ArrayOwner array;
    testing::ExportArray(b, array.out());
    Status st = (*writer)->WriteBatch(*array.get());
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  Status st = (*writer)->Close();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ((*writer)->bytes_written(), static_cast<int64_t>(out.bytes().size()));
  return out.bytes();
}

// Decodes `bytes` and checks schema and every batch against `batches`.
void ExpectDecodesTo(const std::string& bytes, const std::vector<TestArray>& batches) {
  SchemaOwner schema;
  testing::ExportSchema(batches.at(0), schema.out());
  StringInputStream in(bytes);
  auto reader = Reader::Open(&in);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  SchemaOwner got_schema;
  ASSERT_TRUE((*reader)->ExportSchema(got_schema.out()).ok());
  EXPECT_EQ(testing::RenderSchema(*got_schema.get()), testing::RenderSchema(*schema.get()));
  for (const TestArray& b : batches) {
    ArrayOwner want, got;
    testing::ExportArray(b, want.out());
    auto more = (*reader)->Next(got.out());
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    ASSERT_TRUE(*more);
    EXPECT_EQ(got->length, want->length);
    EXPECT_EQ(testing::RenderBatch(*got_schema.get(), *got.get()),
              testing::RenderBatch(*schema.get(), *want.get()));
  }
  ArrayOwner end;
  auto more = (*reader)->Next(end.out());
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_FALSE(*more);
}

class CodecTest : public ::testing::TestWithParam<std::tuple<Format, Compression>> {
 protected:
  WriteOptions Options() const { return {std::get<0>(GetParam()), std::get<1>(GetParam())}; }
  void RoundTrip(const std::vector<TestArray>& batches) {
    ExpectDecodesTo(Encode(batches, Options()), batches);
  }
};

TestArray Primitives() {
  using testing::Primitive;
  std::vector<TestArray> columns;
  columns.push_back(Primitive<int8_t>("c", {1, nullopt, -3, 4, 5}).Named("i8"));
  columns.push_back(Primitive<uint8_t>("C", {1, 2, nullopt, 250, 5}).Named("u8"));
  columns.push_back(Primitive<int16_t>("s", {-1, 2, 3, nullopt, 5}).Named("i16"));
  columns.push_back(Primitive<uint16_t>("S", {1, 2, 3, 4, 65000}).Named("u16"));
  columns.push_back(Primitive<int32_t>("i", {nullopt, 2, 3, 4, -5}).Named("i32"));
  columns.push_back(Primitive<uint32_t>("I", {1, 2, 3, 4, 5}).Named("u32"));
  columns.push_back(Primitive<int64_t>("l", {1, 2, nullopt, nullopt, 1ll << 40}).Named("i64"));
  columns.push_back(Primitive<uint64_t>("L", {1, 2, 3, 4, ~0ull}).Named("u64"));
  columns.push_back(Primitive<uint16_t>("e", {0x3c00, nullopt, 0, 1, 2}).Named("f16"));
  columns.push_back(Primitive<float>("f", {1.5f, 2, 3, nullopt, 5}).Named("f32"));
  columns.push_back(Primitive<double>("g", {1.25, 2, 3, 4, nullopt}).Named("f64"));
  columns.push_back(testing::Bools({true, false, nullopt, true, false}).Named("bool"));
  columns.push_back(testing::Nulls(5).Named("null"));
  columns.push_back(Primitive<int32_t>("tdD", {19000, nullopt, 0, 1, 2}).Named("date32"));
  columns.push_back(Primitive<int64_t>("tdm", {86400000, 0, nullopt, 1, 2}).Named("date64"));
  columns.push_back(Primitive<int32_t>("tts", {1, 2, 3, 4, nullopt}).Named("time_s"));
  columns.push_back(Primitive<int32_t>("ttm", {1, 2, 3, 4, 5}).Named("time_ms"));
  columns.push_back(Primitive<int64_t>("ttu", {1, nullopt, 3, 4, 5}).Named("time_us"));
  columns.push_back(Primitive<int64_t>("ttn", {1, 2, 3, 4, 5}).Named("time_ns"));
  columns.push_back(Primitive<int64_t>("tss:", {1, 2, 3, nullopt, 5}).Named("ts_s"));
  columns.push_back(Primitive<int64_t>("tsm:UTC", {1, 2, 3, 4, 5}).Named("ts_ms"));
  columns.push_back(Primitive<int64_t>("tsu:Europe/Paris", {1, 2, nullopt, 4, 5}).Named("ts_us"));
  columns.push_back(Primitive<int64_t>("tsn:+07:30", {1, 2, 3, 4, 5}).Named("ts_ns"));
  columns.push_back(Primitive<int64_t>("tDs", {1, 2, 3, 4, 5}).Named("dur_s"));
  columns.push_back(Primitive<int64_t>("tDm", {1, nullopt, 3, 4, 5}).Named("dur_ms"));
  columns.push_back(Primitive<int64_t>("tDu", {1, 2, 3, 4, 5}).Named("dur_us"));
  columns.push_back(Primitive<int64_t>("tDn", {1, 2, 3, 4, -5}).Named("dur_ns"));
  columns.push_back(Primitive<int32_t>("tiM", {12, 2, nullopt, 4, 5}).Named("months"));
  columns.push_back(
      testing::FixedBytes("tiD", 8, {"abcdefgh", nullopt, "12345678", "aaaaaaaa", "bbbbbbbb"})
          .Named("day_time"));
  columns.push_back(
      testing::FixedBytes("tin", 16, {Bytes16(1), Bytes16(2), nullopt, Bytes16(4), Bytes16(5)})
          .Named("mdn"));
  columns.push_back(
      testing::FixedBytes("d:38,10", 16, {Bytes16(9), nullopt, Bytes16(3), Bytes16(4), Bytes16(7)})
          .Named("dec"));
  columns.push_back(testing::FixedBytes("d:76,-2,256", 32,
                                        {Bytes16(1) + Bytes16(2), nullopt, Bytes16(3) + Bytes16(4),
                                         Bytes16(5) + Bytes16(6), Bytes16(7) + Bytes16(8)})
                        .Named("dec256"));
  TestArray uuid =
      testing::FixedBytes("w:16", 16, {Bytes16(1), Bytes16(2), Bytes16(3), nullopt, Bytes16(5)})
          .Named("uuid");
  uuid.metadata = {{"ARROW:extension:name", "arrow.uuid"}, {"ARROW:extension:metadata", ""}};
  columns.push_back(std::move(uuid));
  TestArray not_null = Primitive<int32_t>("i", {1, 2, 3, 4, 5}).Named("required");
  not_null.flags = 0;
  columns.push_back(std::move(not_null));
  TestArray batch = Batch(std::move(columns));
  batch.metadata = {{"origin", "dux"}, {"empty", ""}};
  return batch;
}

TestArray VariableLength() {
  std::vector<std::optional<std::string>> values{
      "a", nullopt, "", "a longer value past twelve", "another long string value", "x"};
  std::vector<TestArray> columns;
  columns.push_back(testing::Strings("u", values).Named("utf8"));
  columns.push_back(testing::Strings("U", values).Named("large_utf8"));
  columns.push_back(testing::Strings("z", values).Named("binary"));
  columns.push_back(testing::Strings("Z", values).Named("large_binary"));
  columns.push_back(testing::Views("vu", values).Named("utf8_view"));
  columns.push_back(testing::Views("vz", values).Named("binary_view"));
  return Batch(std::move(columns));
}

TestArray Nested() {
  using testing::Primitive;
  std::vector<TestArray> columns;
  // list<int32>: [1, 2], null, [], [3]
  columns.push_back(
      testing::List("+l", Primitive<int32_t>("i", {1, 2, 3}), {2, nullopt, 0, 1}).Named("list"));
  columns.push_back(
      testing::List("+L", testing::Strings("u", {"a", nullopt, "c"}), {1, 1, nullopt, 1})
          .Named("large_list"));
  columns.push_back(testing::FixedSizeList(2,
                                           Primitive<int16_t>("s", {1, 2, 3, nullopt, 5, 6, 7, 8}),
                                           {true, false, true, true})
                        .Named("fixed_list"));
  std::vector<TestArray> fields;
  fields.push_back(Primitive<int64_t>("l", {1, nullopt, 3, 4}).Named("a"));
  fields.push_back(testing::Strings("u", {"w", "x", nullopt, "z"}).Named("b"));
  columns.push_back(testing::Struct(std::move(fields), {true, true, false, true}).Named("struct"));
  // map<utf8, int32>: {k1: 1, k2: null}, {}, null, {k3: 3}
  std::vector<TestArray> entry_fields;
  TestArray keys = testing::Strings("u", {"k1", "k2", "k3"}).Named("key");
  keys.flags = 0;
  entry_fields.push_back(std::move(keys));
  entry_fields.push_back(Primitive<int32_t>("i", {1, nullopt, 3}).Named("value"));
  TestArray entries = testing::Struct(std::move(entry_fields)).Named("entries");
  entries.flags = 0;
  TestArray map = testing::List("+m", std::move(entries), {2, 0, nullopt, 1}).Named("map");
  map.flags |= ARROW_FLAG_MAP_KEYS_SORTED;
  columns.push_back(std::move(map));
  // sparse union<i: int32 (id 3), s: utf8 (id 7)>
  std::vector<TestArray> sparse_children;
  sparse_children.push_back(Primitive<int32_t>("i", {1, 0, nullopt, 0}).Named("i"));
  sparse_children.push_back(testing::Strings("u", {"", "two", "", "four"}).Named("s"));
  columns.push_back(
      testing::SparseUnion({3, 7}, std::move(sparse_children), {3, 7, 3, 7}).Named("sparse"));
  std::vector<TestArray> dense_children;
  dense_children.push_back(Primitive<double>("g", {1.5, nullopt}).Named("d"));
  dense_children.push_back(testing::Bools({true, false}).Named("b"));
  columns.push_back(
      testing::DenseUnion({0, 1}, std::move(dense_children), {0, 1, 1, 0}, {0, 0, 1, 1})
          .Named("dense"));
  return Batch(std::move(columns));
}

// list<struct<x: int32, y: list<utf8>>>, three levels deep, with nulls at each level.
TestArray Deep() {
  using testing::Primitive;
  TestArray inner =
      testing::List("+l", testing::Strings("u", {"a", "b", nullopt, "d", "e"}), {2, nullopt, 0, 3})
          .Named("y");
  std::vector<TestArray> fields;
  fields.push_back(Primitive<int32_t>("i", {10, nullopt, 30, 40}).Named("x"));
  fields.push_back(std::move(inner));
  TestArray structs = testing::Struct(std::move(fields), {true, true, false, true}).Named("item");
  std::vector<TestArray> columns;
  columns.push_back(testing::List("+l", std::move(structs), {1, nullopt, 3, 0}).Named("deep"));
  return Batch(std::move(columns));
}

TestArray Dictionaries(const std::vector<std::optional<std::string>>& values) {
  using testing::Primitive;
  std::vector<TestArray> columns;
  columns.push_back(testing::Dictionary(Primitive<int8_t>("c", {0, 1, nullopt, 1, 0}),
                                        testing::Strings("u", values))
                        .Named("enum"));
  columns.push_back(testing::Dictionary(Primitive<uint32_t>("I", {2, 2, 1, 0, nullopt}),
                                        testing::Strings("u", values), true)
                        .Named("ordered"));
  // A dictionary-encoded field nested in a list.
  TestArray items =
      testing::Dictionary(Primitive<int16_t>("s", {0, 2, 1}), testing::Strings("u", values))
          .Named("item");
  columns.push_back(testing::List("+l", std::move(items), {1, 0, 2, nullopt, 0}).Named("tags"));
  return Batch(std::move(columns));
}

TEST_P(CodecTest, PrimitiveTypes) { RoundTrip({Primitives(), Primitives()}); }
TEST_P(CodecTest, VariableLengthTypes) { RoundTrip({VariableLength()}); }
TEST_P(CodecTest, NestedTypes) { RoundTrip({Nested()}); }
TEST_P(CodecTest, NestedThreeLevelsDeep) { RoundTrip({Deep(), Deep()}); }

TEST_P(CodecTest, SameDictionaryAcrossBatches) {
  auto batch = Dictionaries({"red", "green", nullopt});
  RoundTrip({batch, batch, batch});
}

TEST_P(CodecTest, EmptyBatch) {
  RoundTrip({testing::Slice(Primitives(), 0, 0), Primitives()});
  RoundTrip({testing::Slice(Nested(), 0, 0)});
  RoundTrip({testing::Slice(VariableLength(), 0, 0)});
}

TEST_P(CodecTest, ZeroColumns) {
  TestArray batch = Batch({});
  batch.length = 3;
  TestArray empty = Batch({});
  RoundTrip({batch, empty});
}

TEST_P(CodecTest, SlicedBatches) {
  // The batch's own offset, at bit offsets that are and are not multiples of 8.
  for (int64_t offset : {1, 2, 3}) {
    RoundTrip({testing::Slice(Primitives(), offset, 5 - offset)});
    RoundTrip({testing::Slice(VariableLength(), offset, 6 - offset)});
    RoundTrip({testing::Slice(Nested(), offset, 4 - offset)});
    RoundTrip({testing::Slice(Deep(), offset, 4 - offset)});
    RoundTrip({testing::Slice(Dictionaries({"a", "b", "c"}), offset, 5 - offset)});
  }
}

TEST_P(CodecTest, SlicedColumns) {
  // Each column sliced on its own, and slices inside nested children.
  std::vector<TestArray> columns;
  std::vector<std::optional<int32_t>> ints;
  ints.reserve(40);
  for (int i = 0; i < 40; ++i) ints.push_back(i % 3 == 0 ? std::nullopt : std::optional(i));
  columns.push_back(testing::Slice(testing::Primitive<int32_t>("i", ints), 13, 20).Named("a"));
  std::vector<std::optional<bool>> bools;
  bools.reserve(40);
  for (int i = 0; i < 40; ++i)
    bools.push_back(i % 5 == 0 ? std::nullopt : std::optional(i % 2 == 0));
  columns.push_back(testing::Slice(testing::Bools(bools), 11, 20).Named("b"));
  std::vector<std::optional<std::string>> strings;
  strings.reserve(40);
  for (int i = 0; i < 40; ++i) {
    strings.push_back(i % 4 == 0 ? std::nullopt : std::optional(std::string(i, 'q')));
  }
  columns.push_back(testing::Slice(testing::Strings("u", strings), 7, 20).Named("c"));
  columns.push_back(testing::Slice(testing::Views("vu", strings), 9, 20).Named("v"));
  TestArray child = testing::Slice(testing::Primitive<int32_t>("i", ints), 5, 30);
  std::vector<std::optional<int>> sizes(22, 1);
  sizes[3] = std::nullopt;
  columns.push_back(testing::Slice(testing::List("+l", std::move(child), sizes), 2, 20).Named("l"));
  std::vector<TestArray> fields;
  fields.push_back(testing::Slice(testing::Primitive<int32_t>("i", ints), 3, 30).Named("x"));
  std::vector<bool> valid(25, true);
  valid[4] = false;
  columns.push_back(testing::Slice(testing::Struct(std::move(fields), valid), 5, 20).Named("s"));
  RoundTrip({Batch(std::move(columns))});
}

TEST_P(CodecTest, ManyRows) {
  std::vector<std::optional<int64_t>> ints;
  std::vector<std::optional<std::string>> strings;
  for (int i = 0; i < 5000; ++i) {
    ints.push_back(i % 7 == 0 ? std::nullopt : std::optional<int64_t>(i * 3));
    strings.push_back(std::string("value ") + std::to_string(i % 10));
  }
  std::vector<TestArray> columns;
  columns.push_back(testing::Primitive<int64_t>("l", ints).Named("n"));
  columns.push_back(testing::Strings("u", strings).Named("s"));
  RoundTrip({Batch(std::move(columns))});
}

INSTANTIATE_TEST_SUITE_P(AllFormats, CodecTest,
                         ::testing::Combine(::testing::Values(Format::kStream, Format::kFile),
                                            ::testing::Values(Compression::kNone,
                                                              Compression::kLz4Frame,
                                                              Compression::kZstd)),
                         [](const auto& info) {
                           std::string name =
                               std::get<0>(info.param) == Format::kStream ? "Stream" : "File";
                           switch (std::get<1>(info.param)) {
                             case Compression::kNone:
                               return name + "Uncompressed";
                             case Compression::kLz4Frame:
                               return name + "Lz4";
                             case Compression::kZstd:
                               return name + "Zstd";
                           }
                           return name;
                         });

// Not parameterised: behaviour that differs between the formats.

TEST(CodecSingleTest, ChangedDictionaryIsReplacedInStreams) {
  auto first = Dictionaries({"red", "green", "blue"});
  auto second = Dictionaries({"cyan", "magenta", nullopt});
  std::vector<TestArray> batches{first, second, second, first};
  ExpectDecodesTo(Encode(batches, {Format::kStream, Compression::kNone}), batches);
  ExpectDecodesTo(Encode(batches, {Format::kStream, Compression::kZstd}), batches);
}

TEST(CodecSingleTest, ChangedDictionaryIsAnErrorInFiles) {
  auto first = Dictionaries({"red", "green", "blue"});
  auto second = Dictionaries({"cyan", "magenta", nullopt});
  SchemaOwner schema;
  testing::ExportSchema(first, schema.out());
  StringOutputStream out;
  auto writer = Writer::Open(&out, *schema.get(), {Format::kFile, Compression::kNone});
  ASSERT_TRUE(writer.ok());
  ArrayOwner a, b;
  testing::ExportArray(first, a.out());
  testing::ExportArray(second, b.out());
  ASSERT_TRUE((*writer)->WriteBatch(*a.get()).ok());
  Status st = (*writer)->WriteBatch(*b.get());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("cannot replace dictionaries"), std::string::npos) << st.message();
  // The writer is still usable and the file still valid.
  ASSERT_TRUE((*writer)->WriteBatch(*a.get()).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ExpectDecodesTo(out.bytes(), {first, first});
}

TEST(CodecSingleTest, DecimalWith128SpellingReadsBackCanonical) {
  std::vector<TestArray> columns;
  columns.push_back(testing::FixedBytes("d:5,2,128", 16, {Bytes16(1)}).Named("d"));
  std::string bytes = Encode({Batch(std::move(columns))}, {});
  StringInputStream in(bytes);
  auto reader = Reader::Open(&in);
  ASSERT_TRUE(reader.ok());
  SchemaOwner schema;
  ASSERT_TRUE((*reader)->ExportSchema(schema.out()).ok());
  EXPECT_STREQ(schema->children[0]->format, "d:5,2");
}

TEST(CodecSingleTest, FilesOnDisk) {
  std::string path = ::testing::TempDir() + "/dux_arrow_ipc_codec_test.arrow";
  std::vector<TestArray> batches{Primitives(), Nested()};
  for (const TestArray& batch : {Primitives(), Nested()}) {
    SchemaOwner schema;
    testing::ExportSchema(batch, schema.out());
    auto file = FileOutputStream::Open(path);
    ASSERT_TRUE(file.ok());
    auto writer = Writer::Open(file->get(), *schema.get(), {Format::kFile, Compression::kZstd});
    ASSERT_TRUE(writer.ok());
    ArrayOwner array;
    testing::ExportArray(batch, array.out());
    ASSERT_TRUE((*writer)->WriteBatch(*array.get()).ok());
    ASSERT_TRUE((*writer)->Close().ok());
    ASSERT_TRUE((*file)->Close().ok());

    auto in = FileInputStream::Open(path);
    ASSERT_TRUE(in.ok());
    auto reader = Reader::Open(in->get());
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    SchemaOwner got_schema;
    ASSERT_TRUE((*reader)->ExportSchema(got_schema.out()).ok());
    ArrayOwner got;
    auto more = (*reader)->Next(got.out());
    ASSERT_TRUE(more.ok() && *more);
    EXPECT_EQ(testing::RenderBatch(*got_schema.get(), *got.get()),
              testing::RenderBatch(*schema.get(), *array.get()));
  }
  std::remove(path.c_str());
}

TEST(CodecSingleTest, DecodedArraysOutliveTheReader) {
  std::string first = Encode({Primitives()}, {});
  std::string second = Encode({Dictionaries({"a", "b", "c"})}, {});
  for (const std::string* input : {&first, &second}) {
    ArrayOwner kept;
    SchemaOwner schema;
    {
      StringInputStream in(*input);
      auto reader = Reader::Open(&in);
      ASSERT_TRUE(reader.ok());
      ASSERT_TRUE((*reader)->ExportSchema(schema.out()).ok());
      auto more = (*reader)->Next(kept.out());
      ASSERT_TRUE(more.ok() && *more);
    }
    EXPECT_FALSE(testing::RenderBatch(*schema.get(), *kept.get()).empty());
  }
}

TEST(CodecSingleTest, AlignedFixedWidthBuffersAreAligned) {
  std::string bytes = Encode({Primitives()}, {});
  StringInputStream in(bytes);
  auto reader = Reader::Open(&in);
  ASSERT_TRUE(reader.ok());
  ArrayOwner batch;
  ASSERT_TRUE((*reader)->Next(batch.out()).ok());
  for (int64_t i = 0; i < batch->n_children; ++i) {
    const ArrowArray* column = batch->children[i];
    for (int64_t b = 0; b < column->n_buffers; ++b) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(column->buffers[b]) % 8, 0u) << i << "/" << b;
    }
  }
}

TEST(CodecSingleTest, WriterRejectsMismatchedBatch) {
  SchemaOwner schema;
  testing::ExportSchema(Primitives(), schema.out());
  StringOutputStream out;
  auto writer = Writer::Open(&out, *schema.get());
  ASSERT_TRUE(writer.ok());
  ArrayOwner other;
  testing::ExportArray(Nested(), other.out());
  EXPECT_EQ((*writer)->WriteBatch(*other.get()).code(), StatusCode::kInvalidArgument);
}

TEST(CodecSingleTest, WriterRejectsUnsupportedFormat) {
  std::vector<TestArray> columns;
  TestArray run_end;
  run_end.format = "+r";
  columns.push_back(std::move(run_end));
  SchemaOwner schema;
  testing::ExportSchema(Batch(std::move(columns)), schema.out());
  StringOutputStream out;
  auto writer = Writer::Open(&out, *schema.get());
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace dux::arrow_ipc
