// Test support: Arrow C Data arrays built by hand for every type the codec handles, and a
// rendering of arrays as text that compares logical values (slots, nulls, nesting) rather
// than physical layout.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"

namespace dux::arrow_ipc::testing {

/// One node of an array and its type, owning every byte; exported as C Data copies.
struct TestArray {
  std::string format;
  std::string name;
  int64_t flags = ARROW_FLAG_NULLABLE;
  std::vector<std::pair<std::string, std::string>> metadata;
  int64_t length = 0;
  int64_t null_count = 0;
  int64_t offset = 0;
  std::vector<std::optional<std::vector<uint8_t>>> buffers;  // nullopt: a null pointer
  std::vector<TestArray> children;
  std::shared_ptr<TestArray> dictionary;

  TestArray&& Named(std::string n) && {
    name = std::move(n);
    return std::move(*this);
  }
};

/// Validity bitmap from `valid`; nullopt when all are valid.
std::optional<std::vector<uint8_t>> Bitmap(const std::vector<bool>& valid);

template <typename T>
TestArray Primitive(std::string format, const std::vector<std::optional<T>>& values) {
  TestArray a;
  a.format = std::move(format);
  a.length = static_cast<int64_t>(values.size());
  std::vector<bool> valid;
  std::vector<uint8_t> data(values.size() * sizeof(T));
  for (size_t i = 0; i < values.size(); ++i) {
    valid.push_back(values[i].has_value());
    if (values[i]) std::memcpy(data.data() + i * sizeof(T), &*values[i], sizeof(T));
    if (!values[i]) ++a.null_count;
  }
  a.buffers = {Bitmap(valid), data};
  return a;
}

/// Fixed-width values given as raw bytes per slot (decimals, intervals, w:N).
TestArray FixedBytes(std::string format, int width,
                     const std::vector<std::optional<std::string>>& values);
TestArray Bools(const std::vector<std::optional<bool>>& values);
TestArray Nulls(int64_t length);
/// "u", "z" (int32 offsets) or "U", "Z" (int64 offsets).
TestArray Strings(std::string format, const std::vector<std::optional<std::string>>& values);
/// "vu" or "vz": long values go to two data buffers alternately.
TestArray Views(std::string format, const std::vector<std::optional<std::string>>& values);
/// "+l", "+L" or "+m" from per-slot child counts (nullopt: a null list).
TestArray List(std::string format, TestArray child, const std::vector<std::optional<int>>& sizes);
TestArray FixedSizeList(int size, TestArray child, const std::vector<bool>& valid);
TestArray Struct(std::vector<TestArray> children, const std::vector<bool>& valid = {});
TestArray SparseUnion(const std::vector<int8_t>& ids, std::vector<TestArray> children,
                      const std::vector<int8_t>& type_ids);
TestArray DenseUnion(const std::vector<int8_t>& ids, std::vector<TestArray> children,
                     const std::vector<int8_t>& type_ids, const std::vector<int32_t>& offsets);
/// `indices` (format: the index type) over `values`.
TestArray Dictionary(TestArray indices, TestArray values, bool ordered = false);
/// A copy viewing slots [offset, offset + length) through ArrowArray.offset.
TestArray Slice(TestArray a, int64_t offset, int64_t length);
/// The record batch: a struct with these columns, no validity.
TestArray Batch(std::vector<TestArray> columns);

void ExportSchema(const TestArray& a, ArrowSchema* out);
void ExportArray(const TestArray& a, ArrowArray* out);

/// Text of a schema: formats, names, flags and metadata, recursively.
std::string RenderSchema(const ArrowSchema& schema);
/// Text of a record batch: one line per row, logical values only.
std::string RenderBatch(const ArrowSchema& schema, const ArrowArray& batch);

}  // namespace dux::arrow_ipc::testing
