// Writes the seed corpus of ipc_reader_fuzzer: valid IPC streams and files of every type the
// codec handles (nested, dictionaries, sliced, empty, zero columns), in both formats and with
// every compression, one file per input. Usage: ipc_make_seed_corpus OUT_DIR
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dux/arrow_ipc/array_builder_testing.h"
#include "dux/arrow_ipc/ipc_writer.h"

namespace dux::arrow_ipc::fuzz {
namespace {

using std::nullopt;
using testing::Batch;
using testing::Primitive;
using testing::TestArray;

std::string Bytes16(uint8_t seed) {
  std::string s(16, '\0');
  for (int i = 0; i < 16; ++i) s[i] = static_cast<char>(seed + i);
  return s;
}

TestArray Primitives() {
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
  columns.push_back(
      testing::FixedBytes("d:9,2,32", 4, {"abcd", "efgh", nullopt, "ijkl", "mnop"}).Named("dec32"));
  columns.push_back(
      testing::FixedBytes("d:18,3,64", 8, {"abcdefgh", nullopt, "12345678", "aaaaaaaa", "bbbbbbbb"})
          .Named("dec64"));
  columns.push_back(testing::FixedBytes("d:76,-2,256", 32,
                                        {Bytes16(1) + Bytes16(2), nullopt, Bytes16(3) + Bytes16(4),
                                         Bytes16(5) + Bytes16(6), Bytes16(7) + Bytes16(8)})
                        .Named("dec256"));
  TestArray uuid =
      testing::FixedBytes("w:16", 16, {Bytes16(1), Bytes16(2), Bytes16(3), nullopt, Bytes16(5)})
          .Named("uuid");
  uuid.metadata = {{"ARROW:extension:name", "arrow.uuid"}, {"ARROW:extension:metadata", ""}};
  columns.push_back(std::move(uuid));
  // By hand: FixedBytes would memcpy to the null data() of an empty vector.
  TestArray zero_width;
  zero_width.format = "w:0";
  zero_width.length = 5;
  zero_width.null_count = 1;
  zero_width.buffers = {testing::Bitmap({true, true, false, true, true}), std::vector<uint8_t>()};
  columns.push_back(std::move(zero_width).Named("w0"));
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
  std::vector<TestArray> columns;
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
  std::vector<TestArray> sparse_children;
  sparse_children.push_back(Primitive<int32_t>("i", {1, 0, nullopt, 0}).Named("i"));
  sparse_children.push_back(testing::Strings("u", {"", "two", "", "four"}).Named("s"));
  columns.push_back(
      testing::SparseUnion({3, 7}, std::move(sparse_children), {3, 7, 3, 7}).Named("sparse"));
  std::vector<TestArray> dense_children;
  dense_children.push_back(Primitive<double>("g", {1.5, nullopt}).Named("d"));
  dense_children.push_back(testing::Bools({true, false}).Named("b"));
  dense_children.push_back(testing::List("+l", Primitive<int8_t>("c", {1, 2, 3}), {3}).Named("l"));
  columns.push_back(
      testing::DenseUnion({0, 1, 5}, std::move(dense_children), {0, 1, 5, 0}, {0, 0, 0, 1})
          .Named("dense"));
  std::vector<TestArray> empty_fields;
  columns.push_back(
      testing::Struct(std::move(empty_fields), {true, false, true, true}).Named("empty_struct"));
  columns.push_back(
      testing::FixedSizeList(0, Primitive<int32_t>("i", {}), {true, true, false, true})
          .Named("fsl0"));
  return Batch(std::move(columns));
}

// list<struct<x: int32, y: list<utf8>>>, three levels deep, with nulls at each level.
TestArray Deep() {
  TestArray inner =
      testing::List("+l", testing::Strings("u", {"a", "b", nullopt, "d", "e"}), {2, nullopt, 0, 3})
          .Named("y");
  std::vector<TestArray> fields;
  fields.push_back(Primitive<int32_t>("i", {10, nullopt, 30, 40}).Named("x"));
  fields.push_back(std::move(inner));
  TestArray structs = testing::Struct(std::move(fields), {true, true, false, true}).Named("item");
  std::vector<TestArray> columns;
  columns.push_back(testing::List("+l", std::move(structs), {1, nullopt, 3, 0}).Named("deep"));
  TestArray lists = testing::List("+L", Primitive<int64_t>("l", {1, 2, 3, 4}), {2, 2});
  TestArray fixed = testing::FixedSizeList(1, std::move(lists), {true, false}).Named("inner");
  columns.push_back(testing::List("+l", std::move(fixed), {1, 0, 1, nullopt}).Named("nest"));
  return Batch(std::move(columns));
}

TestArray Dictionaries(const std::vector<std::optional<std::string>>& values) {
  std::vector<TestArray> columns;
  columns.push_back(testing::Dictionary(Primitive<int8_t>("c", {0, 1, nullopt, 1, 0}),
                                        testing::Strings("u", values))
                        .Named("enum"));
  columns.push_back(testing::Dictionary(Primitive<uint32_t>("I", {2, 2, 1, 0, nullopt}),
                                        testing::Strings("u", values), true)
                        .Named("ordered"));
  columns.push_back(testing::Dictionary(Primitive<int64_t>("l", {0, 0, 1, 1, 2}),
                                        Primitive<double>("g", {0.5, nullopt, 2.5}))
                        .Named("doubles"));
  columns.push_back(testing::Dictionary(Primitive<uint16_t>("S", {1, 0, 1, 0, 1}),
                                        testing::Views("vu", {"short", "a long view value"}))
                        .Named("views"));
  TestArray items =
      testing::Dictionary(Primitive<int16_t>("s", {0, 2, 1}), testing::Strings("u", values))
          .Named("item");
  columns.push_back(testing::List("+l", std::move(items), {1, 0, 2, nullopt, 0}).Named("tags"));
  std::vector<TestArray> fields;
  fields.push_back(testing::Dictionary(Primitive<uint8_t>("C", {1, 0, 1, 0, 1}),
                                       testing::Strings("z", {"x", "y"}))
                       .Named("code"));
  columns.push_back(testing::Struct(std::move(fields)).Named("wrapped"));
  return Batch(std::move(columns));
}

TestArray ManyRows(int n) {
  std::vector<std::optional<int64_t>> ints;
  std::vector<std::optional<std::string>> strings;
  std::vector<std::optional<bool>> bools;
  for (int i = 0; i < n; ++i) {
    ints.push_back(i % 7 == 0 ? std::nullopt : std::optional<int64_t>(i * 3));
    strings.push_back(std::string("value ") + std::to_string(i % 10));
    bools.push_back(i % 3 == 0 ? std::nullopt : std::optional<bool>(i % 2 == 0));
  }
  std::vector<TestArray> columns;
  columns.push_back(Primitive<int64_t>("l", ints).Named("n"));
  columns.push_back(testing::Strings("u", strings).Named("s"));
  columns.push_back(testing::Bools(bools).Named("b"));
  return Batch(std::move(columns));
}

TestArray ZeroColumns(int64_t length) {
  TestArray batch = Batch({});
  batch.length = length;
  return batch;
}

// Encodes `batches` (all with the schema of the first) or says why not.
// With `schema_only`, the first batch only gives the schema and none is written.
bool Encode(const std::vector<TestArray>& batches, bool schema_only, const WriteOptions& options,
            std::string* out) {
  SchemaOwner schema;
  testing::ExportSchema(batches.at(0), schema.out());
  StringOutputStream stream;
  auto writer = Writer::Open(&stream, *schema.get(), options);
  if (!writer.ok()) {
    std::fprintf(stderr, "Writer::Open: %s\n", writer.status().ToString().c_str());
    return false;
  }
  for (const TestArray& b : batches) {
    if (schema_only) break;
    ArrayOwner array;
    testing::ExportArray(b, array.out());
    Status st = (*writer)->WriteBatch(*array.get());
    if (!st.ok()) {
      std::fprintf(stderr, "WriteBatch: %s\n", st.ToString().c_str());
      return false;
    }
  }
  Status st = (*writer)->Close();
  if (!st.ok()) {
    std::fprintf(stderr, "Close: %s\n", st.ToString().c_str());
    return false;
  }
  *out = stream.bytes();
  return true;
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  struct Case {
    std::string name;
    std::vector<TestArray> batches;
    bool stream_only = false;
    bool schema_only = false;
  };
  std::vector<Case> cases{
      {"primitives", {Primitives(), Primitives()}},
      {"variable", {VariableLength()}},
      {"nested", {Nested()}},
      {"deep", {Deep(), Deep()}},
      {"dictionaries",
       {Dictionaries({"red", "green", nullopt}), Dictionaries({"red", "green", nullopt})}},
      {"dictionaries_replaced",
       {Dictionaries({"red", "green", "blue"}), Dictionaries({"cyan", "magenta", nullopt}),
        Dictionaries({"red", "green", "blue"})},
       true},
      {"empty_batches",
       {testing::Slice(Primitives(), 0, 0), Primitives(), testing::Slice(Primitives(), 0, 0)}},
      {"empty_variable", {testing::Slice(VariableLength(), 0, 0)}},
      {"empty_nested", {testing::Slice(Nested(), 0, 0)}},
      {"schema_only_primitives", {Primitives()}, false, true},
      {"schema_only_dictionaries", {Dictionaries({"a"})}, false, true},
      {"zero_columns", {ZeroColumns(3), ZeroColumns(0)}},
      {"zero_columns_no_batches", {ZeroColumns(0)}, false, true},
      {"sliced_primitives", {testing::Slice(Primitives(), 3, 2)}},
      {"sliced_variable", {testing::Slice(VariableLength(), 1, 5)}},
      {"sliced_nested", {testing::Slice(Nested(), 1, 3)}},
      {"sliced_dictionaries", {testing::Slice(Dictionaries({"a", "b", "c"}), 2, 3)}},
      {"many_rows", {ManyRows(300), ManyRows(17)}},
  };
  int written = 0;
  for (const Case& c : cases) {
    for (Format format : {Format::kStream, Format::kFile}) {
      if (c.stream_only && format == Format::kFile) continue;
      for (Compression compression :
           {Compression::kNone, Compression::kLz4Frame, Compression::kZstd}) {
        std::string bytes;
        if (!Encode(c.batches, c.schema_only, {format, compression}, &bytes)) {
          std::fprintf(stderr, "cannot encode %s\n", c.name.c_str());
          return 1;
        }
        std::string path = dir + "/" + c.name + (format == Format::kFile ? "-file" : "-stream") +
                           (compression == Compression::kNone       ? ""
                            : compression == Compression::kLz4Frame ? "-lz4"
                                                                    : "-zstd") +
                           ".arrow";
        std::FILE* f = std::fopen(path.c_str(), "wb");
        if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
            std::fclose(f) != 0) {
          std::fprintf(stderr, "cannot write %s\n", path.c_str());
          return 1;
        }
        ++written;
      }
    }
  }
  std::printf("%d inputs in %s\n", written, dir.c_str());
  return 0;
}

}  // namespace
}  // namespace dux::arrow_ipc::fuzz

int main(int argc, char** argv) { return dux::arrow_ipc::fuzz::Main(argc, argv); }
